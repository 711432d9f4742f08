"""The Fluentd forward transport against a protocol-exact receiver, over real sockets.

The receiver (tests/fluentd_receiver.py) is first checked against fluent-logger's own sender
and hand-built messages of every mode, then used to test :class:`FluentdTransport`: entries,
tags, acks, gzip, the shared-key handshake, TLS, unix sockets and the failures a retry fixes.
"""

from __future__ import annotations

import base64
import copy
import gzip
import hashlib
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import msgpack
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fluentd_receiver import FluentdReceiver, ProtocolError, decode_request  # noqa: E402

from maillog2json.delivery import ConfigError, Outcome, TransportError  # noqa: E402
from maillog2json.render.ecs import ecs_document  # noqa: E402
from maillog2json.sinks.fluentd import FluentdTransport, event_time_prefix, parse_address  # noqa: E402

KEY = "s3cret-shared-key-value"


@pytest.fixture
def receiver():
    r = FluentdReceiver().start()
    yield r
    r.stop()


# Documents as the pipeline makes them (written out, so that these tests depend on the
# transport only): lines, a message, a line again; a line without a timestamp; non-ASCII.
DOCS = [
    {"type": "line", "_id": "9c175f70266489abac0404a1", "kind": "smtpd.client",
     "timestamp": "2026-11-08T09:15:03+00:00", "host": "mx1", "program": "postfix/smtpd", "daemon": "smtpd",
     "pid": 1234, "queue_id": "3F2A01C0D4", "syslog_name": "postfix", "client": "unknown[192.0.2.7]",
     "client_ip": "192.0.2.7",
     "raw": "Nov  8 09:15:03 mx1 postfix/smtpd[1234]: 3F2A01C0D4: client=unknown[192.0.2.7]"},
    {"type": "line", "_id": "72841e09b3d80a8364ae4a87", "kind": "delivery",
     "timestamp": "2026-11-08T09:15:04.250001+01:00", "host": "mx1", "program": "postfix/smtp",
     "daemon": "smtp", "pid": 1250, "queue_id": "3F2A01C0D4", "syslog_name": "postfix",
     "to": "bob@example.net", "relay": "mx.example.net[198.51.100.9]:25", "relay_port": 25, "delay": 1.2,
     "delays": {"before_qmgr": 0.1, "in_qmgr": 0.01, "conn_setup": 0.5, "transmission": 0.6},
     "dsn": "2.0.0", "status": "sent", "reply": "250 2.0.0 Ok: queued as 9B1E", "reply_code": 250,
     "raw": "Nov  8 09:15:04 mx1 postfix/smtp[1250]: 3F2A01C0D4: to=<bob@example.net>, ..."},
    {"type": "line", "_id": "0c0a6b7cbd7e0e43d1c7d1e5", "kind": "unparsed", "timestamp": None, "host": None,
     "program": None, "daemon": None, "pid": None, "queue_id": None, "unparsed_reason": "header",
     "raw": "gr\u00fc\u00dfe \u2013 no header \U0001f4e7"},
    {"type": "message", "_id": "83ea11bb01e5f599c4e23504", "status": "sent", "complete": True, "host": "mx1",
     "queue_id": "3F2A01C0D4", "queue_ids": ["3F2A01C0D4"], "first_seen": "2026-11-08T09:15:03+00:00",
     "last_seen": "2026-11-08T09:15:04+00:00", "message_id": "20261108091503.1@example.org",
     "from": "ann@example.org", "size": 1432, "nrcpt": 1, "origin": "smtp",
     "recipients": [{"to": "bob@example.net", "orig_to": None, "status": "sent", "dsn": "2.0.0"}],
     "duration": 1.0, "lines": 6},
    {"type": "line", "_id": "5d2b1a11e7f0c3a9b8d4e6f2", "kind": "qmgr.removed",
     "timestamp": "2026-11-08T09:15:04+00:00", "host": "mx1", "program": "postfix/qmgr", "daemon": "qmgr",
     "pid": 981, "queue_id": "3F2A01C0D4", "syslog_name": "postfix",
     "raw": "Nov  8 09:15:04 mx1 postfix/qmgr[981]: 3F2A01C0D4: removed"},
]


@pytest.fixture
def docs():
    return copy.deepcopy(DOCS)


