"""Task ``object_detection``: a photo in, labelled boxes (and keypoints) in the photo's own pixels out.

``handler.py`` serves it, with ``nms.py`` and ``common/photos.py`` (fitting a photo to the model, mapping
back) (travel in archives); ``build.py`` builds it (build time only)."""
