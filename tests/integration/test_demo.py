"""What ./scripts/demo.sh prints, produced against the test server, so the demo cannot silently rot."""

from __future__ import annotations

import re

import pytest

from demo import walkthrough as demo

pytestmark = pytest.mark.integration


def test_demo_tells_the_whole_story(server, store, capsys):
    code = demo.main(["--inference", server.url("inference"), "--management", server.url("management"),
                      "--key-file", str(server.client.key_file), "--archive", str(store / "efficientnet_lite0.mar")])
    out = capsys.readouterr().out
    assert code == 0
    assert re.search(r"chelsea\.png +-> (tiger cat|tabby|Egyptian cat)", out)
    assert re.search(r"coffee\.png +-> espresso 9\d\.\d%", out)
    assert "HTTP 415 UnsupportedMediaType" in out
    assert re.search(r"coffee\.png +-> espresso 9\d\.\d% +\(the /predictions answer: same\)", out)  # tritonclient's defaults
    assert re.search(r"coffee\.png +-> espresso 9\d\.\d% +\(TorchServe's answer: same\)", out)  # the KServe runtime
    assert "DIFFERENT" not in out
    assert re.search(r"typed outputs label BYTES \+ probability FP32 +-> +espresso 9\d\.\d%", out)
    assert re.search(r"the kserve SDK over gRPC \(InferenceGRPCClient\) +-> +espresso 9\d\.\d%", out)
    assert re.search(r"coffee\.png +espresso 9\d\.\d% +espresso 9\d\.\d% +espresso 7\d\.\d%", out)  # served, offline, ImageNet's constants
    assert "HTTP 422: DigitNet.preprocess refused the input" in out
    counts = re.search(r"(\d+) inputs: (\d+) offline answers equal to the served ones", out)
    assert counts and counts.group(1) == counts.group(2) == "18"
    assert re.search(r"A monkey is playing drums\. +nearest: Someone in a gorilla costume", out)
    assert "a 400-word text -> tokens 256, truncated True" in out
    assert re.search(r"The central bank raised interest rates again\. +finance \d+%", out)
    assert "find_best_model(area='Seattle') -> weather_seattle: next 3 hours" in out
    assert "find_best_model(area='San Francisco') -> weather_sf: next 3 hours" in out
    assert "find_best_model(area='Portland') -> no served model covers area=Portland" in out
    assert re.search(r"a 104 degF reading -> HTTP 422: temperature_history: value 104 is outside the range", out)
    assert "greedy = g2p-en's own decoder on 2992 words" in out
    assert re.search(r"held_out greedy +WER 0\.7\d\d +PER 0\.2\d\d", out)
    assert re.search(r"read +R IY1 D \(-0\.\d\d\), +R EH1 D", out)
    assert re.search(r"beam_width  8: 8 candidates, best 'R IH0 K AO1 R D', the noun at rank 6", out)
    assert "beam_width 64 -> HTTP 400: beam_width must be a whole number from 1 to 32" in out
    assert "'café' -> HTTP 400: the text: 1 symbol(s) outside this model's input symbols: 'é'" in out
    assert re.search(r"page_\d+\.png -> HTTP 200: number '\d+'", out)
    assert "a body that is not an image -> HTTP 415: step 'boxes' (its status 415)" in out
    assert re.search(r"kubernetes +K AH0 B ER1 N AH0 T S +\(g2p\)", out) and re.search(r"the +DH AH0 +\(dictionary\)", out)
    assert "forecast for Seattle -> HTTP 200: seattle's forecast" in out
    assert "forecast for Portland -> HTTP 422: node 'forecast' (switch): the input" in out
