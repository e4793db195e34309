"""``python -m markit.client``: see markit/client/cli.py."""

import sys

from .cli import main

sys.exit(main())