def runs(routes: list[str]) -> list[tuple[str, int]]:
    """(tag, count) of each chunk, as the transport cuts a batch: one per tag, in the order
    the tags first appear."""
    counts: dict[str, int] = {}
    for tag in routes:
        counts[tag] = counts.get(tag, 0) + 1
    return list(counts.items())


def grouped(docs: list[dict]) -> list[dict]:
    """The order in which one batch of ``docs`` arrives: each tag's documents in their own
    order, the tags in the order they first appear (lines and messages are two streams)."""
    order: dict[str, list[dict]] = {}
    for d in docs:
        order.setdefault(d["type"], []).append(d)
    return [d for group in order.values() for d in group]


def connect(r: FluentdReceiver) -> socket.socket:
    return socket.create_connection(("127.0.0.1", r.port), timeout=2)


def read_reply(s: socket.socket, u: msgpack.Unpacker | None = None):
    """The next value the server sends (None at EOF); pass one Unpacker for several."""
    u = u if u is not None else msgpack.Unpacker(raw=False)
    while True:
        try:
            return next(u)
        except StopIteration:
            data = s.recv(4096)
            if not data:
                return None
            u.feed(data)


def et(seconds: int, nanos: int) -> msgpack.ExtType:
    return msgpack.ExtType(0, struct.pack(">II", seconds, nanos))


def unpack_body(body: bytes):
    return msgpack.unpackb(body, raw=False)


def ids(events) -> list:
    return [e.record.get("_id") or e.record.get("maillog2json", {}).get("id") for e in events]


def first_occurrences(seq: list) -> list:
    seen, out = set(), []
    for x in seq:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


# -- the receiver is exact -------------------------------------------------------------------
def test_receiver_against_fluent_logger_sender(receiver):
    from fluent import sender as fluent_sender

    ns = fluent_sender.FluentSender("app", host="127.0.0.1", port=receiver.port, nanosecond_precision=True)
    try:
        before = time.time_ns()
        assert ns.emit("mail", {"msg": "hello", "n": 1})
        assert ns.emit_with_time("mail", 1700000000.25, {"msg": "at a time"})
    finally:
        ns.close()
    receiver.wait_for(2)     # each connection has its own thread: keep the order of the two senders
    plain = fluent_sender.FluentSender("app", host="127.0.0.1", port=receiver.port)
    try:
        assert plain.emit_with_time("int", 1700000001, {"msg": "seconds"})
    finally:
        plain.close()
    ev = receiver.wait_for(3)
    assert receiver.errors == []
    assert [m.mode for m in receiver.messages] == ["Message"] * 3
    assert ev[0].tag == "app.mail" and ev[0].record == {"msg": "hello", "n": 1}
    assert isinstance(ev[0].time, int) and before - 10**9 <= ev[0].time <= time.time_ns()
    assert ev[1].time == 1700000000 * 10**9 + 250_000_000
    assert ev[2] == ("app.int", 1700000001.0, {"msg": "seconds"})


