"""A task is one registered unit: the builder's registry, the run-time handlers and the manifest's JSON Schema
agree, no common build step names a task, and a new task needs only its module and its registration."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from markit.builder.manifest import SCHEMA_PATH
from markit.builder.spec import parse_spec
from markit.builder.spec_reader import Section
from markit.builder.tasks import TASKS, Task
from markit.core.budgets import BUDGET_KINDS, Budgets
from markit.core.handler import TaskHandler
from markit.tasks import BUILT_IN, handler_class, known

from helpers import REPO

SPEC_SCHEMA = json.loads(SCHEMA_PATH.read_text())["properties"]["spec"]
PER_TASK = {rule["if"]["properties"]["task"]["const"]: rule["then"] for rule in SPEC_SCHEMA["allOf"]}


def test_the_builder_the_runtime_and_the_schema_know_the_same_tasks():
    assert list(TASKS) == list(BUILT_IN) == SPEC_SCHEMA["properties"]["task"]["enum"]
    assert set(TASKS) == set(known()) == set(PER_TASK)
    for name, task in TASKS.items():
        assert task.handler is handler_class(name) and task.handler.task == name


@pytest.mark.parametrize("name", list(TASKS))
def test_a_tasks_manifest_entries_are_its_part_of_the_schema(name):
    assert set(PER_TASK[name].get("required", [])) == set(TASKS[name].manifest_keys)
    assert set(TASKS[name].manifest_keys) <= set(SPEC_SCHEMA["properties"])


@pytest.mark.parametrize("name", list(TASKS))
def test_a_tasks_budgets_are_kinds_the_runtime_checks_and_the_schema_holds(name):
    budgets = TASKS[name].budgets
    assert "request_bytes" in budgets and set(budgets) <= set(BUDGET_KINDS)
    assert set(BUDGET_KINDS) == set(SPEC_SCHEMA["properties"]["budgets"]["properties"])
    assert Budgets.from_manifest({"budgets": dict(budgets)}).declared() == budgets


def test_no_common_build_step_names_a_task():
    common = [path for path in (REPO / "markit" / "builder").glob("*.py")]
    naming = [(path.name, name) for path in common for name in TASKS if f'"{name}"' in path.read_text()]
    assert naming == []


@dataclass(frozen=True)
class EchoSettings:
    reply: str


class EchoHandler(TaskHandler):
    task = "echo"


def test_a_new_task_is_its_module_and_its_registration(monkeypatch, tmp_path: Path):
    def parse(top: Section, _spec_dir: Path, _refs: dict[str, str]) -> EchoSettings:
        return EchoSettings(top.section("echo").string("reply"))

    echo = Task(name="echo", handler=EchoHandler, required_keys=frozenset({"echo"}), optional_keys=frozenset(),
                manifest_keys=("echo",), budgets={"request_bytes": 99},
                parse=parse, stage=lambda spec, _root, _section: {"echo": spec.settings.reply})
    monkeypatch.setitem(TASKS, "echo", echo)
    for name in ("model.py", "weights.pth", "in.json"):
        (tmp_path / name).write_text("")
    data = {"name": "e", "version": "1", "task": "echo", "echo": {"reply": "hi"},
            "model": {"source": "model.py", "class": "M", "weights": "weights.pth"},
            "golden": [{"input": "in.json", "expected": "hi"}]}
    assert parse_spec(data, tmp_path).settings == EchoSettings("hi")
    with pytest.raises(Exception, match=r"echo: not used by task convention \(only by echo\)"):
        parse_spec({**data, "task": "convention"}, tmp_path)
