"""The demo's pipelines: several archives answering as one model, and a failing step named in the answer."""

from __future__ import annotations

from pathlib import Path

from markit.client.client import TorchServeClient

__all__ = ["pipelines"]

REPO = Path(__file__).resolve().parents[1]


def pipelines(client: TorchServeClient) -> None:
    print("\n== pipelines: several archives served as one model, in one worker (docs/pipelines.md)")
    steps = client.describe("read_number")["steps"]
    print("  read_number = " + " -> ".join(f"{name} ({step['name']}, pinned {step['identity'][:19]}…)" for name, step in steps.items()))
    page_path = sorted((REPO / "examples" / "read_number" / "build" / "golden").glob("page_*.png"))[0]
    reply = client.predict_bytes("read_number", page_path.read_bytes(), "image/png")
    digits = ", ".join(f"{d['digit']} ({d['probability']:.2f}, the detector said {d['detector_label']})" for d in reply.body["digits"])
    print(f"  {page_path.name} -> HTTP {reply.status}: number {reply.body['number']!r}: {digits}")
    refused = client.predict_bytes("read_number", b"not a page", "application/octet-stream")
    print(f"  a body that is not an image -> HTTP {refused.status}: step {refused.body.get('step')!r} (its status "
          f"{refused.body.get('step_status')}): {refused.body['message'][:140]}")
    said = client.predict_bytes("phonemes", b"Kubernetes reads the quinoa recipe aloud.", "text/plain")
    print(f"  phonemes, 'Kubernetes reads the quinoa recipe aloud.' -> HTTP {said.status}:")
    for word in said.body["words"]:
        print(f"    {word['word']:<11} {word['pronunciation']:<24} ({word['source']})")
    numbers = client.predict_bytes("phonemes", b"I have 42 apples", "text/plain")
    print(f"  'I have 42 apples' -> HTTP {numbers.status}: {numbers.body['message']}")
    history = [44.9, 44.8, 44.8, 45.4, 46.8, 48.2, 49.7, 50.8, 51.4, 51.8, 51.7, 51.0, 49.4, 48.7, 48.2, 47.7, 47.3, 46.9,
               46.6, 46.1, 45.8, 45.6, 45.3, 45.1]
    for area in ("Seattle", "Portland"):  # the history is a Seattle one: within its forecaster's guards
        reply = client.predict_json("forecast", {"area": area, "features": {"temperature_history": history}})
        said = (f"{reply.body['forecaster']}'s forecast {reply.body['forecast']['prediction']}" if reply.ok
                else reply.body["message"])
        print(f"  forecast for {area} -> HTTP {reply.status}: {said}")
