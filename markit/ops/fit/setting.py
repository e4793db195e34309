"""One serving setting (workers x torch threads x batch size x batch delay) and the ``serving:`` section it ships as."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Setting", "serving_section"]


@dataclass(frozen=True, order=True)
class Setting:
    threads: int  # first: the sweep restarts the server per thread count
    batch_size: int
    max_batch_delay: int  # ms
    workers: int

    def label(self) -> str:
        return f"{self.workers} x {self.threads} thread(s), batch {self.batch_size}, delay {self.max_batch_delay} ms"


def serving_section(setting: Setting, response_timeout: int | None = None) -> str:
    """The spec's ``serving:`` YAML for ``setting``."""
    lines = ["serving:", f"  workers: {setting.workers}", f"  torch_threads: {setting.threads}",
             f"  batch_size: {setting.batch_size}", f"  max_batch_delay: {setting.max_batch_delay}"]
    if response_timeout is not None:
        lines.append(f"  response_timeout: {response_timeout}")
    return "\n".join(lines) + "\n"
