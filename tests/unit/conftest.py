"""The fast tier: pure functions and single modules, no archive builds and no Java.

A test here that stages an archive, compiles or exports a model to ONNX, or starts TorchServe fails, naming where it belongs:
``tests/build`` (archives built and run in process) or ``tests/integration`` (real TorchServe)."""

from __future__ import annotations

from pathlib import Path

import pytest


def _refuse(what: str, tier: str):
    def refuse(*_args, **_kwargs):
        raise AssertionError(f"the unit tier {what}: move this test to {tier}")
    return refuse


@pytest.fixture(autouse=True)
def _no_builds_and_no_java(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("markit.builder.pipeline.stage", _refuse("builds no archive", "tests/build"))
    for slow in ("_compile", "_export_onnx"):  # AOTInductor, ONNX: the conversions that take seconds to minutes
        monkeypatch.setattr(f"markit.builder.convert.{slow}", _refuse("compiles and exports no model", "tests/build"))
    from harness.torchserve import TorchServeProcess

    start, refuse = TorchServeProcess.start, _refuse("starts no TorchServe", "tests/integration")

    def start_only_a_stand_in(self, *args, **kwargs):  # a test may start a fake executable in its place
        return (refuse if self.torchserve is None else start)(self, *args, **kwargs)

    monkeypatch.setattr(TorchServeProcess, "start", start_only_a_stand_in)


@pytest.fixture(scope="session")
def tiny_mar() -> Path:
    raise AssertionError("the unit tier builds no archive: move this test to tests/build")
