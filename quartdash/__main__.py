"""``python -m quartdash``: the same as the ``quartdash`` command."""

import sys

from .cli import main

sys.exit(main())
