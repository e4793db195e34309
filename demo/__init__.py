"""What ``./scripts/demo.sh`` shows, against a running TorchServe: ``python -m demo`` (see ``walkthrough``).

Lives in the checkout, not in the installed package: it needs the examples' data (scikit-image's
photos, the digits samples) and imports torch and the builder, which the serving image does not install.
"""
