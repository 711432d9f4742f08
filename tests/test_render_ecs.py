"""The ECS renderer (maillog2json/render/ecs.py, documented in docs/ecs.md)."""

from __future__ import annotations

import copy
import ipaddress
from datetime import datetime
from typing import Any

import orjson
import pytest
from helpers import SAMPLES, docs_for, need_shared, pipeline_docs

from maillog2json.render import RENDERERS
from maillog2json.render.ecs import ecs, ecs_document, ecs_id

TRADITIONAL = SAMPLES / "realpostfix-seed7" / "mail.traditional.log"
CORPORA = [TRADITIONAL, SAMPLES / "realpostfix-seed7" / "mail.rfc5424.log", SAMPLES / "maillog-small.log"]

_MISSING = object()


def get(doc: dict[str, Any], path: str) -> Any:
    """The value at a dotted path, or _MISSING."""
    cur: Any = doc
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return _MISSING
        cur = cur[part]
    return cur


def render(doc: dict[str, Any]) -> dict[str, Any]:
    """The ECS document as it leaves the renderer, read back."""
    return orjson.loads(ecs(doc))


def line(text: str, **options: Any) -> dict[str, Any]:
    """The ECS rendering of one line's document."""
    (doc,) = docs_for([text], **options)
    return render(doc)


_CORPUS_CACHE: dict[str, list[dict[str, Any]]] = {}


def corpus(path: Any) -> list[dict[str, Any]]:
    """Line and message documents of a sample file (computed once)."""
    key = str(path)
    if key not in _CORPUS_CACHE:
        _CORPUS_CACHE[key] = pipeline_docs(path.read_bytes().splitlines())
    return _CORPUS_CACHE[key]


# -- the expected mapping, written independently of the renderer's tables -----------------------
LINE_PATHS: dict[str, tuple[str, ...]] = {
    "_id": ("maillog2json.id",),
    "type": ("maillog2json.type",),
    "kind": ("event.action", "maillog2json.kind"),
    "timestamp": ("@timestamp",),
    "host": ("host.hostname",),
    "program": ("log.syslog.appname",),
    "daemon": ("process.name",),
    "pid": ("process.pid",),
    "queue_id": ("email.local_id",),
    "raw": ("event.original",),
    "facility": ("log.syslog.facility.name",),
    "severity": ("log.syslog.severity.name",),
    "syslog_msgid": ("log.syslog.msgid",),
    "structured_data": ("maillog2json.structured_data",),
    "journal_cursor": ("maillog2json.journal_cursor",),
    "level": ("log.level",),
    "error": ("error.message",),
    "message_id": ("email.message_id",),
    "client_ip": ("source.ip",),
    "client_host": ("source.domain",),
    "client_port": ("source.port",),
    "server_ip": ("destination.ip",),
    "server_port": ("destination.port",),
    "relay_ip": ("destination.ip",),
    "relay_host": ("destination.domain",),
    "relay_port": ("destination.port",),
    "sasl_username": ("user.name",),
    "user": ("user.name",),
    "tls_cipher": ("tls.cipher",),
    "tls": ("tls.established",),
    "unparsed_reason": ("maillog2json.unparsed_reason",),
    "truncated": ("maillog2json.truncated",),
    "raw_length": ("maillog2json.raw_length",),
    "invalid_utf8": ("maillog2json.invalid_utf8",),
}
LIST_PATHS = {"from": "email.from.address", "to": "email.to.address"}


OTHER_FAMILIES = ("amavis", "spamd", "rspamd", "clamav", "opendkim", "opendmarc", "policyd_spf", "postgrey",
                  "sendmail", "qmail", "mailscanner")


def namespace(kind: str) -> str:
    """The namespace docs/ecs.md gives for a kind's fields."""
    first = kind.split(".", 1)[0]
    if first in ("dovecot", "pam"):
        return "dovecot"
    if first in ("unparsed", "syslog"):
        return "maillog2json"
    if first == "sendmail" and kind.rpartition(".")[2] in ("warning", "error", "fatal", "panic", "info"):
        return "postfix"        # Postfix's sendmail(1): sendmail.fatal
    if first in OTHER_FAMILIES:
        return first
    return "postfix"


