"""``python -m tsclient``: see tsclient/cli.py."""

import sys

from .cli import main

sys.exit(main())
