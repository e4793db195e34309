"""What scripts/demo.sh prints: real photos through a running TorchServe, every input form, a standard
client, the same archive on the KServe runtime, a bad request, the archive's own description, and what the
wrong normalization constants would do; then digits, sentences, weather, words -> n-best pronunciations, and
faces found in photos and digits on pages (each drawn into .run/demo/).

    python -m demo --inference http://127.0.0.1:8080 --management http://127.0.0.1:8081 \\
        --key-file key_file.json --archive model_store/efficientnet_lite0.mar
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import skimage
import torch

from demo import pipelines, vision
from markit.client.catalog import Catalog, NoModelError
from markit.client.client import Reply, TorchServeClient, has_ready_worker
from markit.core.golden import same_json
from markit.core.loading import load_model
from markit.core.unpacked import UnpackedArchive
from markit.offline import LocalArchive, predict
from markit.offline.local_archive import content_type_for
from markit.offline.predict import expand_inputs
from markit.tasks.common.classification import Classification, top_k

PHOTOS = Path(skimage.__file__).parent / "data"
REPO = Path(__file__).resolve().parents[1]
MODEL = "efficientnet_lite0"
FLOAT_NOISE = 1e-5  # CPU kernels sum in a batch-size-dependent order
IMAGENET = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inference", default="http://127.0.0.1:8080")
    parser.add_argument("--management", default="http://127.0.0.1:8081")
    parser.add_argument("--key-file", type=Path, default=Path("key_file.json"))
    parser.add_argument("--archive", type=Path, default=Path("model_store") / f"{MODEL}.mar")
    parser.add_argument("--digit-samples", type=Path, default=REPO / "examples" / "digits" / "build" / "samples",
                        help="held-out digits drawn by examples/digits/train.py")
    args = parser.parse_args(argv)
    client = TorchServeClient(args.inference, args.management, args.key_file)
    for model in (MODEL, "digits", "digits_eager", "minilm_embeddings", "minilm_topics", "weather_seattle", "weather_sf", "g2p_en",
                  "faces", "digit_boxes", "digit_segments", "read_number", "phonemes", "forecast"):
        wait_until_ready(client, model)
    describe(client)
    served = classify_photos(client)
    other_forms(client)
    standard_client(args.inference, client, served)
    second_engine(args.archive, served)
    bad_request(client)
    wrong_constants(args.archive, served)
    digits(client, args.archive.parent / "digits.mar", args.digit_samples)
    sentences(client)
    weather(client)
    pronunciations(client)
    vision.faces(client)
    vision.digit_pages(client)
    pipelines.pipelines(client)
    return 0


PRONOUNCE = ["read", "live", "record", "kubernetes", "quinoa"]


def pronunciations(client: TorchServeClient) -> None:
    heading("g2p_en: spelling -> n-best ARPAbet by beam search; the search's settings ship in the archive (seed 000)")
    spec = client.describe("g2p_en")["spec"]
    search, quality = spec["search"], spec["metadata"]["quality"]
    print(f"  search {', '.join(f'{k} {v}' for k, v in search.items() if k != 'maxima')}; a request may ask up to "
          f"{search['maxima']}")
    print(f"  greedy = g2p-en's own decoder on {quality['greedy_equals_original_on']} words (checked at build)")
    for mode in ("greedy", f"beam{search['beam_width']}"):
        for words in ("held_out", "seen"):
            rates = quality[f"{words}_{mode}"]
            print(f"  {words:8} {mode:6}  WER {rates['wer']:.3f}  PER {rates['per']:.3f}  n-best WER {rates['nbest_wer']:.3f}")
    reply = client.predict_json("g2p_en", {"text": PRONOUNCE, "num_candidates": 3})
    for result in reply.body["results"]:
        best = ",  ".join(f"{c['output']} ({c['log_prob']:.2f})" for c in result["candidates"])
        print(f"  {result['input']:<11} {best}")
    print("  what the beam width changes (record: the noun R EH1 K ER0 D is the dictionary's other reading):")
    for width in (1, 3, 8, 16):
        found = client.predict_json("g2p_en", {"text": "record", "beam_width": width, "num_candidates": width}).body
        outputs = [c["output"] for c in found["candidates"]]
        noun = f"at rank {outputs.index('R EH1 K ER0 D') + 1}" if "R EH1 K ER0 D" in outputs else "not among them"
        print(f"    beam_width {width:>2}: {len(outputs)} candidates, best {outputs[0]!r}, the noun {noun}")
    beyond = client.predict_json("g2p_en", {"text": "record", "beam_width": 64})
    print(f"  beam_width 64 -> HTTP {beyond.status}: {beyond.body['message']}")
    bad = client.predict_bytes("g2p_en", "café".encode(), "text/plain")
    print(f"  'café' -> HTTP {bad.status}: {bad.body['message']}")


def weather(client: TorchServeClient) -> None:
    heading("weather: the application picks a model by what its manifest says it covers (seed 003)")
    catalog = Catalog(client)
    for name in ("weather_seattle", "weather_sf"):
        spec = next(m for m in catalog.models if m.name == name).manifest["spec"]
        quality, guard = spec["metadata"]["quality"], spec["guards"][0]
        print(f"  {name:<16} area {spec['metadata']['capabilities']['area']}, held-out MAE {quality['mae']:.2f} degF "
              f"(persistence {quality['persistence_mae']:.2f}), guard {guard['feature']} in [{guard['min']}, {guard['max']}] "
              f"({guard['policy']})")
    for area, city in (("Seattle", "seattle"), ("San Francisco", "sf"), ("Portland", "seattle")):
        history = json.loads((REPO / f"examples/weather/build/{city}/golden.json").read_text())["temperature_history"]
        try:
            name = catalog.find_best_model(area=area)
        except NoModelError as err:
            print(f"  find_best_model(area={area!r}) -> {err} (no 'close enough' fallback)")
            continue
        reply = client.predict_json(name, {"temperature_history": history})
        if reply.status != 200:
            print(f"  find_best_model(area={area!r}) -> {name}: HTTP {reply.status} {reply.body.get('message')}")
            continue
        forecast = ", ".join(f"{value:.1f}" for value in reply.body["prediction"].values())
        print(f"  find_best_model(area={area!r}) -> {name}: next 3 hours {forecast} degF after {history[-1]} degF")
    hot = client.predict_json("weather_seattle", {"temperature_history": [*history[:-1], 104.0]})
    print(f"  a 104 degF reading -> HTTP {hot.status}: {hot.body['message']}")


SIMILARITY_SENTENCES = [
    "A man is riding a horse.",
    "A man is riding a white horse on an enclosed ground.",
    "A monkey is playing drums.",
    "Someone in a gorilla costume is playing a set of drums.",
    "The stock market fell sharply today.",
]


def sentences(client: TorchServeClient) -> None:
    heading("minilm_embeddings: the archive's own tokenizer; encoder as torch.export; no transformers in the worker")
    reply = client.predict_json("minilm_embeddings", SIMILARITY_SENTENCES)
    vectors = torch.tensor(reply.body["embeddings"])
    manifest = client.describe("minilm_embeddings")
    tokenizer = manifest["spec"]["tokenizer"]
    print(f"  tokenizer {tokenizer['file']} sha256 {tokenizer['sha256'][:12]}…, max_length {tokenizer['max_length']} "
          f"(from {tokenizer['max_length_from']}); {vectors.shape[1]}-d unit vectors; tokens {reply.body['tokens']}")
    similarity = vectors @ vectors.T
    for i, sentence in enumerate(SIMILARITY_SENTENCES):
        others = [(float(similarity[i, j]), SIMILARITY_SENTENCES[j]) for j in range(len(SIMILARITY_SENTENCES)) if j != i]
        score, nearest = max(others)
        print(f"  {sentence:<55} nearest: {nearest} ({score:.2f})")
    long = client.predict_json("minilm_embeddings", " ".join(["horse"] * 400))
    print(f"  a 400-word text -> tokens {long.body['tokens']}, truncated {long.body['truncated']}")
    topics(client)


TOPIC_SENTENCES = [
    "Our team won the championship after a penalty shootout.",
    "The central bank raised interest rates again.",
    "Preheat the oven and knead the dough for ten minutes.",
    "A fox was spotted near the river at dawn.",
    "I don't know what to say.",
]


def topics(client: TorchServeClient) -> None:
    heading("minilm_topics: zero-shot topics; label descriptions embedded at build and shipped in the archive")
    labels = list(client.describe("minilm_topics")["spec"]["zero_shot"]["descriptions"])
    print(f"  topics: {', '.join(labels)}")
    reply = client.predict_json("minilm_topics", TOPIC_SENTENCES)
    for sentence, result in zip(TOPIC_SENTENCES, reply.body["results"], strict=True):
        best = result["predictions"][:2]
        text = ",  ".join(f"{p['label']} {p['probability']:.0%} (cos {p['similarity']:.2f})" for p in best)
        print(f"  {sentence:<55} {text}")


def wait_until_ready(client: TorchServeClient, model: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if has_ready_worker(client.status(model)):
                return
        except Exception:  # noqa: BLE001 - not up yet: key file missing, connection refused, ...
            pass
        time.sleep(1)
    sys.exit(f"{model} did not become READY within {timeout:.0f} s; see logs/ts_log.log and logs/model_log.log")


def heading(text: str) -> None:
    print(f"\n== {text}")


def describe(client: TorchServeClient) -> None:
    manifest = client.describe(MODEL)
    spec = manifest["spec"]
    pre = spec["preprocess"]
    heading(f"GET /models/{MODEL}?customized=true  (the archive's public description)")
    print(f"  {spec['name']} {spec['version']}  task={spec['task']}  identity={manifest['identity'][:19]}…")
    print(f"  {spec['metadata']['description']}")
    print(f"  preprocess: {pre['color_mode']}, resize {pre['resize']} {pre['interpolation']}, crop {pre['center_crop']}, "
          f"mean {pre['mean']}, std {pre['std']}")
    print(f"  labels: {spec['labels']['count']}   files verified by the worker: {manifest['files_verified']} "
          "(their hashes and the provenance stay in the archive's manifest.json)")


def show(reply: Reply, count: int = 3) -> str:
    if reply.status != 200:
        return f"HTTP {reply.status}: {reply.body}"
    return ",  ".join(f"{p['label']} {p['probability']:.1%}" for p in reply.body["predictions"][:count])


def classify_photos(client: TorchServeClient) -> dict[str, Reply]:
    heading(f"POST /predictions/{MODEL}  (raw image bytes; photos shipped with scikit-image)")
    served = {}
    for name in ("chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg"):
        reply = client.predict_bytes(MODEL, (PHOTOS / name).read_bytes(), "image/png" if name.endswith("png") else "image/jpeg")
        served[name] = reply
        print(f"  {name:<14} -> {show(reply)}")
    return served


def standard_client(inference: str, client: TorchServeClient, served: dict[str, Reply]) -> None:
    """tritonclient on its defaults (binary tensors), as an application that speaks the Open Inference Protocol would."""
    import numpy as np
    import tritonclient.http as triton

    heading(f"a standard client: tritonclient on its defaults (binary tensors) -> POST /v2/models/{MODEL}/infer")
    names = ("chelsea.png", "coffee.png")
    photos = triton.InferInput("image", [len(names)], "BYTES")
    photos.set_data_from_numpy(np.array([(PHOTOS / name).read_bytes() for name in names], dtype=np.object_))
    headers = {"Authorization": f"Bearer {client.token('inference')}"}
    result = triton.InferenceServerClient(inference.split("://", 1)[-1]).infer(MODEL, [photos], headers=headers)
    for name, element in zip(names, result.as_numpy("answer"), strict=True):
        answer = json.loads(element)
        same = same_json(answer["predictions"], served[name].body["predictions"], 1e-5)
        print(f"  {name:<14} -> {show(Reply(200, answer, {}), 1)}   (the /predictions answer: {'same' if same else 'DIFFERENT'})")


def second_engine(archive: Path, served: dict[str, Reply]) -> None:
    """The same archive on the KServe runtime (no Java): /predictions, tritonclient's typed outputs, the kserve SDK over gRPC."""
    import tempfile

    from harness import KServeRuntimeProcess

    heading(f"the same {archive.name} on the KServe runtime (python -m markit.engines.kserve: kserve, in process, no Java)")
    with tempfile.TemporaryDirectory(prefix="demo-kserve-") as scratch:
        store = Path(scratch) / "store"
        store.mkdir()
        (store / archive.name).symlink_to(archive.resolve())
        with KServeRuntimeProcess(store, Path(scratch) / "runtime") as runtime:
            started = time.monotonic()
            runtime.wait_ready()
            print(f"  ready in {time.monotonic() - started:.1f} s: archive verified, golden examples replayed")
            for name, reply in served.items():
                answer = runtime.client.predict_bytes(MODEL, (PHOTOS / name).read_bytes(), content_type_for(PHOTOS / name))
                same = answer.status == 200 and same_json(answer.body, reply.body, FLOAT_NOISE)
                print(f"  {name:<14} -> {show(answer, 1)}   (TorchServe's answer: {'same' if same else 'DIFFERENT'})")
            coffee = (PHOTOS / "coffee.png").read_bytes()
            print("  tritonclient, typed outputs label BYTES + probability FP32 ->  " + typed_labels(runtime, coffee))
            print("  the kserve SDK over gRPC (InferenceGRPCClient)             ->  " + grpc_labels(runtime, coffee))