def test_receiver_decodes_every_mode_on_one_stream(receiver):
    e1, e2 = [et(1700000000, 1), {"a": 1}], [1700000002, {"b": "x"}]
    packed = msgpack.packb(e1) + msgpack.packb(e2)
    stream = b"".join([
        msgpack.packb(None),                                                  # heartbeat
        msgpack.packb(["t.msg", et(1700000000, 5), {"m": 1}]),
        msgpack.packb(["t.msg", 1700000001, {"m": 2}, {"chunk": "c1"}]),
        msgpack.packb(["t.fwd", [e1, e2], {"size": 2, "chunk": "c2"}]),
        msgpack.packb(["t.pk", packed, {"size": 2, "chunk": "c3"}], use_bin_type=True),
        # out_forward's spelling: the entries as msgpack str (not valid UTF-8 here)
        msgpack.packb(["t.pkstr", packed, {"chunk": "c4"}], use_bin_type=False),
        # two gzip members, as the spec allows
        msgpack.packb(["t.gz", gzip.compress(msgpack.packb(e1)) + gzip.compress(msgpack.packb(e2)),
                       {"size": 2, "chunk": "c5", "compressed": "gzip"}], use_bin_type=True),
        # EventTime as ext 8 rather than fixext 8
        b"\x93" + msgpack.packb("t.ext8") + b"\xc7\x08\x00" + struct.pack(">II", 1700000003, 7)
        + msgpack.packb({"e": 8}),
    ])
    with connect(receiver) as s:
        for i in range(0, len(stream), 7):          # arbitrary splits
            s.sendall(stream[i:i + 7])
        u = msgpack.Unpacker(raw=False)
        acks = [read_reply(s, u) for _ in range(5)]
    assert acks == [{"ack": f"c{i}"} for i in range(1, 6)]
    ev = receiver.wait_for(11)
    assert receiver.errors == []
    assert [(m.mode, m.tag, m.size, m.entries_type) for m in receiver.messages] == [
        ("Message", "t.msg", 1, None), ("Message", "t.msg", 1, None), ("Forward", "t.fwd", 2, None),
        ("PackedForward", "t.pk", 2, "bin"), ("PackedForward", "t.pkstr", 2, "str"),
        ("CompressedPackedForward", "t.gz", 2, "bin"), ("Message", "t.ext8", 1, None)]
    assert ev[0] == ("t.msg", 1700000000 * 10**9 + 5, {"m": 1})
    assert ev[1] == ("t.msg", 1700000001.0, {"m": 2})
    pairs = [(1700000000 * 10**9 + 1, {"a": 1}), (1700000002.0, {"b": "x"})]
    for tag, at in (("t.fwd", 2), ("t.pk", 4), ("t.pkstr", 6), ("t.gz", 8)):
        assert [(e.tag, e.time, e.record) for e in ev[at:at + 2]] == [(tag, *p) for p in pairs]
    assert len(ev) == 11 and ev[10] == ("t.ext8", 1700000003 * 10**9 + 7, {"e": 8})


@pytest.mark.parametrize("msg, why", [
    (["t", [[1, {"a": 1}]], {"size": 2, "chunk": "x"}], "size"),
    (["t", 1.5, {"a": 1}], "time"),
    (["t", msgpack.ExtType(0, b"\0" * 4), {"a": 1}], "ext"),
    ([b"t", 1, {"a": 1}], "tag"),
    (["t", 1, "not a map"], "record"),
    (["t", msgpack.packb([1, {"a": 1}]) + b"\x92", {}], "trailing"),
    (["t", "text", {"compressed": "gzip"}], "bin"),
])
def test_receiver_rejects_what_breaks_the_spec(msg, why):
    with pytest.raises(ProtocolError, match=why):
        decode_request(msgpack.unpackb(msgpack.packb(msg, use_bin_type=True), raw=False,
                                       unicode_errors="surrogateescape"))


def test_receiver_closes_without_ack_on_a_bad_request(receiver):
    with connect(receiver) as s:
        s.sendall(msgpack.packb(["t", [[1, {"a": 1}]], {"size": 3, "chunk": "x"}]))
        assert read_reply(s) is None                # closed, no ack
    assert receiver.errors and "size" in receiver.errors[0]
    assert receiver.snapshot() == []


# -- encode ------------------------------------------------------------------------------------
def test_encode_tags_event_time_and_records(docs):
    t = FluentdTransport("127.0.0.1:1", tag_prefix="mail")
    line = next(d for d in docs if d["type"] == "line")
    message = next(d for d in docs if d["type"] == "message")
    route, body = t.encode(line)
    assert route == "mail.lines"
    assert body[:3] == b"\x92\xd7\x00"               # [fixext 8 type 0, ...]
    when, record = unpack_body(body)
    assert record == line
    want = int(datetime.fromisoformat(line["timestamp"]).timestamp())
    assert when == et(want, 0)
    route, body = t.encode(message)
    assert route == "mail.messages"
    when, record = unpack_body(body)
    assert record == message
    assert when == et(int(datetime.fromisoformat(message["first_seen"]).timestamp()), 0)


@pytest.mark.parametrize("ts, seconds, nanos", [
    ("2025-03-01T10:00:00.123456+01:00", 1740819600, 123456000),
    ("2025-03-01T09:00:00.123456789Z", 1740819600, 123456789),
    ("2025-03-01T04:30:00.5-04:30", 1740819600, 500000000),
    ("2016-12-31T23:59:60+00:00", 1483228800, 0),       # a leap second: the next second
    ("1970-01-01T00:00:00+00:00", 0, 0),
])
def test_event_time_is_exact(ts, seconds, nanos):
    t = FluentdTransport("127.0.0.1:1")
    when, _ = unpack_body(t.encode({"type": "line", "timestamp": ts})[1])
    assert when == et(seconds, nanos)
    assert event_time_prefix(ts)[1:] == msgpack.packb(et(seconds, nanos))


