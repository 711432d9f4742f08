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

from typing import BinaryIO, Callable

from maillog2json import inputs
from maillog2json.pipeline import Pipeline

MAX_LINE = 1 << 20


def serve(pipeline: Pipeline, stdin: BinaryIO, stdout: BinaryIO, sync: Callable[[], None]) -> int:
    """Process messages until EOF or ``pipeline.stopping``; returns how many were confirmed."""
    stdout.write(b"OK\n")
    stdout.flush()
    confirmed = 0
    while not pipeline.stopping:
        inputs._waiting = True          # SIGTERM may interrupt this read (nothing is in hand)
        try:
            line = stdin.readline(MAX_LINE)
        finally:
            inputs._waiting = False
        if not line:
            break
        while not line.endswith(b"\n"):  # longer than MAX_LINE: keep the start, drop the rest
            more = stdin.readline(MAX_LINE)
            if not more or more.endswith(b"\n"):
                break
        try:
            pipeline.process([line.rstrip(b"\n")])
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
