"""The reliability report's bad-input matrix (benchmarks/bad_inputs.py): at least 60 kinds over every task."""

from __future__ import annotations

import re

import pytest

from benchmarks.bad_inputs import TASKS, declared_input, probes
from markit.builder.tasks import TASKS as BUILDER_TASKS
from markit.core.budgets import Budgets
from markit.core.declared import Input
from markit.core.errors import BadInput
from markit.core.payload import Payload
from markit.protocols import codec
from markit.protocols.routing import InstanceRules
from markit.tasks import handler_class

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


V2_REFUSALS = {
    "KServe v2, a bad datatype": "datatype 'FP128' is not one of",
    "KServe v2, another datatype than declared": "but this model expects",
    "KServe v2, an undeclared input": "'not_an_input' is not one this model takes",
    "KServe v2, shape and data disagree": "elements but shape",
    "KServe v2, a request parameter": "parameter 'sequence_id' is not one this model takes",
}


@pytest.mark.parametrize("task", TASKS)
def test_each_v2_probe_is_refused_by_the_check_it_is_named_for(task):
    """The probes use the task's declared input, so no earlier check (its name, its datatype) refuses them first."""
    v2 = declared_input(task, FEATURES)
    options = tuple(item for item in handler_class(task).takes if not item.required)
    rules = InstanceRules(Budgets(request_bytes=1 << 20, instances=64, rows=64),
                          inputs=(Input(v2["name"], v2["datatype"], tuple(v2["shape"][1:])), *options))
    sent = {probe.kind: probe for probe in probes(task, FEATURES) if probe.kind in V2_REFUSALS}
    assert set(sent) == set(V2_REFUSALS)
    for kind, fragment in V2_REFUSALS.items():
        payload = Payload({"body": sent[kind].body}, {"body": sent[kind].content_type})
        with pytest.raises(BadInput, match=re.escape(fragment)):
            codec.expand(payload, codec.V2, rules.admit, inputs=rules.inputs)