def test_event_time_without_a_timestamp_is_now_and_consecutive_docs_share_it():
    t = FluentdTransport("127.0.0.1:1")
    before = time.time_ns()
    when, _ = unpack_body(t.encode({"type": "line", "timestamp": None})[1])
    s, ns = struct.unpack(">II", when.data)
    assert before - 10**9 <= s * 10**9 + ns <= time.time_ns()
    garbage, _ = unpack_body(t.encode({"type": "line", "timestamp": "yesterday"})[1])
    assert abs(struct.unpack(">II", garbage.data)[0] - time.time()) < 5
    a = t.encode({"type": "line", "timestamp": "2025-03-01T10:00:00+01:00", "n": 1})[1]
    b = t.encode({"type": "line", "timestamp": "2025-03-01T10:00:00+01:00", "n": 1})[1]
    assert a == b and t._last_ts == "2025-03-01T10:00:00+01:00"


def test_encode_ecs_schema(docs):
    t = FluentdTransport("127.0.0.1:1", schema="ecs")
    for d in docs:
        _, record = unpack_body(t.encode(d)[1])
        assert record == ecs_document(d)
        assert record["maillog2json"]["id"] == d["_id"] and "_id" not in record


# -- send --------------------------------------------------------------------------------------
def test_send_delivers_in_order_with_acks_and_keeps_the_connection(receiver, docs):
    t = FluentdTransport(receiver.address, timeout=2)
    batch = [t.encode(d) for d in docs]
    assert t.send(batch) == Outcome()
    second = [t.encode(d) for d in docs[:2]]
    assert t.send(second) == Outcome()
    t.close()
    ev = receiver.wait_for(len(docs) + 2)
    assert receiver.errors == []
    assert [e.record for e in ev] == grouped(docs) + grouped(docs[:2])
    # one PackedForward per tag of a batch, with size and a 128-bit chunk id
    sent = runs([r for r, _ in batch]) + runs([r for r, _ in second])
    assert sent == [("maillog2json.lines", 4), ("maillog2json.messages", 1), ("maillog2json.lines", 2)]
    assert [e.tag for e in ev] == [tag for tag, n in sent for _ in range(n)]
    assert [(m.mode, m.tag, m.size, m.entries_type) for m in receiver.messages] == [
        ("PackedForward", tag, n, "bin") for tag, n in sent]
    assert all(m.option["size"] == m.size for m in receiver.messages)
    chunks = [m.option["chunk"] for m in receiver.messages]
    assert len(set(chunks)) == 3 and all(len(base64.b64decode(c)) == 16 for c in chunks)
    assert receiver.connections == 1
    assert ev[0].time == int(datetime.fromisoformat(docs[0]["timestamp"]).timestamp()) * 10**9
    assert ev[1].time == int(datetime.fromisoformat(docs[1]["timestamp"]).timestamp()) * 10**9 + 250_001_000


def test_send_empty_batch_sends_nothing(receiver):
    t = FluentdTransport(receiver.address, timeout=1)
    assert t.send([]) == Outcome()
    assert receiver.connections == 0


def test_compress(receiver, docs):
    t = FluentdTransport(receiver.address, timeout=2, compress=True)
    t.send([t.encode(d) for d in docs])
    t.close()
    ev = receiver.wait_for(len(docs))
    assert receiver.errors == []
    assert [e.record for e in ev] == grouped(docs)
    assert {m.mode for m in receiver.messages} == {"CompressedPackedForward"}
    assert all(m.option["compressed"] == "gzip" for m in receiver.messages)


def test_unix_socket(tmp_path, docs):
    with FluentdReceiver(unix_path=str(tmp_path / "fluentd.sock")) as r:
        t = FluentdTransport(r.unix_address, timeout=2)
        t.send([t.encode(d) for d in docs])
        t.close()
        assert [e.record for e in r.wait_for(len(docs))] == grouped(docs)


