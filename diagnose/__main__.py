"""``python -m diagnose``: the same as the ``diagnose`` command."""

import sys

from .cli import main

sys.exit(main())
