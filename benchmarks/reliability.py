"""The reliability report: ``./scripts/reliability.sh`` (``python -m benchmarks reliability``).

Against one real TorchServe (token auth on) serving an archive of every task:

1. **Bad inputs in real batches**: every probe of ``bad_inputs`` sent together with good requests of
   the same model, so that TorchServe batches them: clear 4xx (a JSON body naming the problem), 5xx,
   good batch-mates harmed (not 200, or not the answer they get alone), mixed batches the model log shows,
   worker restarts (a worker pid that changed).
2. **What a long input costs**: the text model's latency for a 256-token text, a text at its character
   budget and a 10 MB text, and its worker's resident memory before and after.
3. **Workers killed under load**, seen through ``TorchServeClient`` (``benchmarks.fault``).
4. **A soak**: client threads for ``--soak-seconds`` sending good requests to every model and, one in
   ten, a random probe: good requests failed, bad ones answered 4xx / 5xx, worker restarts, RSS growth.
5. **Tampered archives** (``benchmarks.tampering``: member edits and hidden zip entries), a signed one edited
   consistently under the trust policy and an unsigned one under the pin file, given to ``scripts/serve.sh
   start`` and ``scripts/serve_kserve.sh``: each refused on both engines before anything serves, naming the
   entry, with no injected code run.
"""

from __future__ import annotations

import json
import random
import re
import statistics
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.bad_inputs import Probe, probes
from benchmarks.servers import worker_pids
from markit.client import TorchServeClient
from markit.client.cli import content_type_for
from markit.core.golden import same_json
from markit.offline import LocalArchive

__all__ = ["MatrixResult", "SoakResult", "Target", "measure_cost", "measure_huge", "run_matrix", "run_soak", "run_tamper",
           "targets_in"]

TOLERANCE = 1e-4  # a batch sums in another order than one request alone
MATES = 3  # good requests sent with each probe
BATCH_LINE = re.compile(r"batch of (\d+) requests: (\d+) answered, (\d+) refused")


@dataclass(frozen=True)
class Target:
    """One served model: its name, task, a good request (its archive's first golden input) and what the
    regression task declares of its features."""

    model: str
    task: str
    good: bytes
    content_type: str
    features: dict[str, list[int]] = field(default_factory=dict)
    archive: Path | None = None
    budgets: dict[str, int] = field(default_factory=dict)
    v2: dict[str, Any] | None = None  # its first declared v2 input, when its model declares it (convention)

    def probes(self) -> list[Probe]:
        return probes(self.task, self.features, self.v2)


def targets_in(archives: Sequence[Path]) -> list[Target]:
    """A target per archive, from its manifest and golden inputs."""
    found = []
    for path in archives:
        with zipfile.ZipFile(path) as archive:
            spec = json.loads(archive.read("manifest.json"))["spec"]
            golden = spec["golden"][0]["input"]
            good = archive.read(golden)
        features = {f["name"]: list(f["shape"]) for f in spec.get("features", [])}
        v2 = _declared_input(Path(path)) if spec["task"] == "convention" else None
        found.append(Target(spec["name"], spec["task"], good, content_type_for(golden), features, Path(path),
                            dict(spec.get("budgets", {})), v2))
    return found


def _declared_input(path: Path) -> dict[str, Any]:
    """The first v2 input a convention archive's model declares (its class's ``v2_inputs``), as its metadata lists it."""
    with LocalArchive(path) as local:
        return local.opened.batch_core.v2_inputs()[0]


def _clear_4xx(status: int, body: Any) -> bool:
    """A 4xx whose JSON body names the problem (``message``, or KServe's ``error``)."""
    if not 400 <= status < 500 or not isinstance(body, dict):
        return False
    said = body.get("message") or body.get("error")
    return isinstance(said, str) and len(said) > 10


