"""What several tasks share at run time: image decoding and preprocessing, text tokenizing and pooling, top-k."""
