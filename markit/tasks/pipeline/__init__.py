"""Task ``pipeline``: several archives composed by a declared graph into one archive, served in one worker."""