@dataclass
class MatrixResult:
    probes: int = 0
    kinds: set[str] = field(default_factory=set)
    clear: int = 0
    server_errors: list[str] = field(default_factory=list)  # probes answered 5xx
    unclear: list[str] = field(default_factory=list)  # probes answered otherwise (2xx, or a 4xx without a message)
    mates: int = 0
    harmed: list[str] = field(default_factory=list)
    mixed_batches: int = 0
    restarts: int = 0

    def lines(self) -> list[str]:
        rows = [f"bad inputs: {self.probes} probes ({len(self.kinds)} kinds) in batches with {MATES} good requests each",
                f"  clear 4xx naming the problem: {self.clear} of {self.probes}",
                f"  5xx: {len(self.server_errors)}" + "".join(f"\n    {line}" for line in self.server_errors),
                f"  other answers: {len(self.unclear)}" + "".join(f"\n    {line}" for line in self.unclear),
                f"  harmed batch-mates: {len(self.harmed)} of {self.mates}" + "".join(f"\n    {line}" for line in self.harmed),
                f"  batches holding refused and answered requests (model log): {self.mixed_batches}",
                f"  worker restarts: {self.restarts}"]
        return rows

    def misses(self) -> int:
        """Probes not answered with a clear 4xx, harmed batch-mates and worker restarts: each a failure of the report."""
        return self.probes - self.clear + len(self.harmed) + self.restarts


def pids_by_model(client: TorchServeClient, models: Sequence[str]) -> dict[str, set[int]]:
    return {model: set(worker_pids(client, model)) for model in models}


def restarts(before: dict[str, set[int]], after: dict[str, set[int]]) -> int:
    return sum(len(before[model] - after.get(model, set())) for model in before)


def references(client: TorchServeClient, targets: Sequence[Target]) -> dict[str, Any]:
    """Each model's answer to its good request alone."""
    answers = {}
    for target in targets:
        reply = client.predict_bytes(target.model, target.good, target.content_type)
        if reply.status != 200:
            raise RuntimeError(f"{target.model} does not answer its own golden input: HTTP {reply.status} {reply.body}")
        answers[target.model] = reply.body
    return answers


def run_matrix(client: TorchServeClient, targets: Sequence[Target], log_text: Callable[[], str],
               progress: Callable[[str], None] = lambda _: None) -> MatrixResult:
    """Every probe of every target, each with ``MATES`` good requests sent at the same moment."""
    expected = references(client, targets)
    before = pids_by_model(client, [t.model for t in targets])
    mark = len(BATCH_LINE.findall(log_text()))
    result = MatrixResult()
    with ThreadPoolExecutor(max_workers=MATES + 1) as pool:
        for target in targets:
            sent = target.probes()
            progress(f"bad inputs: {target.model} ({target.task}), {len(sent)} probes ...")
            for probe in sent:
                start = threading.Barrier(MATES + 1)

                def send(body: bytes, content_type: str, barrier: threading.Barrier = start, model: str = target.model) -> Any:
                    barrier.wait()
                    return client.predict_bytes(model, body, content_type)

                bad = pool.submit(send, probe.body, probe.content_type)
                mates = [pool.submit(send, target.good, target.content_type) for _ in range(MATES)]
                _record(result, target, probe, bad.result(), [m.result() for m in mates], expected[target.model])
    result.mixed_batches = sum(1 for _, answered, refused in BATCH_LINE.findall(log_text())[mark:]
                               if int(answered) and int(refused))
    result.restarts = restarts(before, pids_by_model(client, [t.model for t in targets]))
    return result


def _record(result: MatrixResult, target: Target, probe: Probe, bad: Any, mates: list[Any], expected: Any) -> None:
    result.probes += 1
    result.kinds.add(probe.kind)
    said = bad.body.get("message") or bad.body.get("error") if isinstance(bad.body, dict) else str(bad.body)[:80]
    line = f"{target.task}: {probe.kind}: HTTP {bad.status} {said}"
    if _clear_4xx(bad.status, bad.body):
        result.clear += 1
    elif bad.status >= 500:
        result.server_errors.append(line)
    else:
        result.unclear.append(line)
    for mate in mates:
        result.mates += 1
        if mate.status != 200 or not same_json(mate.body, expected, TOLERANCE):
            result.harmed.append(f"{target.task}: beside {probe.kind}: HTTP {mate.status}")