def missing_line_fields(native: dict[str, Any], out: dict[str, Any]) -> list[tuple[str, Any]]:
    """The native (field, value) pairs not found at their mapped place in ``out``."""
    ns = namespace(native["kind"])
    lost = []
    for k, v in native.items():
        if v is None:
            continue
        fallback = get(out, f"{ns}.{k}")
        if fallback == v:
            continue
        if k in LIST_PATHS:
            found = get(out, LIST_PATHS[k])
            ok = found == (v if isinstance(v, list) else [v])
        elif k == "tls_version":
            ok = f"{get(out, 'tls.version_protocol')}v{get(out, 'tls.version')}".lower() == v.lower()
        elif k in LINE_PATHS:
            ok = all(get(out, p) == v for p in LINE_PATHS[k])
        else:
            ok = False
        if not ok:
            lost.append((k, v))
    return lost


def missing_message_fields(native: dict[str, Any], out: dict[str, Any]) -> list[tuple[str, Any]]:
    """The same for a message document."""
    simple = {"_id": "maillog2json.id", "type": "maillog2json.type", "first_seen": "@timestamp",
              "last_seen": "event.end", "host": "host.hostname", "queue_id": "email.local_id",
              "message_id": "email.message_id"}
    client = {"ip": "source.ip", "host": "source.domain", "port": "source.port", "sasl_username": "user.name"}
    lost = []
    for k, v in native.items():
        if v is None:
            continue
        if k in simple:
            ok = get(out, simple[k]) == v
        elif k == "from":
            ok = get(out, "email.from.address") == [v]
        elif k == "duration":
            ok = get(out, "event.duration") == round(v * 1e9)
        elif k == "client":
            ok = all(cv is None or get(out, client.get(ck, "")) == cv
                     or get(out, f"maillog2json.message.client.{ck}") == cv for ck, cv in v.items())
        else:
            ok = get(out, f"maillog2json.message.{k}") == v
        if not ok:
            lost.append((k, v))
    return lost


# -- tests ---------------------------------------------------------------------------------------
class TestRegistration:
    """The renderer is registered under "ecs" and selected by Options.schema."""

    def test_registered(self) -> None:
        """RENDERERS maps "ecs" to this renderer."""
        assert RENDERERS["ecs"] is ecs

    def test_pipeline_uses_it(self) -> None:
        """A pipeline with Options.schema "ecs" writes ECS documents."""
        (doc,) = docs_for(["Nov 28 22:48:09 mail1 postfix/smtpd[6990]: connect from localhost[127.0.0.1]"],
                          schema="ecs")
        assert doc["event"]["action"] == "smtpd.connect"
        assert doc["source"] == {"domain": "localhost", "ip": "127.0.0.1"}

    def test_one_object_and_newline(self) -> None:
        """The renderer writes one JSON object and one newline."""
        (doc,) = docs_for(["Nov 28 22:48:09 mail1 postfix/qmgr[6921]: 49A8B160526: removed"])
        data = ecs(doc)
        assert data.endswith(b"\n") and data.count(b"\n") == 1
        assert isinstance(orjson.loads(data), dict)


