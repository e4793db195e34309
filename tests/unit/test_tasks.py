"""A task is one registered unit: the builder's registry, the run-time handlers and the manifest's JSON Schema
agree, no common build step names a task, and a task from outside markit needs only its folder and one entry point."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from markit.builder.manifest import SCHEMA_PATH
from markit.builder.spec import parse_spec
from markit.builder.staging import copy_runtime
from markit.builder.tasks import TASKS
from markit.core.budgets import BUDGET_KINDS, Budgets
from markit.tasks import BUILT_IN, handler_class, known

from helpers import REPO, install_echo_task, write_echo_spec

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


def test_a_task_outside_markit_is_its_folder_and_one_entry_point(monkeypatch, tmp_path: Path):
    monkeypatch.syspath_prepend(str(install_echo_task(tmp_path)))
    monkeypatch.delitem(sys.modules, "markit.tasks.echo", raising=False)
    assert "echo" in TASKS and TASKS["echo"].handler.task == "echo"
    spec = parse_spec(yaml.safe_load(write_echo_spec(tmp_path / "spec").read_text()), tmp_path / "spec")
    assert spec.task == "echo" and spec.settings.reply == "hi"
    with pytest.raises(Exception, match=r"echo: not used by task convention \(only by echo\)"):
        parse_spec({**yaml.safe_load((tmp_path / "spec" / "spec.yaml").read_text()), "task": "convention"}, tmp_path / "spec")
    staged = tmp_path / "runtime"
    copy_runtime(staged, "echo")
    assert (staged / "tasks" / "echo" / "handler.py").is_file() and not (staged / "tasks" / "echo" / "build.py").exists()
