"""The tasks the builder knows: each one folder under ``markit/tasks/`` (see ``markit.tasks``), read
through its ``build.py``. tests/unit/test_tasks.py checks that the builder's tasks, their run-time
handlers and the JSON Schema agree."""

from __future__ import annotations

from ..tasks import BUILT_IN, build_task
from .task import Task

__all__ = ["TASKS", "Task"]

TASKS: dict[str, Task] = {name: build_task(name) for name in BUILT_IN}