class TestPostfixLines:
    """Real Postfix lines map to the ECS fields docs/ecs.md gives."""

    def test_smtpd_reject(self) -> None:
        """A NOQUEUE reject: client to source.*, envelope to email.*, a denied failure."""
        out = line("Nov 28 22:48:09 mail1 postfix/smtpd[6990]: NOQUEUE: reject: RCPT from localhost[127.0.0.1]: "
                   "550 5.1.2 <someone@unknown.test>: Recipient address rejected: domain unknown.test does not "
                   "accept mail; from=<carol@example.test> to=<someone@unknown.test> proto=ESMTP "
                   "helo=<ws0007.lan.example.net>")
        assert out["@timestamp"] == "2026-11-28T22:48:09+00:00"
        assert out["host"] == {"hostname": "mail1"}
        assert out["process"] == {"pid": 6990, "name": "smtpd"}
        assert out["log"]["syslog"]["appname"] == "postfix/smtpd"
        assert out["source"] == {"domain": "localhost", "ip": "127.0.0.1"}
        assert out["email"] == {"from": {"address": ["carol@example.test"]},
                                "to": {"address": ["someone@unknown.test"]}}
        assert "local_id" not in out["email"]
        ev = out["event"]
        assert (ev["kind"], ev["dataset"], ev["module"], ev["action"]) == (
            "event", "maillog2json.line", "postfix", "smtpd.reject")
        assert (ev["category"], ev["type"], ev["outcome"]) == (["email"], ["denied"], "failure")
        assert out["postfix"]["code"] == 550 and out["postfix"]["dsn"] == "5.1.2"
        assert out["postfix"]["helo"] == "ws0007.lan.example.net"
        assert out["related"] == {"ip": ["127.0.0.1"], "hosts": ["localhost", "ws0007.lan.example.net"]}

    def test_delivery(self) -> None:
        """A bounced delivery: relay to destination.*, delays kept as an object, outcome failure."""
        out = line("Nov 28 22:48:09 mail1 postfix/smtp[7132]: 5BC52160535: to=<rej@relay.test>, "
                   "relay=127.0.0.1[127.0.0.1]:2525, delay=0.23, delays=0/0.12/0.1/0.01, dsn=5.7.1, "
                   "status=bounced (host 127.0.0.1[127.0.0.1] said: 554 5.7.1 <rej@relay.test>: Recipient "
                   "address rejected: no such user here (remote policy) (in reply to RCPT TO command))")
        assert out["email"] == {"local_id": "5BC52160535", "to": {"address": ["rej@relay.test"]}}
        assert out["destination"] == {"domain": "127.0.0.1", "ip": "127.0.0.1", "port": 2525}
        assert out["event"]["outcome"] == "failure"
        assert out["postfix"]["delays"] == {"before_qmgr": 0.0, "in_qmgr": 0.12, "conn_setup": 0.1,
                                            "transmission": 0.01}
        assert out["postfix"]["status"] == "bounced" and out["postfix"]["reply_code"] == 554

    def test_delivery_sent_is_success(self) -> None:
        """A sent LMTP delivery over a socket: success, no destination.ip."""
        out = line("Nov 28 22:48:09 mail1 postfix/lmtp[7110]: 49A8B160526: to=<bob@example.test>, "
                   "relay=mx.example.test[private/dovecot-lmtp], delay=0.11, delays=0.01/0.02/0.03/0.05, "
                   "dsn=2.0.0, status=sent (250 2.0.0 <bob@example.test> Xhz0FClaC2vPGwAAg+zDdQ Saved)")
        assert out["event"]["outcome"] == "success"
        assert out["destination"] == {"domain": "mx.example.test"}
        assert out["postfix"]["relay_socket"] == "private/dovecot-lmtp"
        assert "ip" not in out.get("related", {})

    def test_smtpd_tls(self) -> None:
        """The TLS summary gives tls.version, tls.version_protocol, tls.cipher and tls.established."""
        out = line("Nov 28 22:48:09 mail1 postfix/relayin/smtpd[7126]: Anonymous TLS connection established "
                   "from localhost[127.0.0.1]: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) "
                   "key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256")
        assert out["tls"] == {"version": "1.3", "version_protocol": "tls", "established": True,
                              "cipher": "TLS_AES_256_GCM_SHA384"}
        assert out["postfix"]["tls_trust"] == "Anonymous"
        assert out["postfix"]["syslog_name"] == "postfix/relayin"
        assert out["event"]["category"] == ["network"]

    def test_connect(self) -> None:
        """A connect is a network connection start."""
        out = line("Nov 28 22:48:09 mail1 postfix/smtpd[6990]: connect from localhost[127.0.0.1]")
        assert (out["event"]["category"], out["event"]["type"]) == (["network"], ["connection", "start"])

    def test_postscreen_server_side_is_destination(self) -> None:
        """postscreen's local address is destination.*, the client source.*."""
        out = line("Nov 28 22:48:09 mx postfix/postscreen[801]: CONNECT from [192.0.2.86]:53024 to "
                   "[198.51.100.1]:25")
        assert out["source"] == {"ip": "192.0.2.86", "port": 53024}
        assert out["destination"] == {"ip": "198.51.100.1", "port": 25}
        assert out["related"]["ip"] == ["192.0.2.86", "198.51.100.1"]

    def test_sasl_failure(self) -> None:
        """A SASL failure is an authentication failure with user.name."""
        out = line("Nov 28 22:48:09 mx postfix/submission/smtpd[6990]: warning: unknown[203.0.113.10]: SASL "
                   "LOGIN authentication failed: (reason unavailable), sasl_username=bob@example.test")
        assert out["user"] == {"name": "bob@example.test"}
        assert (out["event"]["category"], out["event"]["outcome"]) == (["authentication"], "failure")
        assert out["source"]["domain"] == "unknown"
        assert "hosts" not in out["related"]
        assert out["related"]["user"] == ["bob@example.test"]

    def test_fatal_text_is_error_message(self) -> None:
        """A fatal line's text is also error.message, and log.level is its level."""
        out = line("Nov 28 22:48:09 mail1 postfix/sendmail[7182]: fatal: alice@example.test(0): message file too big")
        assert out["log"]["level"] == "fatal"
        assert out["error"] == {"message": "alice@example.test(0): message file too big"}
        assert out["postfix"]["text"] == "alice@example.test(0): message file too big"
        assert out["event"]["type"] == ["error"]

    def test_rfc5424_facility_and_severity(self) -> None:
        """RFC 5424 PRI gives log.syslog.facility.name and severity.name."""
        out = line("<22>1 2026-11-28T22:48:09.123456+00:00 mail1 postfix/qmgr 6921 - - 49A8B160526: removed")
        assert out["log"]["syslog"]["facility"] == {"name": "mail"}
        assert out["log"]["syslog"]["severity"] == {"name": "info"}
        assert out["@timestamp"] == "2026-11-28T22:48:09.123456+00:00"

    def test_unparsed(self) -> None:
        """An unparsed line keeps its reason under maillog2json.* and has no module."""
        out = line("Nov 28 22:48:08 mail1 realpostfix: corpus run start N=120 seed=7")
        assert out["maillog2json"]["unparsed_reason"] == "program"
        assert "module" not in out["event"] and "category" not in out["event"]
        assert "postfix" not in out