def rss_mb(pid: int) -> float:
    """A process's resident memory in MB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure_cost(client: TorchServeClient, model: str, budget_chars: int, repeats: int = 5) -> list[str]:
    """What a 256-token text, a text at the character budget and a 10 MB text cost the text model, each sent
    ``repeats`` times, then the 256-token text again: the median latency, and the worker's resident memory
    after each (the first 256-token round also sets the buffers a full-length batch needs)."""
    pid = min(worker_pids(client, model), default=0)
    sentence = "The meal was delicious and the service friendly. "
    short = (sentence * 60)[:1500]  # ~300 word pieces: truncated to 256, as the long ones are
    stages = [("a 256-token text", short),
              (f"a {budget_chars:,}-character text (its budget)", (sentence * (budget_chars // len(sentence) + 1))[:budget_chars]),
              ("a 10 MB text (over the budget)", (sentence * (10_000_000 // len(sentence) + 1))[:10_000_000]),
              ("the 256-token text again", short)]
    lines = [f"input cost: {model}, the median of {repeats} sequential requests each; the worker's resident memory after"]
    for label, text in stages:
        data = text.encode()
        times, statuses = [], Counter()
        for _ in range(repeats):
            began = time.perf_counter()
            reply = client.predict_bytes(model, data, "text/plain")
            times.append(time.perf_counter() - began)
            statuses[reply.status] += 1
        memory = f", {rss_mb(pid):.0f} MB" if pid else ""
        lines.append(f"  {label}: {statistics.median(times) * 1000:.0f} ms, HTTP " +
                     ", ".join(f"{status} x{n}" for status, n in statuses.items()) + memory)
    return lines


def measure_huge(client: TorchServeClient, target: Target, counts: Sequence[int] = (10_000, 100_000)) -> tuple[list[str], int]:
    """What a KServe v2 request of each of ``counts`` input tensors costs the model of ``target`` (its answer and
    latency), then its good request: a refusal must be a 4xx in well under a second, the good request answered
    as before. The lines, and the misses (a slow or unclear refusal, a good request not answered)."""
    from benchmarks.bad_inputs import many_tensors

    lines, misses = [f"huge requests: KServe v2 bodies of many input tensors to {target.model}, one at a time"], 0
    for count in counts:
        body = many_tensors(count)
        began = time.perf_counter()
        reply = client.predict_bytes(target.model, body, "application/json")
        took = time.perf_counter() - began
        said = reply.body.get("message") or reply.body.get("error") if isinstance(reply.body, dict) else str(reply.body)[:80]
        misses += not (_clear_4xx(reply.status, reply.body) and took < 2.0)
        lines.append(f"  {count:,} tensors ({len(body) / 1e6:.1f} MB): HTTP {reply.status} in {took * 1000:.0f} ms: {str(said)[:140]}")
    began = time.perf_counter()
    good = client.predict_bytes(target.model, target.good, target.content_type)
    misses += good.status != 200
    lines.append(f"  then its golden input: HTTP {good.status} in {(time.perf_counter() - began) * 1000:.0f} ms")
    return lines, misses


@dataclass
class SoakResult:
    seconds: float
    good: int = 0
    good_failed: list[str] = field(default_factory=list)
    bad: int = 0
    bad_statuses: Counter[int] = field(default_factory=Counter)
    restarts: int = 0
    rss: dict[int, tuple[float, float]] = field(default_factory=dict)  # worker pid -> (MB at start, MB at end)

    def lines(self) -> list[str]:
        growth = max((end - start for start, end in self.rss.values()), default=0.0)
        fives = sum(n for status, n in self.bad_statuses.items() if status >= 500)
        fours = sum(n for status, n in self.bad_statuses.items() if 400 <= status < 500)
        return [f"soak: {self.seconds:.0f} s, {self.good + self.bad} requests through TorchServeClient, one in ten bad",
                f"  good requests failed: {len(self.good_failed)} of {self.good}" + "".join(f"\n    {x}" for x in self.good_failed[:10]),
                f"  bad requests: {fours} answered 4xx, {fives} 5xx, {self.bad - fours - fives} other, of {self.bad}",
                f"  worker restarts: {self.restarts}",
                *([f"  worker resident memory: largest growth {growth:+.0f} MB over {len(self.rss)} workers"] if self.rss else [])]

    def misses(self) -> int:
        """Good requests that failed, bad ones answered 5xx, worker restarts."""
        return len(self.good_failed) + sum(n for status, n in self.bad_statuses.items() if status >= 500) + self.restarts


def run_soak(client: TorchServeClient, targets: Sequence[Target], seconds: float, *, clients: int = 4,
             bad_share: float = 0.1, seed: int = 0) -> SoakResult:
    expected = references(client, targets)
    models = [t.model for t in targets]
    before = pids_by_model(client, models)
    start_rss = {pid: rss_mb(pid) for pids in before.values() for pid in pids}
    result = SoakResult(seconds)
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    bad = {target.model: target.probes() for target in targets}  # made once: a v2 body of 10^5 tensors takes a while

    def loop(index: int) -> None:
        rng = random.Random(seed + index)
        while time.monotonic() < deadline:
            target = rng.choice(targets)
            if rng.random() < bad_share:
                probe = rng.choice(bad[target.model])
                reply = client.predict_bytes(target.model, probe.body, probe.content_type)
                with lock:
                    result.bad += 1
                    result.bad_statuses[reply.status] += 1
            else:
                reply = client.predict_bytes(target.model, target.good, target.content_type)
                with lock:
                    result.good += 1
                    if reply.status != 200 or not same_json(reply.body, expected[target.model], TOLERANCE):
                        result.good_failed.append(f"{target.model}: HTTP {reply.status}")

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = pids_by_model(client, models)
    result.restarts = restarts(before, after)
    result.rss = {pid: (start_rss[pid], rss_mb(pid)) for pids in after.values() for pid in pids if pid in start_rss}
    return result


def run_tamper(archive: Path, root: Path) -> tuple[list[str], int]:
    """Each tampered copy of ``archive`` (an image-classification archive: its labels are what some variants
    change; ``benchmarks.tampering``'s member edits and hidden zip entries), a signed copy edited consistently
    under the trust policy, and an unsigned one edited consistently under the pin file alone, given to
    ``scripts/serve.sh start`` and to ``scripts/serve_kserve.sh`` as a deployer would: each must be refused on
    both engines, naming the entry, before anything serves, with no injected code run (its marker file). A
    signed copy left as it is must start and answer. The lines, and the misses (a copy served or its refusal not
    named on an engine, injected code run, the signed copy not served)."""
    from benchmarks.servers import BASE_CONFIG
    from benchmarks.tampering import HIDDEN, TAMPERED, marker_for, members, relabel
    from harness import TorchServeProcess
    from markit.archive.pins import Pins
    from markit.archive.signing import generate_keys, sign_mar
    from markit.archive.verify import verify_mar

    private, public = generate_keys(root / "keys" / "publisher")
    (root / "trust.yaml").write_text(f"signed_by: [{public}]\n", encoding="utf-8")
    signed = root / "signed" / archive.name
    signed.parent.mkdir(parents=True)
    signed.write_bytes(archive.read_bytes())
    sign_mar(signed, private)
    pins = Pins(root / "pins.json", {archive.stem: verify_mar(archive)})  # as build_examples.sh pinned it
    pins.save()
    config = TorchServeProcess(BASE_CONFIG, signed.parent, root / "ts").write_config()
    consistent = members(lambda m, i: relabel(m, i, rehash=True, reidentify=True))
    cases = {variant: (tamper.make, tamper.message, None) for variant, tamper in {**TAMPERED, **HIDDEN}.items()}
    cases["signed, then a label changed with its hash and the identity recomputed"] = (
        consistent, "its signature does not verify with a trusted key", root / "trust.yaml")
    cases["a label changed with its hash and the identity recomputed, no trust policy: the pin file"] = (
        consistent, "is pinned to", None)
    lines, refused, ran = [], 0, 0
    for number, (variant, (make, message, trust)) in enumerate(cases.items()):
        tampered = make(signed, _fresh(root / f"store-{number}") / archive.name)
        results = {engine: run(root / f"{engine}-{number}", config, tampered.parent, trust, pins.path)
                   for engine, run in (("serve.sh", _serve_ts), ("serve_kserve.sh", _serve_kserve))}
        said = {engine: next((line.strip() for line in result.stderr.splitlines() if message in line), "")
                for engine, result in results.items()}
        refused += sum(result.returncode == 2 and bool(said[engine]) for engine, result in results.items())
        ran += marker_for(tampered).exists()
        codes = ", ".join(f"{engine} exit {result.returncode}" for engine, result in results.items())
        first = said["serve.sh"] or said["serve_kserve.sh"] or results["serve.sh"].stderr.strip()[-200:]
        lines.append(f"  {variant}: {codes}: {first.removeprefix('unpack: ')}")
    home = root / "home-signed"
    started = _serve(home, config, signed.parent, root / "trust.yaml", pins.path, "start", "--timeout", "300")
    try:
        answered = started.returncode == 0 and "ready:" in started.stdout
    finally:
        _serve(home, config, signed.parent, None, pins.path, "stop")
    lines = [f"tampered archives given to scripts/serve.sh start and scripts/serve_kserve.sh: {refused} of {2 * len(cases)} "
             f"refused before anything served, naming the entry; injected code ran {ran} times", *lines,
             f"  the signed copy as built, under the same trust policy: {'started, every model READY' if answered else 'DID NOT START'}"]
    return lines, 2 * len(cases) - refused + ran + (not answered)


def _fresh(directory: Path) -> Path:
    directory.mkdir(parents=True)
    return directory


def _serve_ts(home: Path, config: Path, store: Path, trust: Path | None, pins: Path) -> Any:
    return _serve(home, config, store, trust, pins, "start")


def _serve(home: Path, config: Path, store: Path, trust: Path | None, pins: Path, *args: str) -> Any:
    import os
    import subprocess

    from benchmarks.servers import REPO

    env = {**os.environ, "TS_HOME": str(home), "TS_CONFIG": str(config), "MODEL_STORE": str(store),
           "TRUST_POLICY": str(trust) if trust else "", "SERVING_SETTINGS": "", "MODEL_PINS": str(pins)}
    return subprocess.run([str(REPO / "scripts" / "serve.sh"), *args], env=env, capture_output=True, text=True, timeout=600)


def _serve_kserve(home: Path, _config: Path, store: Path, trust: Path | None, pins: Path) -> Any:
    """``serve_kserve.sh`` on free ports; a refused store ends it with exit 2 (a served one would be stopped after 120 s)."""
    import os
    import subprocess

    from benchmarks.servers import REPO
    from markit.ops.ports import free_ports

    http, grpc = free_ports(2)
    env = {**os.environ, "KSERVE_HOME": str(home), "MODEL_STORE": str(store), "KSERVE_HTTP_PORT": str(http),
           "KSERVE_GRPC_PORT": str(grpc), "TRUST_POLICY": str(trust) if trust else "", "SERVING_SETTINGS": "",
           "MODEL_PINS": str(pins)}
    try:
        return subprocess.run([str(REPO / "scripts" / "serve_kserve.sh")], env=env, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired as err:  # it served: not refused
        return subprocess.CompletedProcess(err.cmd, -1, "", f"served the tampered archive for {err.timeout:g} s")
