"""Model choice by capability: the selection rules, on manifests as describe returns them."""

from __future__ import annotations

import pytest

from markit.client.catalog import Catalog, NoModelError


class Manifests:
    """Stands in for the two calls the catalog makes (list and describe); the real server is in the integration tests."""

    def __init__(self, manifests: dict) -> None:
        self.manifests = manifests

    def models(self) -> list[str]:
        return list(self.manifests)

    def describe(self, name: str) -> dict:
        return self.manifests[name]


def manifest(area, mae, version="1.1"):
    return {"schema_version": version, "spec": {"metadata": {"capabilities": {"area": area, "horizon_hours": [1, 2, 3]},
                                                             "quality": {"mae": mae}}}}


def test_best_by_mae_among_those_that_cover():
    catalog = Catalog(Manifests({"a": manifest(["Seattle"], 0.5), "b": manifest(["Seattle", "Tacoma"], 0.3),
                                 "c": manifest(["Portland"], 0.1)}))
    assert catalog.find_best_model(area="Seattle") == "b"
    assert catalog.find_best_model(area="Tacoma", horizon_hours=2) == "b"
    with pytest.raises(NoModelError, match="no served model covers area=Seattle, horizon_hours=6"):
        catalog.find_best_model(area="Seattle", horizon_hours=6)


def test_unknown_schema_major_is_skipped_and_reported():
    catalog = Catalog(Manifests({"new": manifest(["Seattle"], 0.1, version="3.0"), "old": manifest(["Seattle"], 0.9)}))
    assert catalog.find_best_model(area="Seattle") == "old"
    assert "schema_version '3.0'" in catalog.skipped["new"]


def test_1x_and_2x_manifests_are_read_alike():
    catalog = Catalog(Manifests({"two": manifest(["Seattle"], 0.2, version="2.0"), "one": manifest(["Seattle"], 0.9)}))
    assert catalog.find_best_model(area="Seattle") == "two" and not catalog.skipped
