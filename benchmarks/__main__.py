"""``python -m benchmarks``: what scripts/benchmark.sh runs (see cli.py)."""

import sys

from benchmarks.cli import main

sys.exit(main())
