"""``python -m demo``: see demo/walkthrough.py."""

import sys

from demo.walkthrough import main

sys.exit(main())
