"""``python -m markit.offline ARCHIVE INPUT...``: what scripts/predict.sh runs (see predict.py)."""

import sys

from .predict import main

sys.exit(main())
