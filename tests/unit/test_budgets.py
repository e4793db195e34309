"""The archive's budgets (markit.core.budgets): read strictly from the manifest (its typed spec), each a 413 naming it."""

from __future__ import annotations

import pytest

from markit.core.budgets import Budgets
from markit.core.errors import ArchiveError, PayloadTooLarge
from markit.core.payload import Payload
from markit.core.unpacked import UnpackedArchive

from helpers import complete_spec


@pytest.mark.parametrize(("section", "fragment"), [
    (None, "spec.budgets: Field required"),
    ({"instances": 4}, "spec.budgets.request_bytes: Field required"),
    ({"request_bytes": 0}, "spec.budgets.request_bytes: Input should be greater than or equal to 1"),
    ({"request_bytes": True}, "spec.budgets.request_bytes: Input should be a valid integer"),
    ({"request_bytes": 9, "wishes": 3}, "spec.budgets.wishes: Extra inputs are not permitted"),
])
def test_a_manifest_without_valid_budgets_is_refused_at_load(tmp_path, section, fragment):
    spec = {key: value for key, value in complete_spec({"task": "convention"}).items() if key != "budgets"}
    with pytest.raises(ArchiveError) as caught:
        UnpackedArchive(tmp_path, {"spec": spec if section is None else {**spec, "budgets": section}})
    assert fragment in str(caught.value)


def test_only_declared_budgets_are_checked():
    budgets = Budgets(request_bytes=10, texts=2)
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
