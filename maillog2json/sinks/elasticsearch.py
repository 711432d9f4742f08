"""The Elasticsearch transport: documents as ``create`` actions of the ``_bulk`` API.

Wire format (see :mod:`maillog2json.delivery` for the transport interface). ``encode(doc)``
gives the route (``"lines"`` or ``"messages"``, from ``doc["type"]``) and two NDJSON lines::

    {"create":{"_index":"logs-maillog2json.lines-default","_id":"<doc _id>"}}
    {"@timestamp":..., ...the source...}

``create`` with the document's own id makes delivery idempotent: a document sent twice
(after a retry, a restart, a replayed spool) is refused by Elasticsearch with 409 and
counted as a duplicate instead of being indexed twice.

The source:

* ``schema="ecs"`` (default): :func:`maillog2json.render.ecs.ecs_document`, whose
  ``@timestamp`` is the line's time (a message's ``first_seen``); the native ``_id`` is
  in the source as ``maillog2json.id``. Default targets: the data streams
  ``logs-maillog2json.lines-default`` and ``logs-maillog2json.messages-default``, which the
  templates of ``maillog2json es-setup`` map.
* ``schema="native"``: the native document without ``_id`` (Elasticsearch refuses ``_id``
  inside a source; it is the document's ``_id`` instead), with ``@timestamp`` added
  (the line's ``timestamp``, a message's ``first_seen``), so that it can also go to a data
  stream. Default targets: the plain indices ``maillog2json-lines`` and
  ``maillog2json-messages``: the es-setup templates are for ECS documents (a native
  ``host`` text conflicts with ECS's ``host`` object), so native documents go elsewhere
  unless targets are given.

A document without a time (a line whose syslog header could not be read) would be refused
by a data stream; it gets ``@timestamp`` = the time it was encoded (read) instead, in UTC
with milliseconds, and in ECS also ``event.created`` with the same value (ECS: "when the
event was first read"), which only such documents carry; in native its ``timestamp``
stays ``null``.

Retries: the client's own are off (``max_retries`` is the number of other hosts, so a
connection error on one node is retried at once on the next one and nowhere else; no retry
on timeout or on any status). 429 and 5xx, for the request or for an item, go back to the
worker, which retries with backoff (:mod:`maillog2json.delivery.worker`).

Elasticsearch versions: the 8.x client sends ``compatible-with=8`` media types, which
Elasticsearch 8 accepts and Elasticsearch 9 accepts through REST API compatibility (a
server accepts its own major version and the one before it; the 9.x client's
``compatible-with=9`` is refused by 8.x servers, hence ``elasticsearch>=8.13,<9``).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional, Sequence
from urllib.parse import urlsplit

import orjson
from elastic_transport import ApiError as _ApiError
from elastic_transport import TransportError as _ClientError

from maillog2json.delivery import ConfigError, Doc, Item, Outcome, TransportError
from maillog2json.render.ecs import ecs_document

SCHEMAS = ("ecs", "native")
# (lines target, messages target) by schema
DEFAULT_TARGETS = {
    "ecs": ("logs-maillog2json.lines-default", "logs-maillog2json.messages-default"),
    "native": ("maillog2json-lines", "maillog2json-messages"),
}
# What a failed request raises (client errors: HTTP status; transport errors: connection, TLS, ...).
REQUEST_ERRORS = (_ApiError, _ClientError)
# Only what send() reads of the answer: less to transfer and parse for big batches.
_FILTER_PATH = "errors,items.*.status,items.*.error.type,items.*.error.reason"


def check_url(url: str) -> str:
    """``url`` if it is a usable node URL (http or https, a host, no credentials), else ConfigError."""
    try:
        parts = urlsplit(url)
        port = parts.port          # ValueError for a bad port
    except ValueError as exc:
        raise ConfigError(f"bad Elasticsearch URL {_safe_url(url)!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"bad Elasticsearch URL {_safe_url(url)!r}: expected http(s)://HOST[:PORT]")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(f"Elasticsearch URL {_safe_url(url)!r} holds credentials: give them as an API key "
                          "or a password file/environment variable instead, not in the URL")
    if parts.query or parts.fragment:
        raise ConfigError(f"bad Elasticsearch URL {url!r}: no query or fragment allowed")
    del port
    return url


def _safe_url(url: str) -> str:
    """The URL with any user info cut out (for messages)."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def _fingerprint(value: str) -> str:
    fp = value.replace(":", "").strip().lower()
    if len(fp) != 64 or any(c not in "0123456789abcdef" for c in fp):
        raise ConfigError("the CA fingerprint must be a SHA-256 in hex (64 digits, colons allowed)")
    return fp


