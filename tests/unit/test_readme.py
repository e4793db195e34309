"""The commands the README and the deployment docs show exist: scripts, modules and files they name."""

from __future__ import annotations

import importlib.util
import os
import re

import pytest

from helpers import REPO

DOCS = [REPO / "README.md", REPO / "docs" / "deployment.md", REPO / "docs" / "serving.md", REPO / "docs" / "kserve.md"]
BLOCK = re.compile(r"```bash\n(.*?)```", re.S)


def commands() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        for block in BLOCK.findall(doc.read_text(encoding="utf-8")):
            joined = block.replace("\\\n", " ")
            found += [(doc.name, line.strip()) for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return found


COMMANDS = commands()


def test_the_docs_show_commands():
    assert len(COMMANDS) > 20


@pytest.mark.parametrize(("doc", "line"), COMMANDS, ids=[f"{d}:{line[:50]}" for d, line in COMMANDS])
def test_each_command_names_something_real(doc, line):
    words = line.split("#", 1)[0].split()
    for word in words:
        if word.startswith("./scripts/"):
            script = REPO / word[2:]
            assert script.is_file() and os.access(script, os.X_OK), f"{doc}: {word} is not an executable script"
    for module in re.findall(r"python -m ([\w.]+)", line):
        assert importlib.util.find_spec(module) is not None, f"{doc}: python -m {module}: no such module"
    for path in re.findall(r"(?:deploy|config|examples)/[\w./-]+", line):
        assert (REPO / path.rstrip(".")).exists(), f"{doc}: {path} does not exist"
    if re.match(r"(docker|kubectl apply|aws|gsutil)\b", line):
        assert "not run here" in line, f"{doc}: {line!r} cannot run on the build machine: say so"
