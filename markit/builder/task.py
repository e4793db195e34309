"""What a task is to the builder: one registered unit (see ``markit.builder.tasks``).

A task owns some top-level keys of the spec (read strictly into its own frozen settings), the entries it
writes into the manifest's ``spec`` section (its typed sections: the fields of its spec type, declared once in
``markit/tasks/NAME/manifest.py``), and names the run-time handler that serves it. The builder's common steps
(model, serving, golden, metadata) need nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from markit.core.handler import TaskHandler

    from .spec import ModelSpec, Spec
    from .spec_reader import Section

__all__ = ["ProgramExample", "Task"]


class ProgramExample(NamedTuple):
    """One method of a multi-program model, as the builder converts it: a module whose forward is the method,
    example inputs (what the handler makes of the golden inputs) and each input's dynamic dimensions."""

    module: Any
    inputs: tuple[Any, ...]
    dynamic: tuple[dict[int, Any], ...]


def _nothing_to_check(_model: ModelSpec) -> None:
    return None


def _nothing_to_check_staged(_spec: Spec, _staging: Path, _model: Mapping[str, Any]) -> None:
    return None


@dataclass(frozen=True)
class Task:
    """One task: its spec keys and settings, its staging, its manifest entries, its run-time handler."""

    name: str
    handler: type[TaskHandler]  # the run-time class that serves it (markit/tasks/NAME/handler.py) (its ``task`` is ``name``)
    required_keys: frozenset[str]  # top-level spec keys the task needs
    optional_keys: frozenset[str]  # top-level spec keys the task may take
    budgets: Mapping[str, int]  # what one request may cost (markit.core.budgets): each kind the task checks, its default
    parse: Callable[[Section, Path, dict[str, str]], Any]  # (the spec's top section, its directory, file references) -> settings
    stage: Callable[[Spec, Path, dict[str, Any]], dict[str, Any]]  # (spec, archive root, section so far) -> typed sections
    text: bool = False  # the model is a Hugging Face text encoder (``model.transformers``) with its tokenizer
    has_model: bool = True  # False: the spec has no ``model`` section (a pipeline: its steps are archives with theirs)
    hint: str = ""  # what to do instead, for a spec that gives another task's keys
    check_model: Callable[[ModelSpec], None] = _nothing_to_check  # refuse a model section the task cannot serve
    check_staged: Callable[[Spec, Path, Mapping[str, Any]], None] = _nothing_to_check_staged  # after staging
    # a model served as several programs, one per method the handler calls (``program_methods``): each method's
    # module, example inputs and dynamic dimensions, from (spec, the eager archive's handler, its decoded golden inputs)
    program_examples: Callable[[Spec, TaskHandler, list[Any]], dict[str, ProgramExample]] | None = None

    @property
    def spec_keys(self) -> frozenset[str]:
        return self.required_keys | self.optional_keys
