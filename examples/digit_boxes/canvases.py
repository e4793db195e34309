"""Canvases of several real handwritten digits, with their boxes and per-pixel classes, for training and
measuring the digit detector (examples/digit_boxes) and segmenter (examples/digit_segments).

Each canvas is a grayscale page (light background, dark ink, mild noise) holding 1..5 of scikit-learn's
8x8 digits, each upsampled to its own size and placed where it does not touch another digit. The digits'
own samples are split once (stratified, seed 0): a sample drawn on a training canvas never appears on a
held-out canvas, so held-out figures measure handwriting the model has not seen.

Ground truth comes from the same ink that is drawn: a pixel is a digit's ink when the upsampled digit
covers at least ``INK_THRESHOLD`` of full ink there; its box is tight around those pixels and the mask
gives those pixels the class ``digit + 1`` (0 is background).

Nothing here changes global state: every random draw comes from a ``numpy.random.Generator`` seeded by
the caller.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HEIGHT = 96
WIDTH = 96
MIN_SIDE = 16           # a digit's drawn height in pixels, before its ink is trimmed
MAX_SIDE = 40
MAX_DIGITS = 5
INK_THRESHOLD = 0.3     # fraction of full ink from which a pixel counts as the digit's
GAP = 2                 # pixels kept free between two digits' boxes
SPLIT_SEED = 0
HELD_OUT_FRACTION = 0.25
SPLITS = ("train", "heldout")


class Digits(NamedTuple):
    """Digit samples of one split: ink 0..1 as ``[n, 8, 8]`` float32 and labels ``[n]`` int64."""

    ink: np.ndarray
    labels: np.ndarray


class Canvas(NamedTuple):
    """One page: ``image`` uint8 ``[H, W]``; ``boxes`` float32 ``[n, 4]`` as x1, y1, x2, y2 pixel edges
    (the box covers columns x1..x2-1 and rows y1..y2-1); ``labels`` int64 ``[n]`` digits 0-9; ``mask``
    uint8 ``[H, W]``, 0 for background and ``digit + 1`` on each digit's ink."""

    image: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    mask: np.ndarray


def digit_split(split: str) -> Digits:
    """The digit samples of ``split`` ("train" or "heldout"): the same 75/25 stratified split every time."""
    if split not in SPLITS:
        raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
    digits = load_digits()
    indices = np.arange(len(digits.target))
    train, heldout = train_test_split(indices, test_size=HELD_OUT_FRACTION, stratify=digits.target, random_state=SPLIT_SEED)
    chosen = train if split == "train" else heldout
    return Digits((digits.images[chosen] / 16.0).astype(np.float32), digits.target[chosen].astype(np.int64))


def make_canvases(split: str, count: int, seed: int) -> list[Canvas]:
    """``count`` canvases drawn from ``split``'s digit samples; the same ``seed`` gives the same canvases."""
    digits = digit_split(split)
    rng = np.random.default_rng(seed)
    return [make_canvas(digits, rng) for _ in range(count)]


def make_canvas(digits: Digits, rng: np.random.Generator) -> Canvas:
    """One canvas of 1..MAX_DIGITS digits from ``digits``, every draw taken from ``rng``."""
    ink = np.zeros((HEIGHT, WIDTH), np.float32)
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    boxes: list[tuple[int, int, int, int]] = []
    labels: list[int] = []
    for _ in range(int(rng.integers(1, MAX_DIGITS + 1))):
        index = int(rng.integers(len(digits.labels)))
        glyph = upsample(digits.ink[index], rng)
        placed = place(glyph, boxes, rng)
        if placed is None:
            continue
        top, left = placed
        rows, cols = np.nonzero(glyph >= INK_THRESHOLD)
        boxes.append((left + int(cols.min()), top + int(rows.min()), left + int(cols.max()) + 1, top + int(rows.max()) + 1))
        labels.append(int(digits.labels[index]))
        region = (slice(top, top + glyph.shape[0]), slice(left, left + glyph.shape[1]))
        ink[region] = np.maximum(ink[region], glyph)
        mask[region][glyph >= INK_THRESHOLD] = labels[-1] + 1
    image = paint(ink, rng)
    return Canvas(image, np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(labels, np.int64), mask)


def upsample(cells: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An 8x8 digit (ink 0..1) drawn at a random height MIN_SIDE..MAX_SIDE and a slightly narrower width,
    smoothly (bilinear), as handwriting scanned at that size would look."""
    height = int(rng.integers(MIN_SIDE, MAX_SIDE + 1))
    width = max(MIN_SIDE // 2, round(height * float(rng.uniform(0.7, 1.0))))
    resized = Image.fromarray(cells.astype(np.float32), mode="F").resize((width, height), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def place(glyph: np.ndarray, boxes: list[tuple[int, int, int, int]], rng: np.random.Generator,
          attempts: int = 20) -> tuple[int, int] | None:
    """A random (top, left) where ``glyph``'s whole patch keeps GAP pixels from every placed box, or None
    when ``attempts`` random positions all collide (the canvas then holds one digit fewer)."""
    height, width = glyph.shape
    for _ in range(attempts):
        top = int(rng.integers(0, HEIGHT - height + 1))
        left = int(rng.integers(0, WIDTH - width + 1))
        if all(left + width + GAP <= x1 or x2 + GAP <= left or top + height + GAP <= y1 or y2 + GAP <= top
               for x1, y1, x2, y2 in boxes):
            return top, left
    return None


def paint(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ink 0..1 -> uint8 page: a light background (200..250), dark ink (0..70), Gaussian noise (sigma 2..8)."""
    background = float(rng.uniform(200, 250))
    dark = float(rng.uniform(0, 70))
    noise = rng.normal(0.0, float(rng.uniform(2, 8)), ink.shape)
    page = background - ink * (background - dark) + noise
    return np.clip(np.rint(page), 0, 255).astype(np.uint8)