class TestDovecotLines:
    """Dovecot and PAM lines map to the ECS fields docs/ecs.md gives."""

    def test_saved(self) -> None:
        """An LMTP save: user.name, email.message_id, dovecot.mailbox, success."""
        out = line("Nov 28 22:48:09 mail1 dovecot: lmtp(bob@example.test)<7119><Xhz0FClaC2vPGwAAg+zDdQ>: "
                   "msgid=<rp00001.52e6b438@gen.example.test>: saved mail to INBOX")
        assert out["event"]["module"] == "dovecot" and out["event"]["outcome"] == "success"
        assert out["user"] == {"name": "bob@example.test"}
        assert out["email"] == {"message_id": "rp00001.52e6b438@gen.example.test"}
        assert out["dovecot"]["mailbox"] == "INBOX" and out["dovecot"]["service"] == "lmtp"
        assert out["process"] == {"name": "dovecot"}

    def test_login(self) -> None:
        """An IMAP login: rip to source.ip, lip to destination.ip, TLS established, success."""
        out = line("Nov 28 22:48:09 mx dovecot: imap-login: Login: user=<alice@example.test>, method=PLAIN, "
                   "rip=192.0.2.10, lip=198.51.100.1, mpid=4242, TLS, session=<azdaDADSqqsvf-za>")
        assert out["source"] == {"ip": "192.0.2.10"}
        assert out["destination"] == {"ip": "198.51.100.1"}
        assert out["user"] == {"name": "alice@example.test"}
        assert out["tls"] == {"established": True}
        assert (out["event"]["category"], out["event"]["outcome"]) == (["authentication"], "success")
        assert out["dovecot"]["auth_method"] == "PLAIN"

    def test_auth_failed(self) -> None:
        """A login process giving up after failed authentication is an authentication failure."""
        out = line("Nov 28 22:48:09 mx dovecot: imap-login: Disconnected (auth failed, 1 attempts in 6 secs): "
                   "user=<alice@example.test>, method=PLAIN, rip=192.0.2.10, lip=198.51.100.1, TLS, "
                   "session=<azdaDADSqqsvf-za>")
        assert (out["event"]["category"], out["event"]["outcome"]) == (["authentication"], "failure")
        assert out["dovecot"]["auth_attempts"] == 1

    def test_pam(self) -> None:
        """A PAM failure maps rhost and user, and keeps ruser under dovecot.*."""
        out = line("Nov 28 22:48:09 mx auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 "
                   "euid=0 tty=dovecot ruser=alice rhost=192.0.2.10  user=alice")
        assert out["event"]["action"] == "pam.auth_failure"
        assert out["event"]["outcome"] == "failure"
        assert out["source"] == {"ip": "192.0.2.10"}
        assert out["user"] == {"name": "alice"}
        assert out["dovecot"]["ruser"] == "alice"