def make_client(hosts: Sequence[str], *, api_key: Optional[str] = None, username: Optional[str] = None,
                password: Optional[str] = None, ca_file: Optional[str] = None,
                fingerprint: Optional[str] = None, verify: bool = True, timeout: float = 30.0) -> Any:
    """An ``elasticsearch.Elasticsearch`` client with maillog2json's settings (see the module
    docstring for retries); ConfigError for settings that cannot work."""
    from elasticsearch import Elasticsearch

    if not hosts:
        raise ConfigError("no Elasticsearch URL given")
    hosts = [check_url(h) for h in hosts]
    if api_key is not None and (username is not None or password is not None):
        raise ConfigError("give either an API key or a user name and password, not both")
    if (username is None) != (password is None):
        raise ConfigError("a user name needs a password and a password a user name")
    if ca_file is not None:
        try:
            with open(ca_file, "rb") as f:
                head = f.read(1 << 20)
        except OSError as exc:
            raise ConfigError(f"cannot read the CA file {ca_file}: {exc.strerror or exc}") from None
        if b"-----BEGIN CERTIFICATE-----" not in head:
            raise ConfigError(f"the CA file {ca_file} holds no PEM certificate")
    kwargs: dict[str, Any] = {
        "request_timeout": timeout,
        "max_retries": len(hosts) - 1,      # only to fail over to another node
        "retry_on_status": (),
        "retry_on_timeout": False,
    }
    if api_key is not None:
        # the "encoded" form (base64 of id:key), or id:key as created
        kwargs["api_key"] = tuple(api_key.split(":", 1)) if ":" in api_key else api_key
    elif username is not None:
        kwargs["basic_auth"] = (username, password)
    if ca_file is not None:
        kwargs["ca_certs"] = ca_file
    if fingerprint is not None:
        kwargs["ssl_assert_fingerprint"] = _fingerprint(fingerprint)
    if not verify:
        kwargs["verify_certs"] = False
        kwargs["ssl_show_warn"] = False     # the caller said so (--insecure); no warning per request
    try:
        return Elasticsearch(hosts, **kwargs)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"bad Elasticsearch settings: {exc}") from None


def describe_error(exc: BaseException) -> str:
    """One line saying why a request failed, without secrets (for logs and error messages)."""
    from elastic_transport import ConnectionTimeout, TlsError

    if isinstance(exc, _ApiError):
        status = exc.meta.status if exc.meta is not None else "?"
        body = exc.body
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict):
            detail = f"{err.get('type')}: {err.get('reason')}"
        elif isinstance(err, str):
            detail = err
        else:
            detail = exc.message if isinstance(exc.message, str) else type(exc).__name__
        text = f"HTTP {status} {detail}"
    elif isinstance(exc, ConnectionTimeout):
        text = f"timed out ({exc.message})"
    elif isinstance(exc, TlsError):
        text = f"TLS error: {exc.message}"
    elif isinstance(exc, _ClientError):
        text = str(exc.message)
        for err in exc.errors:          # the innermost cause says most (connection refused, ...)
            text = str(getattr(err, "message", err)) or text
    else:
        text = f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())[:500]


