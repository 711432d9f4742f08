"""The Fluentd forward protocol (v1) as a delivery transport: acknowledged chunks, optional
shared-key handshake, TLS and gzip.

Why not fluent-logger's ``FluentSender``: it writes events and returns without waiting for
anything, so an event is "sent" once it is in the kernel's socket buffer, and a Fluentd that
dies before reading it loses it silently. This transport sends each run of documents as one
``PackedForward`` message carrying a ``chunk`` id and only reports success when the server
answered ``{"ack": <that id>}`` (the forward protocol's at-least-once mode, what Fluentd's own
``out_forward`` does with ``require_ack_response``).

Wire format (Forward Protocol Specification v1):

* An entry (what :meth:`FluentdTransport.encode` returns as the body) is the msgpack array
  ``[time, record]``. ``time`` is an ``EventTime``: msgpack ext type 0 of 8 bytes, seconds
  since the epoch then nanoseconds, both unsigned 32-bit big-endian, from the document's
  ``timestamp`` (a message's ``first_seen``; now when it has none). The record is the
  native document (``_id`` included) or, with ``schema="ecs"``, its ECS spelling.
* :meth:`FluentdTransport.send` cuts the batch into runs of one tag (``PREFIX.lines`` and
  ``PREFIX.messages``) and sends each run as ``[tag, entries, {"size": n, "chunk": id}]``,
  ``entries`` being the concatenated bodies as msgpack ``bin`` (CompressedPackedForward with
  ``compress=True``: gzipped, and ``"compressed": "gzip"`` in the option). ``id`` is the
  base64 of 128 random bits.
* With a shared key, the server opens with ``["HELO", {nonce, auth, keepalive}]``; the
  client answers ``["PING", hostname, salt, sha512_hex(salt + hostname + nonce + key),
  username, sha512_hex(auth + username + password)]`` (the last two empty when ``auth`` is
  empty) and the server closes with ``["PONG", ok, reason, server_hostname,
  sha512_hex(salt + server_hostname + nonce + key)]``, whose digest is checked here too: a
  server that does not know the key is refused.

Delivery is at least once: a batch of several runs whose second run fails raises
:class:`~maillog2json.delivery.TransportError`, and the worker's retry sends the whole batch
again, the already acknowledged first run included (Fluentd sees it twice; the documents'
``_id`` lets a later store drop the copy). Within a run nothing is duplicated by this side
unless the ack itself is lost.

The connection stays open between sends and is reopened lazily by the next send after any
failure (or when the server said ``keepalive: false``, or closed an idle connection).
Secrets (shared key, password) are never put in a message or a log line.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import select
import socket
import ssl
import struct
import time
import zlib
from datetime import date
from typing import Any, Optional

import msgpack

from maillog2json.delivery import ConfigError, Doc, Item, Outcome, TransportError
from maillog2json.render.ecs import ecs_document

__all__ = ["FluentdTransport", "event_time_prefix", "parse_address"]

DEFAULT_PORT = 24224

# ISO 8601 as the pipeline writes it (RFC 3339 with up to 9 fraction digits; a leap second's
# :60 is possible): parsed by hand because datetime cannot hold nanoseconds or second 60.
_ISO = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d\d):?(\d\d))?\Z")
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_U32 = 0xFFFFFFFF
_ARRAY2 = b"\x92"                 # msgpack fixarray of 2: [time, record]
_FIXEXT8_0 = b"\xd7\x00"          # fixext 8, type 0: EventTime


def _event_time(seconds: int, nanoseconds: int) -> bytes:
    """``[`` + the packed time: an EventTime, or a plain integer outside its 32-bit range."""
    if 0 <= seconds <= _U32:
        return _ARRAY2 + _FIXEXT8_0 + struct.pack(">II", seconds, nanoseconds)
    return _ARRAY2 + msgpack.packb(seconds)


def event_time_prefix(timestamp: Optional[str]) -> bytes:
    """The packed start of an entry (array header and time) for an ISO 8601 timestamp: the
    document's own time, or now when it is ``None`` or not a timestamp."""
    if timestamp is not None:
        m = _ISO.match(timestamp)
        if m is not None:
            y, mo, d, h, mi, s, frac, _z, sign, oh, om = m.groups()
            try:
                days = date(int(y), int(mo), int(d)).toordinal() - _EPOCH_ORDINAL
            except ValueError:
                days = None
            if days is not None:
                seconds = days * 86400 + int(h) * 3600 + int(mi) * 60 + int(s)
                if sign is not None:
                    off = int(oh) * 3600 + int(om) * 60
                    seconds -= off if sign == "+" else -off
                nanos = int(frac.ljust(9, "0")) if frac else 0
                return _event_time(seconds, nanos)
    now = time.time_ns()
    return _event_time(now // 1_000_000_000, now % 1_000_000_000)


def parse_address(address: str) -> tuple[str, Any]:
    """``("unix", path)`` or ``("tcp", (host, port))`` for ``unix:/path``, ``HOST:PORT`` or
    ``[IPV6]:PORT``; :class:`ConfigError` otherwise."""
    usage = f"bad Fluentd address {address!r}: expected HOST:PORT, [IPV6]:PORT or unix:/PATH"
    if not isinstance(address, str) or not address.strip():
        raise ConfigError(usage)
    address = address.strip()
    if address.startswith("unix:"):
        path = address[5:]
        if path.startswith("//"):           # unix:///path, as fluent-logger spells it
            path = path[2:]
        if not path:
            raise ConfigError(usage + " (the unix socket path is empty)")
        return "unix", path
    if address.startswith("["):
        end = address.find("]")
        if end < 0 or not address[end + 1:].startswith(":"):
            raise ConfigError(usage)
        host, port_s = address[1:end], address[end + 2:]
        if not host:
            raise ConfigError(usage)
    else:
        host, sep, port_s = address.rpartition(":")
        if not sep or not host:
            raise ConfigError(usage)
        if ":" in host:
            raise ConfigError(usage + " (put an IPv6 address in brackets: [::1]:24224)")
    if not port_s.isdecimal() or not 0 < int(port_s) < 65536:
        raise ConfigError(usage + f" (port {port_s!r} is not a number from 1 to 65535)")
    return "tcp", (host, int(port_s))


def _b(v: Any) -> bytes:
    """A handshake value as bytes: the protocol allows str or bin for nonces and salts."""
    if isinstance(v, bytes):
        return v
    if isinstance(v, str):
        return v.encode("utf-8", "surrogateescape")
    return b""


def _text(v: Any) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)


def _sha512_hex(*parts: bytes) -> str:
    h = hashlib.sha512()
    for p in parts:
        h.update(p)
    return h.hexdigest()


class FluentdTransport:
    """Sends documents to a Fluentd (or Fluent Bit) ``forward`` input and waits for acks.

    ``address``: ``HOST:PORT``, ``[IPV6]:PORT`` or ``unix:/path``. ``tag_prefix``: tags are
    ``PREFIX.lines`` and ``PREFIX.messages``. ``schema``: ``native`` or ``ecs`` records.
    ``shared_key`` turns the handshake on (``username``/``password`` when the server also
    wants user authentication). ``tls`` wraps the connection (``ca_file`` to trust a private
    CA, ``tls_verify=False`` to accept any certificate). ``timeout``: seconds for connecting,
    each read and write, and the ack. ``compress``: gzip each chunk.
    """

    name = "fluentd"

    def __init__(self, address: str, tag_prefix: str = "maillog2json", schema: str = "native",
                 shared_key: Optional[str] = None, username: Optional[str] = None,
                 password: Optional[str] = None, self_hostname: Optional[str] = None,
                 tls: bool = False, ca_file: Optional[str] = None, tls_verify: bool = True,
                 timeout: float = 10.0, compress: bool = False) -> None:
        self.kind, self.target = parse_address(address)
        self.address = address.strip()
        if not tag_prefix or tag_prefix.startswith(".") or tag_prefix.endswith("."):
            raise ConfigError(f"bad Fluentd tag prefix {tag_prefix!r}: a non-empty tag like 'maillog2json'")
        if schema not in ("native", "ecs"):
            raise ConfigError(f"bad schema {schema!r} for Fluentd: 'native' or 'ecs'")
        if (username is None) != (password is None):
            raise ConfigError("Fluentd user authentication needs both a username and a password")
        if username is not None and shared_key is None:
            raise ConfigError("Fluentd user authentication happens in the shared-key handshake:"
                              " it needs a shared key too")
        if not timeout > 0:
            raise ConfigError(f"bad Fluentd timeout {timeout!r}: a positive number of seconds")
        self.tag_lines = f"{tag_prefix}.lines"
        self.tag_messages = f"{tag_prefix}.messages"
        self._ecs = schema == "ecs"
        self._shared_key = shared_key
        self._username = username
        self._password = password
        self.self_hostname = self_hostname or socket.gethostname()
        self.timeout = float(timeout)
        self.compress = compress
        if ca_file is not None and not tls:
            raise ConfigError("a CA file for Fluentd only makes sense with TLS")
        self._ssl: Optional[ssl.SSLContext] = self._ssl_context(ca_file, tls_verify) if tls else None
        self._sock: Optional[socket.socket] = None
        self._unpacker: Optional[msgpack.Unpacker] = None
        self._keepalive = True
        self._packer = msgpack.Packer(use_bin_type=True)
        self._last_ts: Optional[str] = None
        self._last_prefix = b""

    # -- setup -----------------------------------------------------------------------------
    def _ssl_context(self, ca_file: Optional[str], verify: bool) -> ssl.SSLContext:
        if not verify:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return ctx
        try:
            ctx = ssl.create_default_context(cafile=ca_file)
        except (OSError, ssl.SSLError) as e:
            raise ConfigError(f"cannot use the CA file {ca_file!r} for Fluentd TLS: {e}") from None
        if self.kind == "unix":
            ctx.check_hostname = False      # no host name to check; the chain still is
        return ctx

    # -- the pipeline thread ---------------------------------------------------------------
    def encode(self, doc: Doc) -> Item:
        # a line's time is its header's; a message's is its first line's (as in ECS, where
        # ``first_seen`` is the ``@timestamp``)
        ts = doc["timestamp"] if "timestamp" in doc else doc.get("first_seen")
        if ts is None:
            prefix = event_time_prefix(None)
        elif ts == self._last_ts:
            prefix = self._last_prefix
        else:
            prefix = event_time_prefix(ts)
            self._last_ts, self._last_prefix = ts, prefix
        record = ecs_document(doc) if self._ecs else doc
        route = self.tag_lines if doc.get("type") == "line" else self.tag_messages
        return route, prefix + self._packer.pack(record)

    # -- the worker thread -----------------------------------------------------------------
    def send(self, batch: list[Item]) -> Outcome:
        # one chunk per tag, each in the batch's order: line and message documents
        # interleave, and a chunk per run of one tag would cost an ack round trip per
        # message document. The order between the two tags (two streams) is not kept.
        by_tag: dict[str, list[bytes]] = {}
        for tag, body in batch:
            bodies = by_tag.get(tag)
            if bodies is None:
                by_tag[tag] = bodies = []
            bodies.append(body)
        for tag, bodies in by_tag.items():
            self._send_chunk(tag, bodies)
        return Outcome()

    def close(self) -> None:
        sock, self._sock, self._unpacker = self._sock, None, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def _fail(self, what: str) -> TransportError:
        self.close()
        return TransportError(f"fluentd {self.address}: {what}")

    def _send_chunk(self, tag: str, bodies: list[bytes]) -> None:
        entries = b"".join(bodies)
        chunk = base64.b64encode(os.urandom(16)).decode("ascii")
        option: dict[str, Any] = {"size": len(bodies), "chunk": chunk}
        if self.compress:
            z = zlib.compressobj(6, zlib.DEFLATED, 31)          # 31: a gzip member
            entries = z.compress(entries) + z.flush()
            option["compressed"] = "gzip"
        message = msgpack.packb([tag, entries, option], use_bin_type=True)
        sock = self._connection()
        try:
            sock.sendall(message)
        except TimeoutError:
            raise self._fail(f"timed out after {self.timeout:g}s sending {len(bodies)} events") from None
        except OSError as e:
            raise self._fail(f"sending failed: {e}") from None
        reply = self._read(f"the ack of a chunk of {len(bodies)} events")
        ack = reply.get("ack") if isinstance(reply, dict) else None
        if ack is None:
            if isinstance(reply, (list, tuple)) and reply and reply[0] == "HELO":
                raise self._fail("the server requires the shared-key handshake, but no shared key is set")
            raise self._fail(f"expected an ack, got {reply!r:.200}")
        if _b(ack) != chunk.encode("ascii"):
            raise self._fail(f"ack for another chunk ({_text(ack)!r:.60}, expected {chunk!r})")
        if not self._keepalive:
            self.close()

    def _read(self, what: str) -> Any:
        """The next msgpack object from the server, within the timeout."""
        sock, unpacker = self._sock, self._unpacker
        assert sock is not None and unpacker is not None
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return next(unpacker)
            except StopIteration:
                pass
            except (ValueError, msgpack.UnpackException) as e:
                raise self._fail(f"unreadable reply while waiting for {what}: {e}") from None
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._fail(f"no reply within {self.timeout:g}s while waiting for {what}")
            try:
                sock.settimeout(left)
                data = sock.recv(65536)
            except TimeoutError:
                raise self._fail(f"no reply within {self.timeout:g}s while waiting for {what}") from None
            except OSError as e:
                raise self._fail(f"connection failed while waiting for {what}: {e}") from None
            if not data:
                raise self._fail(f"connection closed by the server while waiting for {what}")
            unpacker.feed(data)

    def _connection(self) -> socket.socket:
        sock = self._sock
        if sock is not None and self._stale(sock):
            self.close()
            sock = None
        if sock is None:
            sock = self._connect()
        sock.settimeout(self.timeout)
        return sock

    @staticmethod
    def _stale(sock: socket.socket) -> bool:
        """Between chunks the server has nothing to say: a readable socket was closed (idle
        timeout, restart) or is out of step, and is replaced rather than failing a send."""
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def _connect(self) -> socket.socket:
        where = self.address
        try:
            if self.kind == "unix":
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    sock.settimeout(self.timeout)
                    sock.connect(self.target)
                except BaseException:
                    sock.close()
                    raise
            else:
                sock = socket.create_connection(self.target, timeout=self.timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except TimeoutError:
            raise TransportError(f"fluentd {where}: connect timed out after {self.timeout:g}s") from None
        except OSError as e:
            raise TransportError(f"fluentd {where}: cannot connect: {e.strerror or e}") from None
        if self._ssl is not None:
            try:
                host = self.target[0] if self.kind == "tcp" else None
                sock = self._ssl.wrap_socket(sock, server_hostname=host)
            except (OSError, ssl.SSLError) as e:
                sock.close()
                raise TransportError(f"fluentd {where}: TLS handshake failed: {e}") from None
        self._sock = sock
        self._unpacker = msgpack.Unpacker(raw=False, unicode_errors="replace")
        self._keepalive = True
        if self._shared_key is not None:
            self._handshake()
        return sock

    def _handshake(self) -> None:
        helo = self._read("the server's HELO")
        if not (isinstance(helo, (list, tuple)) and len(helo) == 2 and helo[0] == "HELO"
                and isinstance(helo[1], dict)):
            raise self._fail(f"expected HELO, got {helo!r:.200}")
        options = helo[1]
        nonce = _b(options.get("nonce"))
        auth = _b(options.get("auth"))
        self._keepalive = options.get("keepalive", True) is not False
        key = self._shared_key.encode("utf-8")      # type: ignore[union-attr]
        host = self.self_hostname
        salt = os.urandom(16).hex()
        digest = _sha512_hex(salt.encode("ascii"), host.encode("utf-8"), nonce, key)
        username = password_digest = ""
        if auth:
            if self._username is None or self._password is None:
                raise self._fail("the server requires a username and password, none is set")
            username = self._username
            password_digest = _sha512_hex(auth, username.encode("utf-8"), self._password.encode("utf-8"))
        ping = msgpack.packb(["PING", host, salt, digest, username, password_digest], use_bin_type=True)
        try:
            self._sock.sendall(ping)                # type: ignore[union-attr]
        except OSError as e:
            raise self._fail(f"sending PING failed: {e}") from None
        pong = self._read("the server's PONG")
        if not (isinstance(pong, (list, tuple)) and len(pong) == 5 and pong[0] == "PONG"):
            raise self._fail(f"expected PONG, got {pong!r:.200}")
        _, ok, reason, server_host, server_digest = pong
        if ok is not True:
            raise self._fail(f"authentication refused by the server: {_text(reason) or 'no reason given'}")
        expected = _sha512_hex(salt.encode("ascii"), _b(server_host), nonce, key)
        if _text(server_digest) != expected:
            raise self._fail(f"the server ({_text(server_host)!r}) did not prove it knows the shared key"
                             " (PONG digest mismatch)")
