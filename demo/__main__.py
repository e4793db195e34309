"""``python -m demo``: see demo/walkthrough.py."""

import sys

from .walkthrough import main

sys.exit(main())
