"""Delivery to network sinks (Elasticsearch, Fluentd): at least once, in order, through outages.

The data flows one way::

    pipeline thread                          worker thread (one per sink)
    doc -> transport.encode(doc) -> Queue  ->  batch -> transport.send(batch) -> Outcome
                  (route, body)     (memory, then --spool on disk)     (ack / retry / dead letter)

A *transport* knows one wire protocol and nothing about queues, retries or spools:

* ``encode(doc)`` runs on the pipeline thread and turns one document into its wire form
  (``body``: bytes that are concatenated as they are into a request or chunk) plus a
  ``route`` (a short string: the Fluentd tag; Elasticsearch puts its index in the body and
  uses the route only for stats). What is queued and spooled is exactly that pair, so a
  spooled document is sent after a restart byte for byte as it would have been.
* ``send(batch)`` runs on the worker thread with a list of ``(route, body)`` in order. It
  returns an :class:`Outcome`, or raises :class:`TransportError` when nothing of the batch
  is known to have arrived (connection refused, timeout, no ack, 5xx for the whole
  request): the worker then retries the whole batch with backoff.

Retries, backoff, batching by size and time, spooling, dead letters and counters live in
:mod:`maillog2json.delivery.worker` and :mod:`maillog2json.delivery.queue`, once for all
transports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

Doc = dict[str, Any]
Item = tuple[str, bytes]      # (route, body)


class TransportError(Exception):
    """The whole batch failed in a way a retry may fix; the message says why (for logs)."""


class ConfigError(Exception):
    """A sink's settings are wrong (bad URL, unreadable CA or secret file): a usage error."""


@dataclass
class Outcome:
    """What became of one batch, by index into it.

    Every index is in exactly one of: delivered (the default), ``duplicates`` (already
    there: Elasticsearch's 409 for ``create``), ``retry`` (a transient per-item failure:
    429, 5xx), ``dead`` (a failure no retry can fix, with the reason: a mapping reject).
    """
    duplicates: list[int] = field(default_factory=list)
    retry: list[int] = field(default_factory=list)
    dead: list[tuple[int, str]] = field(default_factory=list)


class Transport(Protocol):
    name: str                 # for messages and --stats: "elasticsearch", "fluentd"

    def encode(self, doc: Doc) -> Item: ...
    def send(self, batch: list[Item]) -> Outcome: ...
    def close(self) -> None: ...
