"""Throughput and latency of one archive behind a private TorchServe (loopback, token auth on).

    python -m tsclient.benchmark [--spec SPEC.yaml] [--set serving.workers=1] --requests 200 --concurrency 8
    python -m tsclient.benchmark --archive model_store/NAME.mar

Sends a bounded number of requests (and stops after --max-seconds in any case) from a thread pool,
then prints images/s, latency percentiles and the batch sizes TorchServe actually formed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
import zipfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import skimage

from builder import build_archive

from .server import TorchServeProcess

REPO = Path(__file__).resolve().parents[1]
BATCH_LINE = re.compile(r"batch of (\d+) requests")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archive", type=Path, help="an existing .mar (default: build --spec first)")
    parser.add_argument("--spec", type=Path, default=REPO / "examples" / "efficientnet_lite0" / "spec.yaml",
                        help="the spec to build and measure (default: the EfficientNet-Lite0 example)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="build the spec with this override, e.g. --set serving.workers=1 (repeatable)")
    parser.add_argument("--image", type=Path, default=Path(skimage.__file__).parent / "data" / "chelsea.png")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-seconds", type=float, default=300.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-build-") as built:
        if args.archive is None:
            args.archive = build_archive(args.spec, Path(built), progress=lambda _: None, overrides=args.overrides).path
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    with zipfile.ZipFile(args.archive) as archive:
        spec = json.loads(archive.read("manifest.json"))["spec"]
    name, serving = spec["name"], spec["serving"]
    data = args.image.read_bytes()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        store = Path(tmp) / "store"
        store.mkdir()
        shutil.copyfile(args.archive, store / args.archive.name)
        with TorchServeProcess(REPO / "config" / "config.properties", store, Path(tmp) / "ts") as server:
            server.wait_ready([name])
            for _ in range(3):  # warm-up
                server.client.predict_bytes(name, data, "image/png")
            warm_batches = len(BATCH_LINE.findall(server.log_text()))
            latencies, errors, wall = _load(server, name, data, args)
            batches = Counter(int(n) for n in BATCH_LINE.findall(server.log_text())[warm_batches:])
    _report(name, serving, args, latencies, errors, wall, batches)
    return 0 if not errors else 1


def _load(server: TorchServeProcess, name: str, data: bytes, args: argparse.Namespace) -> tuple[list[float], int, float]:
    deadline = time.monotonic() + args.max_seconds

    def one(_: int) -> tuple[float, int]:
        if time.monotonic() > deadline:
            return 0.0, -1
        started = time.perf_counter()
        status = server.client.predict_bytes(name, data, "image/png").status
        return time.perf_counter() - started, status

    started = time.perf_counter()
    with ThreadPoolExecutor(args.concurrency) as pool:
        results = list(pool.map(one, range(args.requests)))
    wall = time.perf_counter() - started
    sent = [(seconds, status) for seconds, status in results if status != -1]
    return [s for s, status in sent if status == 200], sum(1 for _, status in sent if status != 200), wall


def _report(name, serving, args, latencies, errors, wall, batches) -> None:
    done = len(latencies)
    ms = sorted(1000 * s for s in latencies)

    def pct(p: float) -> float:
        return ms[min(len(ms) - 1, int(p / 100 * len(ms)))] if ms else float("nan")

    print(f"{name}: workers={serving['workers']} torch_threads={serving['torch_threads']} batch_size={serving['batch_size']} "
          f"max_batch_delay={serving['max_batch_delay']}ms · {os.cpu_count()} cores")
    print(f"  {done} ok, {errors} failed, concurrency {args.concurrency}, {wall:.1f} s")
    print(f"  throughput {done / wall:.1f} images/s")
    if ms:
        print(f"  latency ms: p50 {pct(50):.0f}  p90 {pct(90):.0f}  p99 {pct(99):.0f}  mean {statistics.fmean(ms):.0f}")
    print("  batches formed: " + ", ".join(f"{count} of {size}" for size, count in sorted(batches.items())))


if __name__ == "__main__":
    sys.exit(main())
