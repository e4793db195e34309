"""``python -m markit.schemas [--check]``: write (or check) manifest.schema.json from the manifest's types."""

import sys

from .generate import main

sys.exit(main())
