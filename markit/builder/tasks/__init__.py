"""The task registry: every task the builder knows, each one module (spec keys and settings, staging,
manifest entries, run-time handler) and one line here.

Adding a task: write ``markit/builder/tasks/NAME.py`` defining ``TASK = Task(...)`` (see ``task.py``), its
run-time handler in ``markit.runtime`` (registered in ``markit.runtime.service.HANDLERS``), its part of
``markit/schemas/manifest.schema.json``, and add the module below. tests/unit/test_tasks.py checks that the
registry, the run-time handlers and the JSON Schema agree.
"""

from __future__ import annotations

from . import convention, image_classification, regression, seq2seq, text_classification, text_embedding
from .task import Task

__all__ = ["TASKS", "Task"]

TASKS: dict[str, Task] = {
    module.TASK.name: module.TASK
    for module in (image_classification, convention, text_embedding, text_classification, regression, seq2seq)
}
