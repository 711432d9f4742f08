"""rsyslog's omprog interface with ``confirmMessages="on"``.

rsyslog starts the program, waits for a line ``OK`` (ready), then writes one message per
line on its stdin and waits, for each, for one line on its stdout: ``OK`` when the message
is processed, anything else when it is not, in which case rsyslog keeps the message in
its action queue and sends it again later. So ``OK`` is written only once the message's
documents are written and synced by every sink; an error writes a short reason instead
(rsyslog logs it with ``reportFailures="on"``). EOF on stdin (rsyslog stopping) or SIGTERM
(``signalOnClose``) ends the loop.
"""

from __future__ import annotations

from typing import Any, BinaryIO, Callable, Iterator

from maillog2json.inputs import CHUNK, LineSplitter, interruptible_read
from maillog2json.pipeline import Pipeline


def _messages(stdin: BinaryIO, max_line: int, stopping: Callable[[], bool]) -> Iterator[Any]:
    """One message per line, cut at ``max_line`` as a file's lines are (a cut one is an
    inputs.Line with its real length). Each is yielded before the next is read (rsyslog
    sends the next only after our answer), and none is read once ``stopping()``."""
    splitter = LineSplitter(max_line)
    while not stopping():
        chunk = interruptible_read(stdin.readline, CHUNK)   # SIGTERM may interrupt this wait
        lines = splitter.feed(chunk) if chunk else splitter.finish()
        yield from lines
        if not chunk:
            return


def serve(pipeline: Pipeline, stdin: BinaryIO, stdout: BinaryIO, sync: Callable[[], None]) -> int:
    """Process messages until EOF or ``pipeline.stopping``; returns how many were confirmed."""
    stdout.write(b"OK\n")
    stdout.flush()
    confirmed = 0
    for message in _messages(stdin, pipeline.options.max_line, lambda: pipeline.stopping):
        try:
            pipeline.process([message])
            sync()
        except OSError as exc:
            reply = f"ERROR cannot write the documents: {exc.strerror or exc}".replace("\n", " ")
            stdout.write(reply.encode("utf-8", "replace") + b"\n")
            stdout.flush()
            continue
        stdout.write(b"OK\n")
        stdout.flush()
        confirmed += 1
    return confirmed
