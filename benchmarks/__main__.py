"""``python -m benchmarks``: what scripts/benchmark.sh runs (see cli.py)."""

import sys

from .cli import main

sys.exit(main())