class TestNothingDropped:
    """Every native (field, value) of every sample document is at its mapped ECS place."""

    def test_traditional_sample(self) -> None:
        """Every line and message document of the traditional sample keeps every native value."""
        docs = corpus(TRADITIONAL)
        assert any(d["type"] == "message" for d in docs)
        for d in docs:
            out = render(d)
            lost = missing_line_fields(d, out) if d["type"] == "line" else missing_message_fields(d, out)
            assert not lost, (d, out, lost)

    @pytest.mark.parametrize("path", CORPORA[1:], ids=lambda p: p.name)
    def test_other_samples(self, path: Any) -> None:
        """The other samples keep every native value too."""
        for d in corpus(path):
            out = render(d)
            lost = missing_line_fields(d, out) if d["type"] == "line" else missing_message_fields(d, out)
            assert not lost, (d, out, lost)

    def test_shared_corpus(self) -> None:
        """The shared corpus keeps every native value, with valid IPs and address lists."""
        base = need_shared("corpus")
        for path in sorted(base.rglob("*.log")):
            for d in pipeline_docs(path.read_bytes().splitlines()):
                out = render(d)
                lost = missing_line_fields(d, out) if d["type"] == "line" else missing_message_fields(d, out)
                assert not lost, (path.name, d, out, lost)
                assert not [k for k in out if k.startswith("_")]
                for grp in ("source", "destination"):
                    if "ip" in out.get(grp, {}):
                        ipaddress.ip_address(out[grp]["ip"])
                for x in out.get("related", {}).get("ip", []):
                    ipaddress.ip_address(x)
                for addr in ("from", "to"):
                    a = out.get("email", {}).get(addr, {}).get("address", [])
                    assert all(isinstance(x, str) for x in a)

    def test_damaged_values_fall_back_to_the_namespace(self) -> None:
        """Values ECS could not index stay under the namespace."""
        doc = {"type": "line", "_id": "0" * 24, "kind": "smtpd.connect", "timestamp": None, "host": "h",
               "program": "postfix/smtpd", "daemon": "smtpd", "pid": "12x", "queue_id": None, "raw": "r",
               "client_host": "a", "client_ip": "not-an-ip", "client_port": "99999x", "tls_version": "odd"}
        out = ecs_document(doc)
        assert "source" in out and "ip" not in out["source"] and "port" not in out["source"]
        assert out["postfix"]["client_ip"] == "not-an-ip" and out["postfix"]["client_port"] == "99999x"
        assert out["postfix"]["pid"] == "12x" and out["postfix"]["tls_version"] == "odd"
        assert "@timestamp" not in out
        assert not missing_line_fields(doc, out)


