"""The ground truth and the measures behind the digit detector and segmenter examples: canvases whose boxes and
masks come from the drawn ink, train/held-out pages that share no digit sample, and mAP@0.5, NMS and mIoU
checked on cases small enough to work out by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import REPO, import_file

canvases = import_file(REPO / "examples" / "digit_boxes" / "canvases.py", "digit_canvases_for_tests")
boxes_eval = import_file(REPO / "examples" / "digit_boxes" / "evaluate.py", "digit_boxes_evaluate_for_tests")
segments_eval = import_file(REPO / "examples" / "digit_segments" / "evaluate.py", "digit_segments_evaluate_for_tests")


@pytest.fixture(scope="module")
def pages() -> list:
    return canvases.make_canvases("train", 60, seed=5) + canvases.make_canvases("heldout", 60, seed=6)


# -- canvases ------------------------------------------------------------------------------------------------

def test_canvas_layout(pages):
    counts = [len(page.labels) for page in pages]
    assert min(counts) >= 1 and max(counts) <= canvases.MAX_DIGITS and len(set(counts)) > 2
    for page in pages:
        assert page.image.shape == page.mask.shape == (canvases.HEIGHT, canvases.WIDTH)
        assert page.image.dtype == page.mask.dtype == np.uint8
        assert page.boxes.dtype == np.float32 and page.boxes.shape == (len(page.labels), 4)
        assert page.labels.dtype == np.int64 and set(page.labels.tolist()) <= set(range(10))
        heights = page.boxes[:, 3] - page.boxes[:, 1]
        assert (heights >= 8).all() and (heights <= canvases.MAX_SIDE).all()


def test_boxes_are_tight_around_each_digits_ink(pages):
    for page in pages:
        for (x1, y1, x2, y2), digit in zip(page.boxes.astype(int), page.labels, strict=True):
            rows, cols = np.nonzero(page.mask[y1:y2, x1:x2] == digit + 1)
            assert (rows.min(), cols.min(), rows.max() + 1, cols.max() + 1) == (0, 0, y2 - y1, x2 - x1)


def test_masks_agree_with_boxes(pages):
    """Every ink pixel lies in exactly one box, of its own digit; boxes never overlap; outside boxes is background."""
    for page in pages:
        owner = np.full(page.mask.shape, -1)
        for (x1, y1, x2, y2), digit in zip(page.boxes.astype(int), page.labels, strict=True):
            assert (owner[y1:y2, x1:x2] == -1).all(), "two boxes overlap"
            owner[y1:y2, x1:x2] = digit
        ink = page.mask > 0
        assert (owner[ink] == page.mask[ink].astype(int) - 1).all()


def test_the_mask_marks_dark_pixels(pages):
    for page in pages:
        assert page.image[page.mask > 0].mean() < page.image[page.mask == 0].mean() - 60


def test_splits_share_no_digit_sample():
    train, heldout = canvases.digit_split("train"), canvases.digit_split("heldout")
    assert len(train.labels) + len(heldout.labels) == 1797 and len(heldout.labels) == 450
    seen = {sample.tobytes() for sample in train.ink}
    assert not any(sample.tobytes() in seen for sample in heldout.ink)
    with pytest.raises(ValueError, match="split"):
        canvases.digit_split("test")


def test_a_seed_gives_the_same_canvases():
    first, again, other = (canvases.make_canvases("heldout", 3, seed) for seed in (9, 9, 10))
    assert all((a.image == b.image).all() and (a.boxes == b.boxes).all() for a, b in zip(first, again, strict=True))
    assert not all(a.image.shape == b.image.shape and (a.image == b.image).all() for a, b in zip(first, other, strict=True))


# -- mAP@0.5 and NMS -----------------------------------------------------------------------------------------

def truth(boxes: list[list[float]], labels: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), torch.tensor(labels, dtype=torch.int64)


def found(boxes: list[list[float]], scores: list[float], labels: list[int]) -> tuple[torch.Tensor, ...]:
    return (torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), torch.tensor(scores), torch.tensor(labels, dtype=torch.int64))


PAGE_A = truth([[0, 0, 10, 20], [30, 30, 50, 60]], [3, 7])
PAGE_B = truth([[5, 5, 25, 35]], [3])


def test_perfect_detections_score_one():
    detections = [found(PAGE_A[0].tolist(), [0.9, 0.8], [3, 7]), found(PAGE_B[0].tolist(), [0.7], [3])]
    assert boxes_eval.mean_average_precision(detections, [PAGE_A, PAGE_B]) == pytest.approx(1.0)


def test_a_missed_object_lowers_the_ap_of_its_class():
    detections = [found(PAGE_A[0].tolist(), [0.9, 0.8], [3, 7]), found([], [], [])]
    assert boxes_eval.mean_average_precision(detections, [PAGE_A, PAGE_B]) == pytest.approx((0.5 + 1.0) / 2)


def test_a_better_scored_false_positive_lowers_the_ap():
    """Class 3: a stray box at 0.95 ranks first; the envelope at recall 0.5 and 1 is then 2/3 -> AP 2/3."""
    detections = [found([[60, 60, 70, 70], *PAGE_A[0].tolist()], [0.95, 0.9, 0.8], [3, 3, 7]), found(PAGE_B[0].tolist(), [0.7], [3])]
    assert boxes_eval.mean_average_precision(detections, [PAGE_A, PAGE_B]) == pytest.approx((2 / 3 + 1.0) / 2)


def test_a_wrong_digit_or_a_loose_box_is_no_hit():
    shifted = [[5, 10, 15, 30], [30, 30, 50, 60]]   # the first overlaps its truth by IoU 50/350
    assert boxes_eval.mean_average_precision([found(shifted, [0.9, 0.8], [3, 7])], [PAGE_A]) == pytest.approx(0.5)
    assert boxes_eval.mean_average_precision([found(PAGE_A[0].tolist(), [0.9, 0.8], [7, 3])], [PAGE_A]) == pytest.approx(0.0)


def test_a_duplicate_counts_once():
    detections = [found([*PAGE_A[0].tolist(), [0, 0, 10, 21]], [0.9, 0.8, 0.85], [3, 7, 3])]
    assert boxes_eval.mean_average_precision(detections, [PAGE_A]) == pytest.approx(1.0)   # the duplicate ranks after the hit
    detections = [found([*PAGE_A[0].tolist(), [0, 0, 10, 21]], [0.9, 0.8, 0.95], [3, 7, 3])]
    assert boxes_eval.mean_average_precision(detections, [PAGE_A]) == pytest.approx(1.0)   # the duplicate is the hit


def test_average_precision_is_the_area_under_the_envelope():
    recall, precision = np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])
    assert boxes_eval.average_precision(recall, precision) == pytest.approx(0.5 * 1.0 + 0.5 * 2 / 3)


def test_nms_suppresses_overlaps_within_a_class_only():
    boxes = torch.tensor([[0, 0, 10, 10], [1, 0, 11, 10], [0, 0, 10, 10], [50, 50, 60, 60]], dtype=torch.float32)
    scores = torch.tensor([0.8, 0.9, 0.7, 0.6])
    classes = torch.tensor([1, 1, 2, 1])
    assert sorted(boxes_eval.class_nms(boxes, scores, classes, 0.5).tolist()) == [1, 2, 3]
    assert boxes_eval.class_nms(boxes[:0], scores[:0], classes[:0], 0.5).tolist() == []


# -- mIoU ----------------------------------------------------------------------------------------------------

def test_class_ious_from_the_confusion_matrix():
    truth_mask = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
    assert segments_eval.class_ious(segments_eval.confusion_matrix(truth_mask, truth_mask)) == pytest.approx(np.ones(11))
    predicted = np.array([[0, 0, 1, 2], [0, 0, 1, 1]])   # one pixel of digit 0 called digit 1
    ious = segments_eval.class_ious(segments_eval.confusion_matrix(truth_mask, predicted))
    assert ious[:3] == pytest.approx([1.0, 3 / 4, 0.0]) and ious[3:] == pytest.approx(np.ones(8))
