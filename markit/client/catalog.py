"""Choosing a served model by what its manifest says it can do (seed 003's shared interface).

    catalog = Catalog(client)                       # reads every served model's manifest (describe)
    name = catalog.find_best_model(area="Seattle")   # the best by quality.mae among those that cover it

A model qualifies when its ``metadata.capabilities`` lists the asked value for every asked key; the
best is the one with the lowest ``metadata.quality.mae``. When none qualifies the answer is an error
naming what was asked (``no served model covers area=Portland``), never a "close enough" model.
Manifests of a schema major version this client does not know are skipped and reported.

    python -m markit.client.catalog --key-file key_file.json area=Seattle
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from ..errors import MarkitError, UsageError, report
from .client import TorchServeClient, connection_problem

__all__ = ["SUPPORTED_MAJORS", "Catalog", "NoModelError", "ServedModel"]

SUPPORTED_MAJORS = ("1", "2")  # spec.metadata (capabilities, quality) is the same in both


class NoModelError(MarkitError):
    """No served model declares the asked capabilities: exit 1."""


@dataclass(frozen=True)
class ServedModel:
    name: str
    manifest: Mapping[str, Any]

    @property
    def capabilities(self) -> Mapping[str, Any]:
        value = self.manifest["spec"].get("metadata", {}).get("capabilities", {})
        return value if isinstance(value, dict) else {"tasks": value}

    @property
    def mae(self) -> float:
        return float(self.manifest["spec"].get("metadata", {}).get("quality", {}).get("mae", float("inf")))

    def covers(self, wanted: Mapping[str, Any]) -> bool:
        return all(_lists(self.capabilities.get(key), value) for key, value in wanted.items())


@dataclass
class Catalog:
    client: TorchServeClient
    models: list[ServedModel] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in self.client.models():
            manifest = self.client.describe(name)
            version = str(manifest.get("schema_version", ""))
            if version.split(".")[0] not in SUPPORTED_MAJORS:
                reads = " and ".join(f"{major}.x" for major in SUPPORTED_MAJORS)
                self.skipped[name] = f"manifest schema_version {version!r}; this client reads {reads}"
                continue
            self.models.append(ServedModel(name, manifest))

    def find_best_model(self, **wanted: Any) -> str:
        covering = [model for model in self.models if model.covers(wanted)]
        if not covering:
            asked = ", ".join(f"{key}={value}" for key, value in wanted.items())
            raise NoModelError(f"no served model covers {asked}")
        return min(covering, key=lambda model: (model.mae, model.name)).name


def _lists(declared: Any, value: Any) -> bool:
    return value in declared if isinstance(declared, list) else declared == value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("wanted", nargs="+", metavar="KEY=VALUE", help="capabilities, e.g. area=Seattle horizon_hours=3")
    parser.add_argument("--inference", default="http://127.0.0.1:8080")
    parser.add_argument("--management", default="http://127.0.0.1:8081")
    parser.add_argument("--key-file", type=Path, default=Path("key_file.json"))
    args = parser.parse_args(argv)
    wanted = {}
    for item in args.wanted:
        key, _, value = item.partition("=")
        wanted[key] = int(value) if value.isdigit() else value
    try:
        catalog = Catalog(TorchServeClient(args.inference, args.management, args.key_file))
        for name, reason in catalog.skipped.items():
            print(f"skipped {name}: {reason}", file=sys.stderr)
        print(catalog.find_best_model(**wanted))
    except MarkitError as err:
        return report("catalog", err)
    except requests.RequestException as err:
        return report("catalog", UsageError(connection_problem(err)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
