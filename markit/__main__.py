"""``python -m markit COMMAND``: the ``markit`` command line (markit.cli)."""

import sys

from .cli import main

if __name__ == "__main__":  # not when a measuring process (multiprocessing's spawn) imports this module again
    sys.exit(main())
