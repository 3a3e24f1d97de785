"""``python -m quartdash``: the same as the ``quartdash`` command."""

import sys

from quartdash.cli import main

sys.exit(main())
