"""``python -m trainruns``: see ``trainruns.cli``."""

import sys

from .cli import main

sys.exit(main())
