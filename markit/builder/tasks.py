"""The tasks the builder knows, by name: each one folder (see ``markit.tasks``) read through its
``build.py``, the built-in ones and any registered by an entry point. ``TASKS`` asks the registry on
every use, so a task installed after this module was imported is found. tests/unit/test_tasks.py checks
that the builder's tasks, their run-time handlers and the JSON Schema agree."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from ..tasks import build_task, names
from .task import Task

__all__ = ["TASKS", "Task"]


class _Registered(Mapping[str, Task]):
    """name -> ``Task``, read from ``markit.tasks`` when asked."""

    def __getitem__(self, name: str) -> Task:
        return build_task(name)

    def __iter__(self) -> Iterator[str]:
        return iter(names())

    def __len__(self) -> int:
        return len(names())


TASKS: Mapping[str, Task] = _Registered()
