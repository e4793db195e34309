"""The reliability report's bad-input matrix (benchmarks/bad_inputs.py): at least 60 kinds over every task."""

from __future__ import annotations

from benchmarks.bad_inputs import TASKS, probes
from markit.builder.tasks import TASKS as BUILDER_TASKS

FEATURES = {"temperature_history": [24]}


def test_every_task_has_the_protocol_probes_and_its_own():
    assert set(TASKS) == set(BUILDER_TASKS)
    per_task = {task: probes(task, FEATURES) for task in TASKS}
    common = set.intersection(*({p.kind for p in found} for found in per_task.values()))
    assert len(common) >= 15 and "JSON nested 1,100 deep" in common
    assert all(len({p.kind for p in found}) > len(common) for found in per_task.values())  # and probes of its own


def test_at_least_60_kinds_within_the_servers_request_limit():
    every = [p for task in TASKS for p in probes(task, FEATURES)]
    assert len({p.kind for p in every}) >= 60
    assert max(len(p.body) for p in every) <= 10 * 1024 * 1024  # config.properties' max_request_size: the handlers see them