def typed_labels(runtime, photo: bytes) -> str:
    import numpy as np
    import tritonclient.http as triton

    value = triton.InferInput("image", [1], "BYTES")
    value.set_data_from_numpy(np.array([photo], dtype=np.object_))
    result = triton.InferenceServerClient(runtime.url().split("://", 1)[-1]).infer(
        MODEL, [value], headers={"Authorization": f"Bearer {runtime.token()}"})
    labels = [label if isinstance(label, str) else label.decode() for label in result.as_numpy("label")[0]]
    return ",  ".join(f"{label} {p:.1%}" for label, p in zip(labels[:3], result.as_numpy("probability")[0][:3], strict=True))


def grpc_labels(runtime, photo: bytes) -> str:
    import asyncio

    from kserve import InferenceGRPCClient, InferInput, InferRequest

    async def ask():
        client = InferenceGRPCClient(runtime.grpc_address)
        try:
            request = InferRequest(MODEL, [InferInput("image", [1], "BYTES", data=[photo])])
            return await client.infer(request, headers=[("authorization", f"Bearer {runtime.token()}")])
        finally:
            await client.close()

    outputs = {output.name: output.as_numpy() for output in asyncio.run(ask()).outputs}
    labels = [label.decode() if isinstance(label, bytes) else label for label in outputs["label"][0]]
    return ",  ".join(f"{label} {p:.1%}" for label, p in zip(labels[:3], outputs["probability"][0][:3], strict=True))