class TestEcsTypes:
    """Values have the types ECS declares for their fields."""

    @pytest.mark.parametrize("path", CORPORA, ids=lambda p: p.name)
    def test_types(self, path: Any) -> None:
        """@timestamp is ISO 8601, IPs parse, ports and pids are integers, arrays are arrays."""
        for d in corpus(path):
            out = render(d)
            ts = out.get("@timestamp")
            if ts is not None:
                datetime.fromisoformat(ts)
            for grp in ("source", "destination"):
                g = out.get(grp, {})
                if "ip" in g:
                    ipaddress.ip_address(g["ip"])
                if "port" in g:
                    assert type(g["port"]) is int and 0 <= g["port"] <= 65535
            if "process" in out and "pid" in out["process"]:
                assert type(out["process"]["pid"]) is int
            for addr in ("from", "to"):
                if addr in out.get("email", {}):
                    a = out["email"][addr]["address"]
                    assert isinstance(a, list) and all(isinstance(x, str) for x in a)
            for key, values in out.get("related", {}).items():
                assert isinstance(values, list) and values and all(isinstance(x, str) for x in values)
                assert len(values) == len(set(values))
                if key == "ip":
                    for x in values:
                        ipaddress.ip_address(x)
            ev = out["event"]
            assert ev["kind"] == "event"
            assert isinstance(ev["type"], list)
            assert isinstance(ev.get("category", []), list)
            assert ev.get("outcome", "unknown") in ("success", "failure", "unknown")
            if "duration" in ev:
                assert type(ev["duration"]) is int
            if "tls" in out:
                assert out["tls"]["established"] is True

    def test_no_nulls(self) -> None:
        """Null native fields are left out of the ECS document."""
        def walk(x: Any) -> None:
            if isinstance(x, dict):
                for k, v in x.items():
                    assert v is not None, k
                    if k not in ("recipients", "message"):     # native sub-objects stay as they are
                        walk(v)
        for d in corpus(TRADITIONAL):
            if d["type"] == "line":
                walk(render(d))


class TestDocumentId:
    """The native _id is in maillog2json.id and from ecs_id, never a top-level _id."""

    @pytest.mark.parametrize("path", CORPORA, ids=lambda p: p.name)
    def test_no_underscore_keys(self, path: Any) -> None:
        """No top-level key starts with _, and maillog2json.id is the native _id."""
        for d in corpus(path):
            out = render(d)
            assert not [k for k in out if k.startswith("_")]
            assert out["maillog2json"]["id"] == d["_id"] == ecs_id(d)


class TestInputUntouched:
    """Rendering does not modify the document it is given."""

    def test_lines_and_messages(self) -> None:
        """Rendering twice leaves line and message documents as they were."""
        for d in corpus(TRADITIONAL):
            before = copy.deepcopy(d)
            ecs(d)
            ecs(d)
            assert d == before

    def test_output_shares_no_mutable_template(self) -> None:
        """Changing one output's event does not change the next one."""
        (doc,) = docs_for(["Nov 28 22:48:09 mail1 postfix/smtpd[6990]: connect from localhost[127.0.0.1]"])
        first = ecs_document(doc)
        first["event"]["outcome"] = "changed"
        assert "outcome" not in ecs_document(doc)["event"]


class TestMessageDocuments:
    """Message documents map to email.*, event.start/end/duration and maillog2json.message.*."""

    def messages(self) -> list[dict[str, Any]]:
        """The sample's message documents."""
        return [d for d in corpus(TRADITIONAL) if d["type"] == "message"]

    def test_mixed_message(self) -> None:
        """The sample's mixed message maps to email.*, source.*, event.* and maillog2json.message.*."""
        (m,) = [d for d in self.messages() if d["queue_id"] == "5BC52160535"]
        out = render(m)
        assert out["email"]["local_id"] == "5BC52160535"
        assert out["email"]["from"] == {"address": ["carol@example.test"]}
        assert out["email"]["to"]["address"] == [r["to"] for r in m["recipients"]]
        assert out["email"]["message_id"] == m["message_id"]
        assert out["source"] == {"domain": "localhost", "ip": "127.0.0.1"}
        assert out["event"]["dataset"] == "maillog2json.message"
        assert out["event"]["outcome"] == "unknown"
        assert out["event"]["start"] == out["@timestamp"] == m["first_seen"]
        assert out["event"]["end"] == m["last_seen"]
        msg = out["maillog2json"]["message"]
        assert msg["status"] == "mixed" and msg["queue_ids"] == m["queue_ids"]
        assert msg["recipients"] == m["recipients"] and msg["hops"] == m["hops"]
        assert msg["client"] == {"service": "postfix"}

    def test_outcomes(self) -> None:
        """A message's status gives event.outcome."""
        expected = {"sent": "success", "bounced": "failure", "rejected": "failure", "expired": "failure",
                    "discarded": "failure", "deleted": "failure", "mixed": "unknown", "deferred": "unknown",
                    "held": "unknown"}
        seen = set()
        for m in self.messages():
            if m["status"] in expected:
                assert render(m)["event"]["outcome"] == expected[m["status"]], m["status"]
                seen.add(m["status"])
        assert {"sent", "bounced", "rejected", "mixed"} <= seen

    def test_duration_in_nanoseconds(self) -> None:
        """duration becomes event.duration in nanoseconds; the client object is spread out."""
        m = {"type": "message", "_id": "1" * 24, "status": "sent", "complete": True, "host": "h",
             "queue_id": "Q1", "queue_ids": ["Q1"], "first_seen": "2026-11-28T22:48:09+00:00",
             "last_seen": "2026-11-28T22:48:10.5+00:00", "duration": 1.5, "recipients": [],
             "client": {"host": "c.example", "ip": "192.0.2.1", "port": 2525, "helo": "c.example",
                        "sasl_username": "ann", "sasl_method": "PLAIN",
                        "tls": {"version": "TLSv1.2", "cipher": "ECDHE", "trust": "Anonymous"}}}
        out = ecs_document(m)
        assert out["event"]["duration"] == 1_500_000_000
        assert out["source"] == {"domain": "c.example", "ip": "192.0.2.1", "port": 2525}
        assert out["user"] == {"name": "ann"}
        assert out["tls"] == {"version": "1.2", "version_protocol": "tls", "cipher": "ECDHE", "established": True}
        assert out["related"] == {"ip": ["192.0.2.1"], "user": ["ann"], "hosts": ["c.example"]}
        assert out["maillog2json"]["message"]["client"]["sasl_method"] == "PLAIN"
        assert "email" in out and "to" not in out["email"]
        assert not missing_message_fields(m, out)


