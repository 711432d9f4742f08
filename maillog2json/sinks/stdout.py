"""Standard output (or any binary stream): buffered per batch, flushed per batch."""

from __future__ import annotations

import sys
from typing import BinaryIO, Optional


class StreamSink:
    __slots__ = ("_out", "_parts")

    def __init__(self, out: Optional[BinaryIO] = None) -> None:
        self._out = out if out is not None else sys.stdout.buffer
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> None:
        self._parts.append(data)

    def flush(self) -> None:
        if self._parts:
            data = b"".join(self._parts)
            self._parts.clear()
            self._out.write(data)
        self._out.flush()

    def close(self) -> None:
        self.flush()
