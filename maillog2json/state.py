"""The state file (``--state``): what a run hands to the next one, written atomically.

One JSON object: ``{"version": 1, "tracker": {...}, "follow": {...}, "time": {...}}``. The
tracker part holds the messages in flight, ``follow`` the position in the followed file
(inode, offset, fingerprint: see :mod:`maillog2json.follow`), ``time`` the year the
syslog timestamps were placed in. The parts are saved together, after a whole batch, so a
restart resumes at the line after the last one whose effects are in the tracker.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import orjson

STATE_VERSION = 1


class StateError(ValueError):
    """A state file that cannot be used (another version, not ours, damaged)."""


def read_state(path: str) -> dict[str, Any]:
    """The saved state, or ``{}`` for a missing or empty file."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return {}
    if not data.strip():
        return {}
    try:
        state = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise StateError(f"not a maillog2json state file ({exc})") from None
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        version = state.get("version") if isinstance(state, dict) else "?"
        raise StateError(f"unsupported state file version {version}")
    return state


def write_state(path: str, parts: dict[str, Any]) -> None:
    """Write ``parts`` as the state file (see :func:`atomic_write`)."""
    atomic_write(path, orjson.dumps({"version": STATE_VERSION, **parts}))


def atomic_write(path: str, data: bytes) -> None:
    """Replace the file at ``path`` with ``data``: temp file in the same folder, fsync,
    rename, fsync of the folder, so a crash (a power loss included) leaves the old file or
    the new one, never half of one or an empty one. Also makes the folder's other new
    entries durable (the delivery spool relies on it)."""
    directory = os.path.dirname(os.path.abspath(path)) or "."
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:                                   # make the rename itself durable
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