class TestFilterVerdicts:
    """The filters' lines and a message's ``filters`` (docs/ecs.md, "Filter verdicts")."""

    @staticmethod
    def docs(text: str) -> list[dict[str, Any]]:
        from test_correlate_filters import lines_of
        return pipeline_docs(lines_of(text))

    def test_infected_amavis_line(self) -> None:
        """A virus: event.category malware, threat.software.*, the verdict; amavis.virus stays."""
        from test_correlate_filters import AMAVIS_BLOCKED
        (d,) = [d for d in self.docs(AMAVIS_BLOCKED) if d.get("kind") == "amavis.blocked"]
        out = render(d)
        assert out["event"]["category"] == ["email", "malware"] and out["event"]["type"] == ["denied", "info"]
        assert out["event"]["outcome"] == "failure" and out["event"]["action"] == "amavis.blocked"
        assert out["threat"] == {"software": {"name": ["Eicar-Signature", "Eicar-Test-Signature"], "type": "Malware"}}
        assert out["maillog2json"]["verdict"] == {"check": "content", "result": "infected", "action": "blocked"}
        assert out["amavis"]["virus"] == d["virus"] and "risk_score" not in out["event"]
        assert not missing_line_fields(d, out)

    @pytest.mark.parametrize("text, outcome, verdict", [
        ("Nov 28 10:00:02 mx opendkim[311]: 4ABC123: DKIM verification successful", "success",
         {"check": "dkim", "result": "pass"}),
        ("Nov 28 10:00:02 mx opendkim[311]: 4ABC123: DKIM-Signature field added (s=mail, d=example.org)", "success",
         {"check": "dkim", "action": "signed"}),
        ("Nov 28 10:00:02 mx opendkim[311]: 4ABC123: bad signature data", "failure", {"check": "dkim", "result": "fail"}),
        ("Nov 28 10:00:02 mx opendkim[311]: 4ABC123: no signature data", None, {"check": "dkim", "result": "none"}),
        ("Nov 28 10:00:03 mx opendmarc[312]: 4ABC123: example.org fail", "failure", {"check": "dmarc", "result": "fail"}),
        ("Nov 28 10:00:03 mx opendmarc[312]: 4ABC123: example.com none", None, {"check": "dmarc", "result": "none"}),
        (("Nov 28 10:00:04 mx policyd-spf[313]: Softfail; identity=mailfrom; client-ip=192.0.2.7; "
          "helo=mx.example.org; envelope-from=ann@example.org; receiver=bob@example.net"), "failure",
         {"check": "spf", "result": "softfail"}),
        (("Nov 28 10:00:05 mx postgrey[315]: action=greylist, reason=new, client_name=mx.example.org, "
          "client_address=192.0.2.7, sender=ann@example.org, recipient=bob@example.net"), "failure",
         {"check": "greylist", "action": "greylist"}),
    ])
    def test_authentication_and_policy_outcomes(self, text: str, outcome: Any, verdict: dict[str, str]) -> None:
        """DKIM/DMARC/SPF results give event.outcome (pass success, fail failure, none nothing) and the verdict."""
        out = line(text)
        assert out["event"].get("outcome") == outcome
        assert out["maillog2json"]["verdict"] == verdict

    def test_spam_scores_are_risk_scores(self) -> None:
        """spamd's and rspamd's scores are event.risk_score; rspamd's action gives the outcome."""
        out = line("Nov 28 10:00:06 mx spamd[316]: spamd: result: Y 9 - BAYES_99 scantime=0.5,size=1234,"
                   "user=nagios,uid=1209,required_score=5.0,rhost=localhost,raddr=127.0.0.1,rport=41234,"
                   "mid=<id@example.org>,autolearn=no")
        assert out["event"]["risk_score"] == 9.0 and "outcome" not in out["event"]
        assert out["maillog2json"]["verdict"] == {"check": "spam", "result": "spam"}
        out = line("Nov 28 10:00:07 mx rspamd[317]: <8d7f2a>; task; rspamd_task_write_log: id: <id@example.org>, "
                   "qid: <4ABC123>, ip: 192.0.2.7, from: <ann@example.org>, (default: T (reject): [16.50/15.00] "
                   "[BAYES_SPAM(5.00){99.9%;}]), len: 1234, time: 56.789ms, dns req: 3, rcpts: <bob@example.net>")
        assert out["event"]["risk_score"] == 16.5 and out["event"]["outcome"] == "failure"
        assert out["maillog2json"]["verdict"] == {"check": "spam", "result": "spam", "action": "reject"}

    def test_clamd_found_is_malware(self) -> None:
        """clamd's FOUND: event.category malware and threat.software.name."""
        out = line("Nov 28 10:00:08 mx clamd[318]: /var/spool/amavisd/tmp/p001: Eicar-Signature FOUND")
        assert out["event"]["category"] == ["malware"] and out["event"]["type"] == ["info"]
        assert out["threat"]["software"] == {"name": ["Eicar-Signature"], "type": "Malware"}
        assert "verdict" not in out["maillog2json"]

    def test_message_filters(self) -> None:
        """filters stay whole in maillog2json.message; verdicts by check, the highest spam score, viruses."""
        from test_correlate_filters import AMAVIS_BLOCKED, MILTERS, SPAMD
        docs = [d for d in self.docs(MILTERS + AMAVIS_BLOCKED + SPAMD) if d["type"] == "message"]
        by_q = {d["queue_id"]: d for d in docs}
        out = render(by_q["6A1B2C3D4E"])
        msg = out["maillog2json"]["message"]
        assert msg["filters"] == by_q["6A1B2C3D4E"]["filters"]
        assert msg["verdicts"] == {"dkim": ["pass"], "spf": ["pass"], "dmarc": ["pass"]}
        assert out["event"]["category"] == ["email"] and "threat" not in out and "risk_score" not in out["event"]
        out = render(by_q["6A0000000A"])
        assert out["maillog2json"]["message"]["verdicts"] == {"content": ["infected"]}
        assert out["event"]["category"] == ["email", "malware"]
        assert out["threat"]["software"]["name"] == ["Eicar-Signature", "Eicar-Test-Signature"]
        out = render(by_q["8C9D0E1F2A"])
        assert out["event"]["risk_score"] == 9.0
        for d in docs:
            assert not missing_message_fields(d, render(d))

    def test_nothing_dropped_and_types(self) -> None:
        """Every filter line keeps its native fields; risk_score is a number."""
        from test_correlate_filters import ALL, UNMATCHED
        for d in self.docs(ALL + UNMATCHED):
            out = render(d)
            lost = missing_line_fields(d, out) if d["type"] == "line" else missing_message_fields(d, out)
            assert not lost, (d, out, lost)
            if "risk_score" in out["event"]:
                assert type(out["event"]["risk_score"]) is float
