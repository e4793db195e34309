"""Task ``semantic_segmentation``: a photo in, the class of every pixel out, compactly (a PNG mask).

``handler.py`` serves it, with ``common/photos.py`` (fitting a photo to the model) (travel in archives);
``build.py`` builds it (build time only)."""
