"""Task ``image_classification``: an image in, labels with probabilities out (the generic image handler).

``handler.py`` serves it (travels in archives); ``build.py`` builds it (build time only)."""
