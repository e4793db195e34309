"""Program formats behind a real TorchServe: the example serves its ONNX program (ONNX Runtime in the
worker), and a worker that cannot run an archive's compiled (AOTInductor) or ONNX program serves its
eager fallback and says why."""

from __future__ import annotations

import pytest

from helpers import png_bytes

pytestmark = pytest.mark.integration


def test_the_example_serves_its_onnx_program(server):
    assert "serving efficientnet_lite0 1.0 (image_classification, onnx model" in server.log_text()


def test_a_worker_that_cannot_run_the_program_serves_the_fallback_and_says_why(server):
    red = png_bytes((220, 20, 30))
    fallback, compiled = (server.client.predict_bytes(name, red, "image/png") for name in ("tiny_fallback", "tiny"))
    assert fallback.status == 200 and compiled.status == 200
    assert fallback.body["predictions"] == compiled.body["predictions"]  # same weights, same answer
    log = server.log_text()
    assert ("not serving the aoti program: the compiled program needs torch 2.99.0, this worker has 2.13.0; "
            "serving the eager model shipped beside it instead") in log
    assert "serving tiny_fallback 1.0 (image_classification, eager model" in log


def test_a_worker_with_an_older_onnxruntime_serves_the_fallback_and_says_why(server):
    red = png_bytes((220, 20, 30))
    fallback, exported = (server.client.predict_bytes(name, red, "image/png") for name in ("tiny_onnx_fallback", "tiny"))
    assert fallback.status == 200 and exported.status == 200
    assert fallback.body["predictions"] == exported.body["predictions"]  # the eager weights, the same answer
    log = server.log_text()
    assert "not serving the onnx program: the ONNX program was verified with onnxruntime 99.0.0, this worker has" in log
    assert "serving tiny_onnx_fallback 1.0 (image_classification, eager model" in log