# -- handshake ---------------------------------------------------------------------------------
def test_handshake_with_the_right_key(docs):
    with FluentdReceiver(shared_key=KEY) as r:
        t = FluentdTransport(r.address, shared_key=KEY, self_hostname="mx1.example.org", timeout=2)
        t.send([t.encode(d) for d in docs])
        t.send([t.encode(docs[0])])
        t.close()
        assert [e.record for e in r.wait_for(len(docs) + 1)] == grouped(docs) + docs[:1]
        assert r.errors == [] and r.auth_failures == []
        assert r.client_hostnames == ["mx1.example.org"]
        assert r.connections == 1


def test_handshake_with_a_wrong_key(docs):
    with FluentdReceiver(shared_key=KEY) as r:
        wrong = "wrong-key-do-not-print"
        t = FluentdTransport(r.address, shared_key=wrong, timeout=2)
        with pytest.raises(TransportError) as exc:
            t.send([t.encode(docs[0])])
        msg = str(exc.value)
        assert "shared_key mismatch" in msg and r.address in msg
        assert wrong not in msg and KEY not in msg
        assert r.auth_failures == ["shared_key mismatch"] and r.snapshot() == []


def test_handshake_with_username_and_password(docs):
    with FluentdReceiver(shared_key=KEY, users={"mta": "pw-1"}) as r:
        good = FluentdTransport(r.address, shared_key=KEY, username="mta", password="pw-1", timeout=2)
        good.send([good.encode(docs[0])])
        good.close()
        assert [e.record for e in r.wait_for(1)] == docs[:1]
        bad = FluentdTransport(r.address, shared_key=KEY, username="mta", password="pw-2", timeout=2)
        with pytest.raises(TransportError, match="username/password mismatch") as exc:
            bad.send([bad.encode(docs[0])])
        assert "pw-2" not in str(exc.value)
        none = FluentdTransport(r.address, shared_key=KEY, timeout=2)
        with pytest.raises(TransportError, match="requires a username and password"):
            none.send([none.encode(docs[0])])
        assert len(r.snapshot()) == 1 and r.errors == []


def test_handshake_checks_the_servers_digest(docs):
    with FluentdReceiver(shared_key=KEY) as r:
        r.pong_digest_wrong = True
        t = FluentdTransport(r.address, shared_key=KEY, timeout=2)
        with pytest.raises(TransportError, match="did not prove it knows the shared key"):
            t.send([t.encode(docs[0])])
        assert r.snapshot() == []


def test_handshake_required_but_no_key_set(docs):
    with FluentdReceiver(shared_key=KEY) as r:
        t = FluentdTransport(r.address, timeout=2)
        with pytest.raises(TransportError, match="requires the shared-key handshake"):
            t.send([t.encode(docs[0])])


def test_server_without_keepalive(docs):
    with FluentdReceiver(shared_key=KEY, keepalive=False) as r:
        t = FluentdTransport(r.address, shared_key=KEY, timeout=2)
        t.send([t.encode(docs[0])])
        t.send([t.encode(docs[1])])
        t.close()
        assert [e.record for e in r.wait_for(2)] == docs[:2]
        assert r.connections == 2 and r.errors == []


def test_handshake_digests_follow_the_spec():
    """The PING as sent, checked here independently of the receiver's own check."""
    nonce, auth = os.urandom(16), os.urandom(16)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    t = FluentdTransport(f"127.0.0.1:{srv.getsockname()[1]}", shared_key=KEY, username="u", password="p",
                         self_hostname="client.example", timeout=2)
    seen = {}

    def serve():
        c, _ = srv.accept()
        with c:
            c.sendall(msgpack.packb(["HELO", {"nonce": nonce, "auth": auth, "keepalive": True}],
                                    use_bin_type=True))
            u = msgpack.Unpacker(raw=False)
            while "ping" not in seen:
                u.feed(c.recv(4096))
                for v in u:
                    seen["ping"] = v
            salt = seen["ping"][2].encode()
            digest = hashlib.sha512(salt + b"srv.example" + nonce + KEY.encode()).hexdigest()
            c.sendall(msgpack.packb(["PONG", True, "", "srv.example", digest]))
            while True:
                data = c.recv(4096)
                if not data:
                    return
                u.feed(data)
                for v in u:
                    c.sendall(msgpack.packb({"ack": v[2]["chunk"]}))

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    t.send([t.encode({"type": "line", "timestamp": None})])
    t.close()
    th.join(2)
    srv.close()
    ping = seen["ping"]
    assert ping[0] == "PING" and ping[1] == "client.example" and ping[4] == "u"
    salt = ping[2].encode()
    assert ping[3] == hashlib.sha512(salt + b"client.example" + nonce + KEY.encode()).hexdigest()
    assert ping[5] == hashlib.sha512(auth + b"u" + b"p").hexdigest()


