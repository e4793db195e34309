"""README and docs: a short README, every page indexed, every link resolving, measured figures in files the
benchmarks write, and every shell command in a ```bash block checked or run as written.

Each command line falls in one kind (``kind`` below), and each kind is checked here or elsewhere:

    every line     (here)  the program is known; every ./scripts/X it names is an executable script; every
                           ``python -m M`` names a module; every repo path it names exists, or is a build output
                           its producer names (examples/NAME/build/...); a line for another machine says
                           "not run here"
    every script and module a line names: ``--help`` exits 0 and prints (here)
    run            (here)  run as written, with .venv/bin first on PATH, in a copy of the checkout made of links
                           (so what it writes stays there): cheap lines that need no server and no build
    server         (tests/integration)  a running TorchServe or KServe runtime: serve.sh (test_serve_script.py),
                           serve_kserve.sh (test_kserve_runtime_process.py), the client, curl, tokens
    build          (tests/build, tests/integration)  builds, or needs built archives: build_mar.sh
                           (test_pinned_archives.py), kserve_layout.sh (test_kserve_layout.py), predict.sh, the examples
    long           (the suite itself; test_demo.py, test_bench_load.py, test_reliability_report.py)  demo.sh,
                           test.sh, benchmark.sh, reliability.sh: minutes to hours
    elsewhere      (never)  docker, kubectl apply, aws, gsutil: there is no Docker engine or cluster here
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from helpers import REPO

DOCS = REPO / "docs"
PAGES = [REPO / "README.md", *sorted(DOCS.rglob("*.md"))]
SHELL = {"bash", "sh", "shell"}


def fenced(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced block, in order; a fence may be indented (inside a list item)."""
    blocks, language, body, fence = [], None, [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if language is None and stripped.startswith("```"):
            fence = stripped[:len(stripped) - len(stripped.lstrip("`"))]
            language, body = stripped[len(fence):].strip(), []
        elif language is not None and stripped == fence:
            blocks.append((language, "\n".join(body)))
            language = None
        elif language is not None:
            body.append(line)
    return blocks


def outside_fences(text: str) -> str:
    kept, fence = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not fence and stripped.startswith("```"):
            fence = stripped[:len(stripped) - len(stripped.lstrip("`"))]
        elif fence and stripped == fence:
            fence = ""
        elif not fence:
            kept.append(line)
    return "\n".join(kept)


def commands() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        for language, body in fenced(page.read_text(encoding="utf-8")):
            if language in SHELL:
                joined = re.sub(r"\\\n\s*", " ", body)
                found += [(str(page.relative_to(REPO)), line.strip()) for line in joined.splitlines()
                          if line.strip() and not line.lstrip().startswith("#")]
    return found


COMMANDS = commands()


def code(line: str) -> str:
    """The line without its trailing comment (a # inside quotes is not one)."""
    quoted, out = None, []
    for i, char in enumerate(line):
        if quoted:
            quoted = None if char == quoted else quoted
        elif char in "'\"":
            quoted = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return "".join(out).rstrip()
        out.append(char)
    return "".join(out).rstrip()


def program(line: str) -> str:
    """The program a shell line runs: after leading VAR=value assignments, inside a leading VAR=$(...)."""
    text = re.sub(r"^(\w+=(?!\$\()\S*\s+)+", "", code(line))
    substituted = re.match(r"^\w+=\$\((\S+)", text)
    return substituted.group(1) if substituted else text.split()[0]


ELSEWHERE = re.compile(r"^(docker|kubectl (apply|create)|aws|gsutil)\b")
RUN = [re.compile(pattern) for pattern in (
    r"^\.venv/bin/kubectl kustomize ",                                   # rendered offline
    r"^(\.venv/bin/)?python -m markit\.[\w.]*signing keygen ",           # a key pair in the sandbox
    r"^(\.venv/bin/)?python -c 'import json, secrets;",                  # a token file in the sandbox
    r"^PHOTO=\$\(",                                                      # a photo's path
    r"^\.venv/bin/python examples/efficientnet_lite0/prepare_labels\.py",  # labels from installed data files
)]
SERVER = {"./scripts/serve.sh", "./scripts/serve_kserve.sh", "./scripts/tsctl.sh", "curl", "torchserve"}
SERVER_MODULES = ("markit.client",)
BUILD = {"./scripts/build_mar.sh", "./scripts/build_examples.sh", "./scripts/kserve_layout.sh", "./scripts/predict.sh",
         "./scripts/pin.sh"}
LONG = {"./scripts/demo.sh", "./scripts/test.sh", "./scripts/benchmark.sh", "./scripts/reliability.sh"}
LONG_MODULES = ("benchmarks",)
# measures, then serves a trial: a minute or two (python -m markit, or the console script setup.sh installs)
LONG_COMMANDS = re.compile(r"^((\.venv/bin/)?python -m markit|\.venv/bin/markit) capacity ")


def modules(line: str) -> list[str]:
    return re.findall(r"python -m ([\w.]+)", code(line))


def kind(line: str) -> str:
    """elsewhere, run, server, build or long; "" when no rule knows the line (the test then asks for one)."""
    text, first = code(line), program(line)
    if ELSEWHERE.match(re.sub(r"^\w+=\$\(", "", text)):
        return "elsewhere"
    if any(pattern.match(text) for pattern in RUN) or re.search(r"\s--help\b", text):
        return "run"
    named = modules(line)
    if first in SERVER or "key_file.json\"))[" in text or any(m.startswith(SERVER_MODULES) for m in named):
        return "server"
    if first in BUILD or re.match(r"^(\.venv/bin/)?python examples/", text):
        return "build"
    if first in LONG or any(m.startswith(LONG_MODULES) for m in named) or LONG_COMMANDS.match(text):
        return "long"
    return ""


def test_the_docs_show_commands():
    assert len(COMMANDS) > 40


@pytest.mark.parametrize(("page", "line"), COMMANDS, ids=[f"{p}:{line[:50]}" for p, line in COMMANDS])
def test_each_command_is_of_a_known_kind_and_names_something_real(page, line):
    what = kind(line)
    assert what, f"{page}: {line!r}: no rule in tests/unit/test_docs.py knows this command; add it to a kind"
    if what == "elsewhere":
        assert "not run here" in line, f"{page}: {line!r} cannot run on the build machine: say so with '# not run here'"
        return
    first = program(line)
    assert first.startswith(("./scripts/", ".venv/bin/")) or first in {"python", "curl", "torchserve"}, \
        f"{page}: {line!r} runs {first!r}, an unknown program"
    for word in code(line).split():
        if word.startswith("./scripts/"):
            script = REPO / word[2:]
            assert script.is_file() and os.access(script, os.X_OK), f"{page}: {word} is not an executable script"
    for module in modules(line):
        assert importlib.util.find_spec(module) is not None, f"{page}: python -m {module}: no such module"
    for path in re.findall(r"(?<![\w./-])((?:deploy|config|examples|docs|markit|benchmarks|demo|harness|tests)/[\w./-]*\w)",
                           code(line)):
        assert (REPO / path).exists() or _built(path), f"{page}: {path} does not exist, and no build writes it"


def _built(path: str) -> bool:
    """examples/NAME/build/OUTPUT...: written by a build step of that example, which names OUTPUT."""
    parts = Path(path).parts
    if len(parts) < 4 or parts[0] != "examples" or parts[2] != "build" or not (REPO / "examples" / parts[1]).is_dir():
        return False
    return any(parts[3] in source.read_text(encoding="utf-8") for source in (REPO / "examples" / parts[1]).glob("*.py"))


def test_a_build_output_is_recognised_only_where_its_example_writes_it():
    assert _built("examples/digits/build/samples")
    assert not _built("examples/digits/build/nonsense")
    assert not _built("examples/digts/build/samples")


@pytest.mark.parametrize(("line", "expected"), [
    ("./scripts/serve.sh start     # TorchServe", "server"),
    ("KEY=$(.venv/bin/python -c 'import json; print(json.load(open(\"key_file.json\"))[\"inference\"][\"key\"])')", "server"),
    ("python -m markit.client list", "server"),
    ("./scripts/predict.sh model_store/digits.mar examples/digits/build/samples > answers.jsonl", "build"),
    ("python examples/g2p_en/port.py --output model_store # port", "build"),
    ("./scripts/benchmark.sh sweep      # workers", "long"),
    (".venv/bin/python -m benchmarks fault --seconds 60", "long"),
    (".venv/bin/python -m markit capacity model_store/digits.mar --p99 40", "long"),
    ("docker build -t x .   # not run here", "elsewhere"),
    ("KEY=$(docker exec torchserve python -c 'print(1)')   # not run here", "elsewhere"),
    (".venv/bin/kubectl kustomize deploy/kubernetes   # rendered", "run"),
    ("python -m markit.engines.kserve --help", "run"),
    ("rm -rf /", ""),
])
def test_kinds(line, expected):
    assert kind(line) == expected


def _named() -> list[str]:
    scripts = {word for _, line in COMMANDS if kind(line) != "elsewhere" for word in code(line).split()
               if word.startswith("./scripts/")}
    named = {module for _, line in COMMANDS if kind(line) != "elsewhere" for module in modules(line)}
    return sorted(scripts) + [f"python -m {module}" for module in sorted(named)]


@pytest.mark.parametrize("named", _named())
def test_the_help_of_every_script_and_module_a_command_names(named):
    argv = [str(REPO / named[2:])] if named.startswith("./") else [sys.executable, *named.split()[1:]]
    done = subprocess.run([*argv, "--help"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip(), f"{named} --help: exit {done.returncode}\n{done.stderr[-2000:]}"


RUNS = [(page, line) for page, line in COMMANDS if kind(line) == "run"]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Path:
    """The checkout as links, so a command writes its files (key_file.json, keys/) here, not in the repository."""
    root = tmp_path_factory.mktemp("checkout")
    for entry in REPO.iterdir():
        if entry.name not in {".git", "model_store", ".run", "keys", "key_file.json", "kserve-out"}:
            (root / entry.name).symlink_to(entry)
    (root / "model_store").mkdir()
    return root


def test_some_commands_run_here():
    assert len(RUNS) >= 4


@pytest.mark.parametrize(("page", "line"), RUNS, ids=[f"{p}:{line[:50]}" for p, line in RUNS])
def test_the_cheap_commands_run_as_written(page, line, sandbox):
    env = {**os.environ, "PATH": f"{REPO / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", line], cwd=sandbox, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, f"{page}: {line!r}: exit {done.returncode}\n{done.stderr[-2000:]}"


# --- the pages ------------------------------------------------------------------------------------------


def test_the_readme_is_short_and_keeps_its_promise():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    shown = [line for page, line in COMMANDS if page == "README.md"]
    assert any(line.startswith("./scripts/demo.sh") for line in shown)
    assert any(line.startswith("./scripts/test.sh") and "tests/unit" not in line for line in shown)
    assert any(line.startswith("./scripts/build_mar.sh") for line in shown)
    assert any(line.startswith("curl") and ":8080/" in line for line in shown)  # one request on TorchServe
    assert any(line.startswith("curl") and ":8090/" in line for line in shown)  # and on the KServe runtime
    assert "docs/index.md" in readme


def test_the_index_links_every_page():
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    linked = {(DOCS / target).resolve() for target in re.findall(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)", index)}
    missing = [str(page.relative_to(REPO)) for page in PAGES[1:] if page.name != "index.md" and page.resolve() not in linked]
    assert missing == []


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[`*]|\[([^]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading.strip().lower())
    text = "".join(char for char in text if char in " -_" or unicodedata.category(char)[0] in "LN")
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for heading in re.findall(r"^#{1,6} (.+)$", outside_fences(page.read_text(encoding="utf-8")), re.M):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


LINKS = [(page, target) for page in PAGES
         for target in re.findall(r"\]\(([^)\s]+)\)", outside_fences(page.read_text(encoding="utf-8")))
         if not re.match(r"^[a-z]+:", target)]


@pytest.mark.parametrize(("page", "target"), LINKS, ids=[f"{p.relative_to(REPO)}:{t}" for p, t in LINKS])
def test_every_link_resolves(page, target):
    path, _, anchor = target.partition("#")
    file = (page.parent / path).resolve() if path else page
    assert file.exists(), f"{page.relative_to(REPO)}: {target}: no such file"
    if anchor and file.suffix == ".md":
        assert anchor in anchors(file), f"{page.relative_to(REPO)}: {target}: no such heading in {file.name}"


# --- measured figures ------------------------------------------------------------------------------------

RESULTS = sorted((DOCS / "results").glob("*.md"))
ROW = re.compile(r"^\| `([^`]+)` \| [^|]+ \| [^|]+ \| [^|]+ \| [^|]+ \|$", re.M)


@pytest.mark.parametrize("result", RESULTS, ids=[r.name for r in RESULTS])
def test_each_results_file_names_the_command_that_writes_it(result):
    text = result.read_text(encoding="utf-8")
    assert "| command | date | commit | machine | exit status |" in text
    row = ROW.search(text)
    assert row, f"{result.name}: no row naming its command"
    command = row.group(1)
    assert re.search(r"(\./scripts/(benchmark|reliability)\.sh|python -m benchmarks)\b", command), command
    writer = result.stem.removesuffix("-kserve")
    assert writer in command or (writer == "compare" and command.startswith("./scripts/benchmark.sh")), \
        f"{result.name} is not what {command!r} writes"


def test_no_page_outside_results_holds_a_pasted_report():
    pasted = [str(page.relative_to(REPO)) for page in PAGES if DOCS / "results" not in page.parents
              for language, body in fenced(page.read_text(encoding="utf-8"))
              if language in {"", "text"} and re.match(r"\s*machine:", body)]
    assert pasted == []
