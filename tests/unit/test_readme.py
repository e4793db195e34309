"""The commands the README and the deployment and migration docs show exist: scripts, modules and files they name."""

from __future__ import annotations

import importlib.util
import os
import re

import pytest

from helpers import REPO

DOCS = [REPO / "README.md", REPO / "docs" / "deployment.md", REPO / "docs" / "serving.md", REPO / "docs" / "kserve.md",
        REPO / "docs" / "migration.md"]
BLOCK = re.compile(r"```bash\n(.*?)```", re.S)


def commands() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        for block in BLOCK.findall(doc.read_text(encoding="utf-8")):
            joined = block.replace("\\\n", " ")
            found += [(doc.name, line.strip()) for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return found


COMMANDS = commands()

# What a shown command may start with besides ./scripts/*.sh and .venv/bin/*: this machine's tools, and
# the ones a deployment runs elsewhere (which must then say "not run here", below).
PROGRAMS = {"python", "curl", "torchserve", "exec", "docker", "kubectl", "aws", "gsutil"}
ELSEWHERE = re.compile(r"\b(docker|kubectl apply|aws|gsutil)\b")


def program(line: str) -> str:
    """The program a shell line runs: after leading VAR=value assignments, inside a leading VAR=$(...)."""
    text = re.sub(r"^(\w+=(?!\$\()\S*\s+)+", "", line.split("#", 1)[0].strip())
    substituted = re.match(r"^\w+=\$\((\S+)", text)
    return substituted.group(1) if substituted else text.split()[0]


def test_the_docs_show_commands():
    assert len(COMMANDS) > 20


@pytest.mark.parametrize(("doc", "line"), COMMANDS, ids=[f"{d}:{line[:50]}" for d, line in COMMANDS])
def test_each_command_names_something_real(doc, line):
    first = program(line)
    assert first.startswith(("./scripts/", ".venv/bin/")) or first in PROGRAMS, f"{doc}: {line!r} runs {first!r}, an unknown program"
    words = line.split("#", 1)[0].split()
    for word in words:
        if word.startswith("./scripts/"):
            script = REPO / word[2:]
            assert script.is_file() and os.access(script, os.X_OK), f"{doc}: {word} is not an executable script"
    for module in re.findall(r"python -m ([\w.]+)", line):
        assert importlib.util.find_spec(module) is not None, f"{doc}: python -m {module}: no such module"
    for path in re.findall(r"(?:deploy|config|examples)/[\w./-]+", line):
        assert (REPO / path.rstrip(".")).exists(), f"{doc}: {path} does not exist"
    if ELSEWHERE.search(line.split("#", 1)[0]):
        assert "not run here" in line, f"{doc}: {line!r} cannot run on the build machine: say so"