# -- TLS ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 and localhost: (cert file, key file)."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    try:
        import datetime as dt
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        if shutil.which("openssl") is None:
            pytest.skip("neither the cryptography package nor the openssl command is available")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                        "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                       check=True, capture_output=True)
        return str(cert), str(key)
    pk = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    c = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(pk.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=2))
         .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                     x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                        critical=False)
         .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
         .sign(pk, hashes.SHA256()))
    cert.write_bytes(c.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(pk.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))
    return str(cert), str(key)


def tls_receiver(certificate, **kw) -> FluentdReceiver:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*certificate)
    return FluentdReceiver(ssl_context=ctx, **kw)


def test_tls_with_ca_file_and_shared_key(certificate, docs):
    with tls_receiver(certificate, shared_key=KEY) as r:
        t = FluentdTransport(r.address, tls=True, ca_file=certificate[0], shared_key=KEY, timeout=2)
        t.send([t.encode(d) for d in docs])
        t.send([t.encode(docs[0])])
        t.close()
        assert [e.record for e in r.wait_for(len(docs) + 1)] == grouped(docs) + docs[:1]
        assert r.errors == [] and r.tls_errors == []
        assert r.connections == 1                   # the TLS session is kept between sends


def test_tls_refuses_an_untrusted_certificate_unless_told(certificate, docs):
    with tls_receiver(certificate) as r:
        t = FluentdTransport(r.address, tls=True, timeout=2)
        with pytest.raises(TransportError, match="TLS handshake failed.*CERTIFICATE_VERIFY_FAILED"):
            t.send([t.encode(docs[0])])
        assert r.snapshot() == []
        lax = FluentdTransport(r.address, tls=True, tls_verify=False, timeout=2)
        lax.send([lax.encode(docs[0])])
        lax.close()
        assert [e.record for e in r.wait_for(1)] == docs[:1]


def test_tls_against_a_plain_server_fails(receiver, docs):
    t = FluentdTransport(receiver.address, tls=True, tls_verify=False, timeout=0.5)
    with pytest.raises(TransportError):
        t.send([t.encode(docs[0])])


# -- faults: each is a TransportError, and the retry (the worker calls send again) works ---------
def test_drop_before_ack_then_retry_delivers_everything_in_order(receiver, docs):
    t = FluentdTransport(receiver.address, timeout=2)
    batch = [t.encode(d) for d in docs]             # two chunks: the 4 lines, then the message
    receiver.drop_before_ack = 1
    with pytest.raises(TransportError, match="closed by the server while waiting for the ack"):
        t.send(batch)
    assert t.send(batch) == Outcome()
    t.close()
    want = grouped(docs)
    ev = receiver.wait_for(4 + len(docs))          # the dropped chunk's 4 were kept: twice
    assert ids(ev) == [d["_id"] for d in want[:4] + want]
    assert first_occurrences(ids(ev)) == [d["_id"] for d in want]
    assert receiver.errors == []


def test_failure_in_a_later_run_resends_the_acked_run(receiver, docs):
    """At least once: the batch's first run (the lines) is acked, its second (the message) is
    dropped unread; the retry sends the whole batch, the acked run included."""
    t = FluentdTransport(receiver.address, timeout=2)
    batch = [t.encode(d) for d in docs]
    receiver.fault_after = 1
    receiver.drop_before_ack = 1
    receiver.drop_discards = True
    with pytest.raises(TransportError):
        t.send(batch)
    assert t.send(batch) == Outcome()
    t.close()
    want = [d["_id"] for d in grouped(docs)]
    assert ids(receiver.wait_for(4 + len(want))) == want[:4] + want
    assert receiver.errors == []


