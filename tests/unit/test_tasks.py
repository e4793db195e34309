"""A task is one registered unit: the builder's registry, the run-time handlers, the task's spec type and the
manifest's JSON Schema agree, no common build step names a task, and a task from outside markit needs only its
folder and one entry point."""

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
from markit.core.manifest_types import SpecBase
from markit.schemas.generate import manifest_schema
from markit.tasks import BUILT_IN, handler_class, known, spec_type

from helpers import REPO, install_echo_task, write_echo_spec

SCHEMA = json.loads(SCHEMA_PATH.read_text())
SPEC_SCHEMA = SCHEMA["properties"]["spec"]
SPEC_TYPES = [SCHEMA["$defs"][choice["$ref"].rsplit("/", 1)[1]] for choice in SPEC_SCHEMA["oneOf"]]
PER_TASK = {definition["properties"]["task"]["const"]: definition for definition in SPEC_TYPES}


def test_the_builder_the_runtime_and_the_schema_know_the_same_tasks():
    assert list(TASKS) == list(BUILT_IN) == list(PER_TASK)
    assert set(TASKS) == set(known()) == set(SPEC_SCHEMA["discriminator"]["mapping"])
    for name, task in TASKS.items():
        assert task.handler is handler_class(name) and task.handler.task == name


@pytest.mark.parametrize("name", list(TASKS))
def test_a_tasks_manifest_sections_are_its_spec_type_and_its_part_of_the_schema(name):
    fields = spec_type(name).model_fields
    assert issubclass(spec_type(name), SpecBase) and set(SpecBase.model_fields) <= set(fields)
    assert set(PER_TASK[name]["properties"]) == set(fields)
    assert PER_TASK[name]["additionalProperties"] is False


@pytest.mark.parametrize("name", list(TASKS))
def test_a_tasks_budgets_are_kinds_the_runtime_checks_and_the_schema_holds(name):
    budgets = TASKS[name].budgets
    assert "request_bytes" in budgets and set(budgets) <= set(BUDGET_KINDS)
    assert set(BUDGET_KINDS) == set(Budgets.model_fields) == set(SCHEMA["$defs"]["Budgets"]["properties"])
    assert Budgets(**budgets).declared() == budgets


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
    assert set(spec_type("echo").model_fields) - set(SpecBase.model_fields) == {"echo"}  # its manifest.py, in its folder
    assert manifest_schema(["echo"])["properties"]["spec"]["discriminator"]["mapping"] == {"echo": "#/$defs/EchoSpec"}
    with pytest.raises(Exception, match=r"echo: not used by task convention \(only by echo\)"):
        parse_spec({**yaml.safe_load((tmp_path / "spec" / "spec.yaml").read_text()), "task": "convention"}, tmp_path / "spec")
    staged = tmp_path / "runtime"
    copy_runtime(staged, "echo")
    assert (staged / "tasks" / "echo" / "handler.py").is_file() and not (staged / "tasks" / "echo" / "build.py").exists()