def other_forms(client: TorchServeClient) -> None:
    coffee = (PHOTOS / "coffee.png").read_bytes()
    heading("the same photo as a multipart form field and as base64 JSON, with top_k")
    form = client.predict_form(MODEL, {"image": ("coffee.png", coffee, "image/png")}, {"top_k": "2"})
    print(f"  multipart image=@coffee.png top_k=2   -> {show(form)}")
    print(f"  JSON {{\"image\": <base64>, \"top_k\": 1}}  -> {show(client.predict_base64(MODEL, coffee, top_k=1))}")


def bad_request(client: TorchServeClient) -> None:
    heading("bad input gets a 4xx naming the problem; the worker keeps serving")
    reply = client.predict_bytes(MODEL, b"this is not a photo", "image/jpeg")
    print(f"  'this is not a photo' -> HTTP {reply.status} {reply.body.get('type')}: {reply.body.get('message')}")
    after = client.predict_bytes(MODEL, (PHOTOS / "chelsea.png").read_bytes(), "image/png")
    print(f"  next request          -> HTTP {after.status}: {show(after, 1)}")


def wrong_constants(mar: Path, served: dict[str, Reply]) -> None:
    heading("why the constants travel with the model: same weights, ImageNet's mean/std instead of the archive's")
    print(f"  {'photo':<14} {'served (archive constants)':<30} {'offline, archive constants':<30} offline, ImageNet constants")
    with LocalArchive(mar) as local:
        archive = UnpackedArchive.open(local.directory)
        model = load_model(archive.directory, archive.spec.model).forward
        rule = Classification.of(archive.labels(), archive.spec.postprocess)
        right = archive.spec.preprocess
        for name in ("chelsea.png", "coffee.png"):
            data = (PHOTOS / name).read_bytes()
            with torch.inference_mode():
                pixels = archive.spec.budgets.pixels
                offline = [top_k(model(pre.apply(data, pixels)[None])[0], rule, 1)[0]
                           for pre in (right, right.model_copy(update=IMAGENET))]
            cells = [served[name].body["predictions"][0], *offline]
            text = [f"{p['label']} {p['probability']:.1%}" for p in cells]
            print(f"  {name:<14} {text[0]:<30} {text[1]:<30} {text[2]}")


