"""``python -m diagnose``: the same as the ``diagnose`` command."""

import sys

from .cli import main

if __name__ == "__main__":  # not when a worker process (--jobs) imports this module
    sys.exit(main())