def _now() -> str:
    """Now in UTC, ISO 8601 with milliseconds: 2026-11-29T00:50:00.123Z."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ElasticsearchTransport:
    """Bulk ``create`` of line and message documents (see the module docstring)."""

    name = "elasticsearch"

    def __init__(self, hosts: Sequence[str], schema: str = "ecs", lines_target: Optional[str] = None,
                 messages_target: Optional[str] = None, api_key: Optional[str] = None,
                 username: Optional[str] = None, password: Optional[str] = None,
                 ca_file: Optional[str] = None, fingerprint: Optional[str] = None, verify: bool = True,
                 timeout: float = 30.0) -> None:
        if schema not in SCHEMAS:
            raise ConfigError(f"unknown schema {schema!r} (expected one of {', '.join(SCHEMAS)})")
        if isinstance(hosts, str):
            hosts = [hosts]
        self.schema = schema
        default_lines, default_messages = DEFAULT_TARGETS[schema]
        self.lines_target = lines_target or default_lines
        self.messages_target = messages_target or default_messages
        for target in (self.lines_target, self.messages_target):
            if not target or target != target.lower() or any(c in target for c in ' "*\\<>|,#/?'):
                raise ConfigError(f"bad Elasticsearch index or data stream name {target!r}")
        self.hosts = list(hosts)
        self.client = make_client(self.hosts, api_key=api_key, username=username, password=password,
                                  ca_file=ca_file, fingerprint=fingerprint, verify=verify, timeout=timeout)
        # the action line up to the id, per route
        self._prefix = {
            "lines": b'{"create":{"_index":' + orjson.dumps(self.lines_target),
            "messages": b'{"create":{"_index":' + orjson.dumps(self.messages_target),
        }
        self._ecs = schema == "ecs"

    # -- the pipeline side --------------------------------------------------------------
    def encode(self, doc: Doc) -> Item:
        route = "messages" if doc.get("type") == "message" else "lines"
        doc_id = doc.get("_id")
        if self._ecs:
            source = ecs_document(doc)
            if "@timestamp" not in source:
                now = _now()
                source["@timestamp"] = now
                event = source.get("event")
                if isinstance(event, dict):
                    event["created"] = now
                else:
                    source["event"] = {"created": now}
        else:
            ts = doc.get("first_seen") if route == "messages" else doc.get("timestamp")
            source = {"@timestamp": ts if ts is not None else _now()}
            for k, v in doc.items():
                if k != "_id" and k != "@timestamp":
                    source[k] = v
        action = self._prefix[route]
        if doc_id is not None:
            action += b',"_id":' + orjson.dumps(doc_id)
        return route, action + b"}}\n" + orjson.dumps(source, option=orjson.OPT_APPEND_NEWLINE)

    # -- the worker side ----------------------------------------------------------------
    def send(self, batch: list[Item]) -> Outcome:
        if not batch:
            return Outcome()
        body = b"".join(b for _, b in batch)
        try:
            resp = self.client.bulk(operations=body, filter_path=_FILTER_PATH)
        except REQUEST_ERRORS as exc:      # an HTTP error status; connection, timeout, TLS, bad answer
            raise TransportError(f"elasticsearch bulk request failed: {describe_error(exc)}") from None
        result = resp.body if hasattr(resp, "body") else resp
        if not isinstance(result, dict):
            raise TransportError("elasticsearch bulk request: the answer is not a JSON object")
        items = result.get("items")
        if not isinstance(items, list) or len(items) != len(batch):
            got = len(items) if isinstance(items, list) else "no"
            raise TransportError(f"elasticsearch bulk request: {got} results for {len(batch)} documents")
        outcome = Outcome()
        if not result.get("errors"):
            return outcome
        for i, item in enumerate(items):
            res = next(iter(item.values()), None) if isinstance(item, dict) else None
            if not isinstance(res, dict):
                outcome.retry.append(i)
                continue
            status = res.get("status")
            if not isinstance(status, int):
                outcome.retry.append(i)
            elif status < 300:
                continue
            elif status == 409:
                outcome.duplicates.append(i)
            elif status == 429 or status >= 500:
                outcome.retry.append(i)
            else:
                err = res.get("error")
                if isinstance(err, dict):
                    reason = f"{err.get('type')}: {err.get('reason')}"
                else:
                    reason = f"HTTP {status}: {err}"
                outcome.dead.append((i, reason))
        return outcome

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:
            pass

