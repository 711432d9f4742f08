"""Sinks: where rendered documents go. Each sink has ``write(data)``, ``flush()`` and
``close()``; the pipeline flushes after every input batch."""

from __future__ import annotations

from typing import Protocol


class Sink(Protocol):
    def write(self, data: bytes) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...
