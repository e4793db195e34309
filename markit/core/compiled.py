"""What an AOTInductor-compiled program needs of the worker that loads it, checked before loading.

A compiled package is native code: built for one torch release (its C++ ABI) and one instruction
set. Loading it elsewhere fails at best and dies of an illegal instruction at worst, so the archive
records what the program needs (``spec.model.requires``) and the worker compares that with itself
*before* touching the package. ``target()`` is the one description of a machine both sides use:
the builder records it, the worker checks against it.
"""

from __future__ import annotations

import logging
import os
import platform
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch

__all__ = ["ISA_LEVELS", "load_package", "target", "unmet_requirement"]

# x86-64 instruction-set levels as torch reports them (torch.backends.cpu.get_cpu_capability), in order:
# a program compiled for a level runs on that level and above.
ISA_LEVELS = ("DEFAULT", "AVX2", "AVX512")
_UNPACKING = threading.Lock()  # one load at a time sets TMPDIR (below)


def target() -> dict[str, str]:
    """This process's torch release, machine and CPU capability, as ``requires`` records them."""
    return {
        "torch": torch.__version__.split("+", 1)[0],
        "machine": platform.machine(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }


def unmet_requirement(requires: Mapping[str, Any], here: Mapping[str, str] | None = None) -> str | None:
    """None when this worker can run a program compiled for ``requires``; else why not, in one sentence."""
    here = dict(here or target())
    for key in ("torch", "machine"):
        if str(requires.get(key)) != here[key]:
            return f"the compiled program needs {key} {requires.get(key)}, this worker has {here[key]}"
    needed, have = str(requires.get("cpu_capability")), here["cpu_capability"]
    if needed == have:
        return None
    if needed in ISA_LEVELS and have in ISA_LEVELS and ISA_LEVELS.index(have) >= ISA_LEVELS.index(needed):
        return None
    return f"the compiled program needs a {needed} CPU, this worker's CPU is {have}"


def load_package(path: str) -> Any:
    """Load an AOTInductor package (``.pt2``) as a callable on the CPU.

    torch unpacks the package into a temp dir that only its loader's destructor removes, which never runs in a
    worker that is killed (TorchServe kills one past its response timeout): MiniLM's left 92 MB in TMPDIR each
    time. Here it unpacks into a private dir, removed as soon as the program is loaded: its code is mapped and
    its weights are in memory by then."""
    with _UNPACKING, tempfile.TemporaryDirectory(prefix="markit-aoti-") as private, _temp_dir(private), \
            _without_isa_mismatch_warning():
        return torch._inductor.aoti_load_package(path)


@contextmanager
def _temp_dir(path: str) -> Iterator[None]:
    """TMPDIR set to ``path`` for one load: torch's loader reads the variable itself and takes no directory."""
    before = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = path
    try:
        yield
    finally:
        if before is None:
            del os.environ["TMPDIR"]
        else:
            os.environ["TMPDIR"] = before


class _IsaMismatch(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "AOTI_CPU_ISA" not in record.getMessage()


@contextmanager
def _without_isa_mismatch_warning() -> Iterator[None]:
    """torch warns whenever the package's ISA differs from this CPU's own, which it always does for a
    program built for a portable level (AVX2) running on a better CPU; ``unmet_requirement`` has already
    compared the two properly. Only that one message is dropped, only while loading."""
    logger, quiet = logging.getLogger("torch.export.pt2_archive._package"), _IsaMismatch()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)
