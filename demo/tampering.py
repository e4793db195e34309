"""``python -m demo.tampering ARCHIVE WORKDIR``: what ``./scripts/demo.sh`` shows of "what is verified is what runs".

Two tampered copies of a built archive, each given to ``./scripts/serve.sh start`` as a deployer would (its own
``TS_HOME`` and store, the demo's pin file): one with a second entry module hidden after the last member (what
TorchServe's Java unpacker would run), one edited consistently (a label changed, its sha256 and the identity
recomputed: every check an archive can make of itself passes). Each is refused before TorchServe starts.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from benchmarks.tampering import HIDDEN, marker_for, relabel, rewrite

REPO = Path(__file__).resolve().parent.parent
CASES = {
    "a second entry module hidden after the last member": HIDDEN["the entry module hidden after the last member"].make,
    "a label changed, its sha256 and the identity recomputed":
        lambda source, target: rewrite(source, target, lambda m, i: relabel(m, i, rehash=True, reidentify=True)),
}


def main(argv: list[str]) -> int:
    archive, workdir = Path(argv[0]).resolve(), Path(argv[1]).resolve()
    for number, (case, make) in enumerate(CASES.items()):
        store = workdir / f"store-{number}"
        store.mkdir(parents=True, exist_ok=True)
        tampered = make(archive, store / archive.name)
        env = {**os.environ, "TS_HOME": str(workdir / f"home-{number}"), "MODEL_STORE": str(store)}
        result = subprocess.run([str(REPO / "scripts" / "serve.sh"), "start"], env=env, capture_output=True, text=True,
                                timeout=300)
        reason = next((line.strip() for line in result.stderr.splitlines() if line.startswith("  ")), result.stderr.strip())
        ran = "injected code RAN" if marker_for(tampered).exists() else "no injected code ran"
        print(f"  {case}\n    -> exit {result.returncode} ({ran}): {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
