from __future__ import annotations

import pytest
import torch

from markit.core.errors import ArchiveError
from markit.tasks.common.classification import Classification, top_k

RULE = Classification(labels=("a", "b", "c", "d"), top_k=3, threshold=0.0)


def test_top_k_is_softmax_sorted():
    logits = torch.tensor([0.0, 2.0, 1.0, -1.0])
    expected = torch.softmax(logits, 0)
    answer = top_k(logits, RULE)
    assert [a["label"] for a in answer] == ["b", "c", "a"]
    assert [a["index"] for a in answer] == [1, 2, 0]
    assert answer[0]["probability"] == pytest.approx(float(expected[1]), abs=1e-6)


def test_request_k_is_bounded_by_archive_k():
    logits = torch.zeros(4)
    assert len(top_k(logits, RULE, k=1)) == 1
    assert len(top_k(logits, RULE, k=10)) == 3


def test_threshold_drops_improbable_labels():
    rule = Classification(labels=RULE.labels, top_k=4, threshold=0.3)
    answer = top_k(torch.tensor([5.0, 4.5, 0.0, 0.0]), rule)
    assert [a["label"] for a in answer] == ["a", "b"]


def test_label_count_mismatch_is_an_archive_error():
    with pytest.raises(ArchiveError, match="3 scores per input but the archive has 4 labels"):
        top_k(torch.zeros(3), RULE)