def test_ack_later_than_the_timeout(receiver, docs):
    t = FluentdTransport(receiver.address, timeout=0.2)
    receiver.ack_delay = 0.5
    start = time.monotonic()
    with pytest.raises(TransportError, match=r"no reply within 0.2s"):
        t.send([t.encode(docs[0])])
    assert time.monotonic() - start < 0.45
    receiver.ack_delay = 0
    t.send([t.encode(docs[1])])
    t.close()
    assert first_occurrences(ids(receiver.wait_for(2))) == [docs[0]["_id"], docs[1]["_id"]]


def test_wrong_ack_id(receiver, docs):
    t = FluentdTransport(receiver.address, timeout=1)
    receiver.wrong_ack = 1
    with pytest.raises(TransportError, match="ack for another chunk"):
        t.send([t.encode(docs[0])])
    t.send([t.encode(docs[0])])
    t.close()
    assert receiver.connections == 2              # the connection was not trusted again


def test_receiver_down_then_up_again(receiver, docs):
    t = FluentdTransport(receiver.address, timeout=1)
    t.send([t.encode(docs[0])])
    receiver.stop()
    with pytest.raises(TransportError, match=rf"fluentd {receiver.address}: cannot connect: Connection refused"):
        t.send([t.encode(docs[1])])
    receiver.start()
    t.send([t.encode(docs[1])])
    t.close()
    assert ids(receiver.wait_for(2)) == [docs[0]["_id"], docs[1]["_id"]]


def test_refused_at_accept(receiver, docs):
    receiver.refuse = True
    t = FluentdTransport(receiver.address, timeout=1)
    # EOF or a reset, depending on whether the PackedForward was already on its way
    with pytest.raises(TransportError, match=r"closed by the server|reset by peer|Broken pipe"):
        t.send([t.encode(docs[0])])
    receiver.refuse = False
    t.send([t.encode(docs[0])])
    t.close()
    assert ids(receiver.wait_for(1)) == [docs[0]["_id"]]


def test_idle_connection_closed_by_the_server_is_replaced_silently(receiver, docs):
    t = FluentdTransport(receiver.address, timeout=1)
    t.send([t.encode(docs[0])])
    receiver.close_connections()
    time.sleep(0.05)
    t.send([t.encode(docs[1])])                     # no error: reconnects
    t.close()
    assert ids(receiver.wait_for(2)) == [docs[0]["_id"], docs[1]["_id"]]
    assert receiver.connections == 2


# -- configuration -----------------------------------------------------------------------------
@pytest.mark.parametrize("address", ["", "  ", "localhost", "localhost:", ":24224", "localhost:http",
                                     "localhost:0", "localhost:65536", "::1:24224", "[::1]", "[::1:24224",
                                     "[]:24224", "unix:", "unix://"])
def test_bad_address(address):
    with pytest.raises(ConfigError, match="Fluentd address"):
        FluentdTransport(address)


def test_addresses():
    assert parse_address("fluentd.example:24224") == ("tcp", ("fluentd.example", 24224))
    assert parse_address("[::1]:24225") == ("tcp", ("::1", 24225))
    assert parse_address("unix:/run/fluentd.sock") == ("unix", "/run/fluentd.sock")
    assert parse_address("unix:///run/fluentd.sock") == ("unix", "/run/fluentd.sock")


@pytest.mark.parametrize("kw, match", [
    ({"schema": "json"}, "schema"),
    ({"tag_prefix": ""}, "tag prefix"),
    ({"username": "u"}, "username and a password"),
    ({"username": "u", "password": "p"}, "shared key"),
    ({"tls": True, "ca_file": "/nonexistent/ca.pem"}, "CA file"),
    ({"ca_file": "/nonexistent/ca.pem"}, "only makes sense with TLS"),
    ({"timeout": 0}, "timeout"),
])
def test_bad_settings(kw, match):
    with pytest.raises(ConfigError, match=match):
        FluentdTransport("127.0.0.1:24224", **kw)


def test_ipv6_loopback(docs):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    srv = socket.socket(socket.AF_INET6)
    try:
        srv.bind(("::1", 0))
    except OSError as e:
        srv.close()
        pytest.skip(f"no IPv6 loopback: {e}")
    port = srv.getsockname()[1]
    srv.close()
    t = FluentdTransport(f"[::1]:{port}", timeout=1)
    with pytest.raises(TransportError, match=rf"\[::1\]:{port}: cannot connect"):
        t.send([t.encode(docs[0])])