def digits(client: TorchServeClient, mar: Path, samples: Path) -> None:
    heading("digits: the model's own preprocess/postprocess; the forward shipped as torch.export and as eager")
    manifest = client.describe("digits")
    metadata = manifest["spec"]["metadata"]
    print(f"  held-out accuracy {metadata['test_accuracy']:.1%} (8x8 arrays), {metadata['test_accuracy_png']:.1%} "
          f"(the same digits sent as PNG drawings); conversion max |export - eager| = "
          f"{manifest['spec']['model']['conversion']['max_abs_diff']:g}")
    inputs = sorted(samples.iterdir())
    print(f"  {'input':<22} {'digits (export)':<22} digits_eager")
    for path in inputs[:8]:
        cells = [_digit(_send(client, name, path)) for name in ("digits", "digits_eager")]
        print(f"  {path.name:<22} {cells[0]:<22} {cells[1]}")
    refused = client.predict_json("digits", [[1, 2]])
    print(f"  [[1, 2]] -> HTTP {refused.status}: {refused.body['message']}")
    heading(f"./scripts/predict.sh {mar} {samples}  (offline: the archive's handler, no server)")
    offline = list(predict(mar, expand_inputs([samples]), batch_size=8))
    served = [_send(client, "digits", Path(line.input)) for line in offline]
    identical = sum((line.status, line.response) == (reply.status, reply.body) for line, reply in zip(offline, served, strict=True))
    equal = sum(line.status == reply.status and same_json(reply.body, line.response, FLOAT_NOISE)
                for line, reply in zip(offline, served, strict=True))
    print(f"  {len(offline)} inputs: {equal} offline answers equal to the served ones, {identical} bit-identical "
          f"(the rest differ only in float rounding, ≤ {FLOAT_NOISE:g}, because TorchServe batched them differently)")


def _send(client: TorchServeClient, model: str, path: Path) -> Reply:
    return client.predict_bytes(model, path.read_bytes(), content_type_for(path))


def _digit(reply: Reply) -> str:
    if reply.status != 200:
        return f"HTTP {reply.status}"
    return f"{reply.body['result']['digit']} ({reply.body['result']['probability']:.1%})"


if __name__ == "__main__":
    sys.exit(main())
