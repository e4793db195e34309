"""The archive's budgets (markit.core.budgets): read strictly from the manifest, each a 413 naming it."""

from __future__ import annotations

import pytest

from markit.core.budgets import Budgets
from markit.core.errors import ArchiveError, PayloadTooLarge
from markit.core.payload import Payload


@pytest.mark.parametrize(("section", "fragment"), [
    (None, "manifest spec.budgets is missing: this archive predates input budgets; rebuild it"),
    ({"instances": 4}, "request_bytes required"),
    ({"request_bytes": 0}, "not a positive integer ['request_bytes']"),
    ({"request_bytes": True}, "not a positive integer ['request_bytes']"),
    ({"request_bytes": 9, "wishes": 3}, "unknown ['wishes']"),
])
def test_a_manifest_without_valid_budgets_is_refused_at_load(section, fragment):
    with pytest.raises(ArchiveError) as caught:
        Budgets.from_manifest({} if section is None else {"budgets": section})
    assert fragment in str(caught.value)


def test_only_declared_budgets_are_checked():
    budgets = Budgets.from_manifest({"budgets": {"request_bytes": 10, "texts": 2}})
    assert budgets.declared() == {"request_bytes": 10, "texts": 2}
    budgets.check("texts", 2, "the request")
    budgets.check("rows", 10**9, "the request")  # not this task's budget
    with pytest.raises(PayloadTooLarge, match=r"^the request: 3 texts, more than this model's budget of 2 \(budgets.texts\); "
                                              r"split the texts over several requests$"):
        budgets.check("texts", 3, "the request")


def test_request_bytes_counts_raw_and_text_fields_but_not_parsed_json():
    budgets = Budgets(request_bytes=10)
    budgets.check_request(Payload({"body": b"x" * 6, "data": "y" * 4}))
    budgets.check_request(Payload({"body": {"text": "z" * 100}}))  # TorchServe parsed it: max_request_size bounds it
    with pytest.raises(PayloadTooLarge, match=r"the request's input: 11 bytes, more than this model's budget of 10 \(budgets.request_by"):
        budgets.check_request(Payload({"body": bytearray(11)}))
