"""A file of JSON lines (``--output FILE``): appended to, reopened on SIGHUP for logrotate,
and synced to disk on request (the omprog mode confirms a message only after that)."""

from __future__ import annotations

import os
from typing import BinaryIO


class FileSink:
    __slots__ = ("path", "_f", "_reopen")

    def __init__(self, path: str) -> None:
        self.path = path
        self._f: BinaryIO = open(path, "ab")
        self._reopen = False

    def request_reopen(self) -> None:
        """Called from a SIGHUP handler: the file is reopened before the next write (never
        in the middle of one), so what comes after the signal goes to the new file."""
        self._reopen = True

    def write(self, data: bytes) -> None:
        if self._reopen:
            self._reopen = False
            self._f.close()             # flushes what the old file still had buffered
            self._f = open(self.path, "ab")
        self._f.write(data)

    def flush(self) -> None:
        self._f.flush()

    def sync(self) -> None:
        """Flush and fsync: what was written survives a crash of this process or the host."""
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()
