"""Metadata that software acts on, against a real TorchServe: guards (reject and flag, counted in
metrics), features validated per request, and choosing a model by capability."""

from __future__ import annotations

import json
import math

import pytest
import requests

from markit.client.catalog import Catalog, NoModelError

from helpers import REPO, concurrently

pytestmark = pytest.mark.integration



@pytest.fixture(scope="module")
def golden(store) -> dict:
    """A held-out Seattle input that examples/weather/train.py (run by the store fixture) wrote."""
    return json.loads((REPO / "examples" / "weather" / "build" / "seattle" / "golden.json").read_text())


def test_forecast_with_units(server, golden):
    history = golden["temperature_history"]
    reply = server.client.predict_json("weather_seattle", golden)
    assert reply.status == 200
    assert set(reply.body["prediction"]) == {"temperature_plus_1h", "temperature_plus_2h", "temperature_plus_3h"}
    assert reply.body["units"]["temperature_plus_1h"] == "degF"
    assert abs(reply.body["prediction"]["temperature_plus_1h"] - history[-1]) < 5
    assert reply.body["warnings"] == []


def test_reject_guard_names_feature_value_and_range(server, golden):
    history = golden["temperature_history"]
    reply = server.client.predict_json("weather_seattle", {"temperature_history": [*history[:-1], 130.0]})
    assert reply.status == 422
    message = reply.body["message"]
    guard = server.client.describe("weather_seattle")["spec"]["guards"][0]
    assert "temperature_history: value 130 is outside the range" in message
    assert f"[{guard['min']}, {guard['max']}]" in message and "policy reject" in message


def test_flag_guard_answers_with_a_warning_and_counts_the_hit(server, golden):
    history = golden["temperature_history"]
    reply = server.client.predict_json("weather_flagged", {"temperature_history": [*history[:-1], 80.0]})
    assert reply.status == 200
    assert reply.body["prediction"]["temperature_plus_1h"]
    assert "temperature_history: value 80 is outside the range [40.0, 75.0]" in reply.body["warnings"][0]
    metrics = requests.get(server.url("metrics") + "/metrics", timeout=10,
                           headers={"Authorization": f"Bearer {server.client.token('inference')}"}).text
    assert any(line.startswith("GuardHits") and "weather_flagged" in line for line in metrics.splitlines()), metrics[-2000:]


def test_rows_with_bad_features_fail_alone(server, golden):
    history = golden["temperature_history"]
    calls = [
        lambda: server.client.predict_json("weather_sf", golden | {"temperature_history": [55.0] * 24}),
        lambda: server.client.predict_json("weather_sf", {"temperature_histroy": history}),
        lambda: server.client.predict_bytes("weather_sf", json.dumps({"temperature_history": [math.nan] * 24}).encode(),
                                            "application/json"),
        lambda: server.client.predict_json("weather_sf", {"temperature_history": history[:10]}),
        lambda: server.client.predict_json("weather_sf", [{"temperature_history": [55.0] * 24}, {"temperature_history": "warm"}]),
        lambda: server.client.predict_json("weather_sf", [{"temperature_history": [55.0] * 24}, {"temperature_history": [60.0] * 24}]),
    ]
    replies = concurrently(calls)
    assert [r.status for r in replies] == [200, 400, 400, 400, 400, 200]
    messages = [r.body.get("message", "") for r in replies]
    assert "temperature_histroy: unknown feature" in messages[1]
    assert "temperature_history: contains NaN or infinity" in messages[2]
    assert "temperature_history: expected shape [24], got [10]" in messages[3]
    assert "rows[1].temperature_history: expected numbers" in messages[4]
    assert len(replies[5].body["predictions"]) == 2


def test_choose_a_model_by_capability(server):
    catalog = Catalog(server.client)
    assert catalog.find_best_model(area="Seattle") == "weather_seattle"
    assert catalog.find_best_model(area="San Francisco", horizon_hours=3) == "weather_sf"
    with pytest.raises(NoModelError, match="no served model covers area=Portland"):
        catalog.find_best_model(area="Portland")
    seattle = next(m for m in catalog.models if m.name == "weather_seattle")
    quality = seattle.manifest["spec"]["metadata"]["quality"]
    assert quality["mae"] < quality["persistence_mae"]


def test_catalog_cli(server, capsys):
    from markit.client.catalog import main

    common = ["--inference", server.url("inference"), "--management", server.url("management"),
              "--key-file", str(server.client.key_file)]
    assert main([*common, "area=San Francisco"]) == 0
    assert capsys.readouterr().out.strip() == "weather_sf"
    assert main([*common, "area=Portland"]) == 1
    assert "no served model covers area=Portland" in capsys.readouterr().err
