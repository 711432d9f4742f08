"""A Fluentd ``forward`` input for tests: strict about the protocol, with fault controls.

It follows the Forward Protocol Specification v1 (the one ``in_forward`` implements) and
checks what a client sends against it; anything off is appended to :attr:`errors` (tests
assert it stays empty) and, where the spec lets a server, the connection is closed without
an ack. What it checks:

* A connection carries a stream of msgpack values, several per connection and split across
  reads anywhere. A ``nil`` is a heartbeat and is ignored; any other non-array is a client
  bug (the server SHOULD ignore it: it is recorded in ``errors`` and skipped).
* The mode is read from the second element: an integer or an EventTime is ``Message``
  ``[tag, time, record(, option)]``; an array is ``Forward`` ``[tag, [[time, record]...](,
  option)]``; ``bin`` or ``str`` is ``PackedForward`` ``[tag, <<entries>>(, option)]``
  (``out_forward`` sends ``str``), and with the option ``compressed: "gzip"`` it is
  ``CompressedPackedForward``, whose entries MUST be ``bin`` and may be several gzip members.
* ``tag`` is a ``str``; ``time`` is an integer (seconds) or an EventTime: ext type 0 of
  exactly 8 bytes, seconds then nanoseconds as unsigned 32-bit big-endian (``fixext 8`` or
  ``ext 8``); a float is refused as ``in_forward`` refuses it; ``record`` is a map. Packed
  entries are ``[time, record]`` arrays filling the (decompressed) stream exactly.
* ``option`` is a map; ``size``, when given, equals the number of entries; ``chunk``, when
  given, is a string and is answered with ``{"ack": chunk}`` (no chunk, no answer).
* With ``shared_key``: the server sends ``["HELO", {"nonce": bin, "auth": bin, "keepalive":
  bool}]`` first; the client's first value must be ``["PING", client_hostname,
  shared_key_salt, sha512_hex(shared_key_salt + client_hostname + nonce + shared_key),
  username, password]`` with ``password == sha512_hex(auth + username + raw_password)`` when
  ``users`` are set (``auth`` non-empty); the answer is ``["PONG", true, "",
  server_hostname, sha512_hex(shared_key_salt + server_hostname + nonce + shared_key)]``, or
  ``["PONG", false, reason, "", ""]`` and the connection is closed.

Events are kept in arrival order as :class:`Event` ``(tag, time, record)``: ``time`` is
nanoseconds (``int``) for an EventTime and seconds (``float``) for an integer time.
UDP heartbeats are not served.

Fault controls, settable at any time (``fault_after`` lets that many messages through
untouched first): ``drop_before_ack`` (close the connection after
reading a message without acking it, that many times; its events are kept unless
``drop_discards``), ``ack_delay`` (seconds to wait before each ack), ``wrong_ack`` (ack
that many messages with another chunk id), ``refuse`` (close connections as soon as they
are accepted), ``pong_digest_wrong`` (answer PING with a bad digest), ``keepalive``
(advertised in HELO; ``False`` closes each connection after its first acked message),
:meth:`close_connections` (as an idle timeout would), :meth:`stop` and :meth:`start`
(listen again on the same port and socket path).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import socket
import ssl
import struct
import threading
import time
from typing import Any, NamedTuple, Optional

import msgpack


class Event(NamedTuple):
    tag: str
    time: Any           # int nanoseconds (EventTime) or float seconds (integer time)
    record: dict


class Message(NamedTuple):
    mode: str           # Message, Forward, PackedForward, CompressedPackedForward
    tag: str
    size: int           # number of events
    option: Optional[dict]
    entries_type: Optional[str]   # PackedForward: "bin" or "str"


class ProtocolError(Exception):
    pass


def _sha512_hex(*parts: bytes) -> str:
    h = hashlib.sha512()
    for p in parts:
        h.update(p)
    return h.hexdigest()


def _as_bytes(v: Any) -> bytes:
    if isinstance(v, bytes):
        return v
    if isinstance(v, str):
        return v.encode("utf-8", "surrogateescape")
    raise ProtocolError(f"expected a string, got {v!r:.80}")


def _unpacker() -> msgpack.Unpacker:
    # surrogateescape: a PackedForward stream sent as ``str`` is arbitrary bytes, recovered
    # exactly by encoding back with the same handler
    return msgpack.Unpacker(raw=False, unicode_errors="surrogateescape", strict_map_key=False)


def _time(v: Any) -> Any:
    if isinstance(v, msgpack.ExtType):
        if v.code != 0 or len(v.data) != 8:
            raise ProtocolError(f"time ext must be type 0 with 8 bytes: {v!r}")
        s, ns = struct.unpack(">II", v.data)
        if ns >= 1_000_000_000:
            raise ProtocolError(f"EventTime nanoseconds out of range: {ns}")
        return s * 1_000_000_000 + ns
    if isinstance(v, int) and not isinstance(v, bool):
        return float(v)
    raise ProtocolError(f"time must be an integer or an EventTime, got {v!r:.80}")


def _entry(tag: str, e: Any) -> Event:
    if not isinstance(e, (list, tuple)) or len(e) != 2:
        raise ProtocolError(f"an entry must be [time, record], got {e!r:.120}")
    t = _time(e[0])
    if not isinstance(e[1], dict):
        raise ProtocolError(f"a record must be a map, got {e[1]!r:.80}")
    return Event(tag, t, e[1])


def _packed_entries(tag: str, data: bytes) -> list[Event]:
    u = _unpacker()
    u.feed(data)
    out, end = [], 0
    for e in u:
        out.append(_entry(tag, e))
        end = u.tell()                  # the end of the last whole entry
    if end != len(data):
        raise ProtocolError(f"entries stream has {len(data) - end} trailing bytes")
    return out


def decode_request(msg: Any) -> tuple[Message, list[Event]]:
    """One request (an array) into its mode and events; ProtocolError if it breaks the spec."""
    if not isinstance(msg, (list, tuple)) or len(msg) < 2:
        raise ProtocolError(f"a request must be an array of 2 to 4 elements, got {msg!r:.120}")
    tag = msg[0]
    if not isinstance(tag, str):
        raise ProtocolError(f"tag must be a str, got {tag!r:.80}")
    second = msg[1]
    entries_type = None
    if isinstance(second, (int, float, msgpack.ExtType)) and not isinstance(second, bool):
        mode = "Message"
        if len(msg) not in (3, 4):
            raise ProtocolError(f"Message mode is [tag, time, record(, option)], got {len(msg)} elements")
        option = msg[3] if len(msg) == 4 else None
        events = [_entry(tag, [second, msg[2]])]
    elif isinstance(second, (list, tuple)):
        mode = "Forward"
        if len(msg) not in (2, 3):
            raise ProtocolError(f"Forward mode is [tag, entries(, option)], got {len(msg)} elements")
        option = msg[2] if len(msg) == 3 else None
        events = [_entry(tag, e) for e in second]
    elif isinstance(second, (bytes, str)):
        if len(msg) not in (2, 3):
            raise ProtocolError(f"PackedForward mode is [tag, entries(, option)], got {len(msg)} elements")
        option = msg[2] if len(msg) == 3 else None
        compressed = isinstance(option, dict) and option.get("compressed") == "gzip"
        entries_type = "bin" if isinstance(second, bytes) else "str"
        data = _as_bytes(second)
        if compressed:
            mode = "CompressedPackedForward"
            if entries_type != "bin":
                raise ProtocolError("CompressedPackedForward entries must be bin")
            try:
                data = gzip.decompress(data)        # all concatenated members
            except (OSError, EOFError) as e:
                raise ProtocolError(f"bad gzip entries: {e}") from None
        else:
            mode = "PackedForward"
        events = _packed_entries(tag, data)
    elif second is None and len(msg) == 2:
        raise ProtocolError("entries are nil")
    else:
        raise ProtocolError(f"cannot tell the mode from {second!r:.80}")
    if option is not None:
        if not isinstance(option, dict):
            raise ProtocolError(f"option must be a map, got {option!r:.80}")
        if "size" in option and option["size"] != len(events):
            raise ProtocolError(f"option size {option['size']!r} but {len(events)} entries")
        if "chunk" in option and not isinstance(option["chunk"], str):
            raise ProtocolError(f"option chunk must be a str, got {option['chunk']!r:.80}")
    return Message(mode, tag, len(events), option, entries_type), events


class FluentdReceiver:
    """A forward input on 127.0.0.1 (an ephemeral port) and optionally a unix socket."""

    def __init__(self, *, shared_key: Optional[str] = None, users: Optional[dict[str, str]] = None,
                 hostname: str = "receiver.test", unix_path: Optional[str] = None,
                 ssl_context: Optional[ssl.SSLContext] = None, keepalive: bool = True) -> None:
        self.shared_key = shared_key
        self.users = users or {}
        self.hostname = hostname
        self.unix_path = unix_path
        self.ssl_context = ssl_context
        self.keepalive = keepalive
        # fault controls
        self.fault_after = 0
        self.drop_before_ack = 0
        self.drop_discards = False
        self.ack_delay = 0.0
        self.wrong_ack = 0
        self.refuse = False
        self.pong_digest_wrong = False
        # what happened
        self.events: list[Event] = []
        self.messages: list[Message] = []
        self.errors: list[str] = []
        self.tls_errors: list[str] = []
        self.auth_failures: list[str] = []
        self.client_hostnames: list[str] = []
        self.connections = 0
        self.port = 0
        self._cond = threading.Condition()
        self._listeners: list[socket.socket] = []
        self._conns: set[socket.socket] = set()
        self._acceptors: list[threading.Thread] = []
        self._threads: list[threading.Thread] = []
        self._running = False

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def unix_address(self) -> str:
        assert self.unix_path is not None
        return f"unix:{self.unix_path}"

    def start(self) -> "FluentdReceiver":
        assert not self._running
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind(("127.0.0.1", self.port))
        self.port = tcp.getsockname()[1]
        listeners = [tcp]
        if self.unix_path is not None:
            if os.path.exists(self.unix_path):
                os.unlink(self.unix_path)
            ux = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            ux.bind(self.unix_path)
            listeners.append(ux)
        self._running = True
        for ls in listeners:
            ls.listen(16)
            ls.settimeout(0.05)
            t = threading.Thread(target=self._accept_loop, args=(ls,), daemon=True)
            t.start()
            self._acceptors.append(t)
        self._listeners = listeners
        return self

    def stop(self) -> None:
        """Stop listening and drop every connection (a down server: connects are refused)."""
        self._running = False
        for t in self._acceptors:       # they poll the flag every 50 ms
            t.join(5)
        self._acceptors = []
        for ls in self._listeners:
            ls.close()
        self._listeners = []
        self.close_connections()
        for t in list(self._threads):
            t.join(5)
        self._threads = [t for t in self._threads if t.is_alive()]
        if self.unix_path is not None and os.path.exists(self.unix_path):
            os.unlink(self.unix_path)

    def close_connections(self) -> None:
        with self._cond:
            conns = list(self._conns)
        for c in conns:
            self._drop(c)

    def __enter__(self) -> "FluentdReceiver":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- results ---------------------------------------------------------------------------
    def wait_for(self, n: int, timeout: float = 5.0) -> list[Event]:
        """The events once at least ``n`` arrived; AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.events) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self.events)} of {n} events arrived in {timeout}s;"
                                         f" errors: {self.errors}")
                self._cond.wait(left)
            return list(self.events)

    def snapshot(self) -> list[Event]:
        with self._cond:
            return list(self.events)

    # -- serving ---------------------------------------------------------------------------
    def _accept_loop(self, ls: socket.socket) -> None:
        while self._running:
            try:
                conn, _ = ls.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.refuse or not self._running:
                conn.close()
                continue
            conn.settimeout(None)
            with self._cond:
                self.connections += 1
                self._conns.add(conn)
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    def _drop(self, conn: socket.socket) -> None:
        with self._cond:
            self._conns.discard(conn)
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        conn.close()

    def _error(self, what: str) -> None:
        with self._cond:
            self.errors.append(what)

    def _serve(self, raw: socket.socket) -> None:
        conn = raw
        try:
            if self.ssl_context is not None:
                try:
                    raw.settimeout(5)
                    conn = self.ssl_context.wrap_socket(raw, server_side=True)
                    conn.settimeout(None)
                except (OSError, ssl.SSLError) as e:
                    with self._cond:
                        self.tls_errors.append(str(e))
                    return
                with self._cond:
                    self._conns.discard(raw)
                    self._conns.add(conn)
            self._session(conn)
        except OSError:
            pass
        finally:
            self._drop(conn)
            if conn is not raw:
                self._drop(raw)

    def _values(self, conn: socket.socket):
        u = _unpacker()
        while True:
            yield from u
            data = conn.recv(65536)
            if not data:
                return
            u.feed(data)

    def _session(self, conn: socket.socket) -> None:
        values = self._values(conn)
        try:
            if self.shared_key is not None and not self._handshake(conn, values):
                return
            for msg in values:
                if msg is None:
                    continue                            # heartbeat
                if not isinstance(msg, (list, tuple)):
                    self._error(f"ignored a non-array request: {msg!r:.80}")
                    continue
                try:
                    m, events = decode_request(msg)
                except ProtocolError as e:
                    self._error(str(e))
                    return                              # close without an ack
                faults = self.fault_after <= 0
                if not faults:
                    self.fault_after -= 1
                if faults and self.drop_before_ack > 0:
                    self.drop_before_ack -= 1
                    if not self.drop_discards:
                        self._record(m, events)
                    return
                self._record(m, events)
                chunk = (m.option or {}).get("chunk")
                if chunk is not None:
                    if faults and self.ack_delay:
                        time.sleep(self.ack_delay)
                    if faults and self.wrong_ack > 0:
                        self.wrong_ack -= 1
                        chunk = "d3JvbmcgY2h1bmsgaWQgISE="
                    conn.sendall(msgpack.packb({"ack": chunk}, use_bin_type=True))
                if not self.keepalive:
                    return
        except OSError:
            raise
        except Exception as e:      # garbage (a TLS hello to a plain port): unhashable keys, ...
            self._error(f"undecodable msgpack stream: {e!r}")

    def _record(self, m: Message, events: list[Event]) -> None:
        with self._cond:
            self.messages.append(m)
            self.events.extend(events)
            self._cond.notify_all()

    def _handshake(self, conn: socket.socket, values) -> bool:
        nonce = os.urandom(16)
        auth = os.urandom(16) if self.users else b""
        conn.sendall(msgpack.packb(["HELO", {"nonce": nonce, "auth": auth, "keepalive": self.keepalive}],
                                   use_bin_type=True))
        ping = next(values, None)
        reason = self._check_ping(ping, nonce, auth)
        if reason is not None:
            with self._cond:
                self.auth_failures.append(reason)
            conn.sendall(msgpack.packb(["PONG", False, reason, "", ""], use_bin_type=True))
            return False
        salt = _as_bytes(ping[2])
        with self._cond:
            self.client_hostnames.append(ping[1])
        key = self.shared_key.encode()          # type: ignore[union-attr]
        digest = _sha512_hex(salt, self.hostname.encode(), nonce, key)
        if self.pong_digest_wrong:
            digest = _sha512_hex(salt, self.hostname.encode(), nonce, b"not the key")
        conn.sendall(msgpack.packb(["PONG", True, "", self.hostname, digest], use_bin_type=True))
        return True

    def _check_ping(self, ping: Any, nonce: bytes, auth: bytes) -> Optional[str]:
        if not (isinstance(ping, (list, tuple)) and len(ping) == 6 and ping[0] == "PING"):
            return "invalid ping message"
        _, hostname, salt, digest, username, password = ping
        if not isinstance(hostname, str) or not isinstance(digest, str) or not isinstance(salt, (str, bytes)):
            return "invalid ping message"
        key = self.shared_key.encode()          # type: ignore[union-attr]
        if digest != _sha512_hex(_as_bytes(salt), hostname.encode(), nonce, key):
            return "shared_key mismatch"
        if auth:
            raw = self.users.get(username) if isinstance(username, str) else None
            if raw is None or password != _sha512_hex(auth, username.encode(), raw.encode()):
                return "username/password mismatch"
        elif username != "" or password != "":
            self._error("PING has a username/password but HELO offered no user authentication")
        return None
