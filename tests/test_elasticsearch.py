"""The Elasticsearch transport, ``maillog2json es-setup`` and the secret helpers.

Most tests talk to a real server (noida-db, see tests/es_server.py); what noida-db does not
do (authentication, whole-request 401/429/503 answers) is checked against a small fake
server in this file that records what the client sent. Every test writes to indices of its
own (a unique suffix), so the tests are independent and can share one server.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Optional

import orjson
import pytest
from click.testing import CliRunner
from es_server import ESServer, es_server, es_url, free_port
from helpers import ROOT, SAMPLES, docs_for, pipeline_docs

from maillog2json.delivery import ConfigError, Outcome, TransportError
from maillog2json.essetup import STEPS, data_dir, es_setup_command, install, setup_requests
from maillog2json.secrets import ES_API_KEY_ENV, ES_PASSWORD_ENV, es_credentials, read_secret_file, secret
from maillog2json.sinks.elasticsearch import ElasticsearchTransport

DEPLOY_ES = ROOT / "deploy" / "elasticsearch"
CONNECT_LINE = "Nov  8 09:15:02 mx1 postfix/smtpd[1234]: connect from unknown[192.0.2.7]"
SECRET = "c2VjcmV0LWlkOnNlY3JldC1rZXktZG8tbm90LWxlYWs="
# the server fixtures of tests/es_server.py, used by name in this module's tests
FIXTURES = (es_url, es_server)


def unique() -> str:
    return uuid.uuid4().hex[:12]


def targets() -> dict[str, str]:
    """Unique data stream names that the es-setup templates match."""
    u = unique()
    return {"lines_target": f"logs-maillog2json.lines-t{u}",
            "messages_target": f"logs-maillog2json.messages-t{u}"}


@cache
def small_docs() -> tuple[dict[str, Any], ...]:
    """Line and message documents (native) of samples/maillog-small.log."""
    return tuple(pipeline_docs((SAMPLES / "maillog-small.log").read_bytes().splitlines()))


def client(url: str) -> Any:
    from elasticsearch import Elasticsearch
    return Elasticsearch(url, max_retries=0)


def ids_in(es: Any, index: str) -> list[str]:
    """The _id of every document in ``index`` (refreshed first)."""
    es.indices.refresh(index=index)
    resp = es.search(index=index, size=10_000, query={"match_all": {}}, source=False)
    return [h["_id"] for h in resp["hits"]["hits"]]


def mapping_of(es: Any, index: str) -> dict[str, Any]:
    """The mapping of ``index``: of its backing index for a data stream (``.ds-...``)."""
    resp = es.indices.get_mapping(index=index).body
    assert len(resp) == 1, resp.keys()
    return next(iter(resp.values()))["mappings"]


def field_type(mapping: dict[str, Any], dotted: str) -> Optional[str]:
    props = mapping
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        node = props.get("properties", {}).get(part)
        if node is None:
            return None
        if i == len(parts) - 1:
            return node.get("type", "object")
        props = node
    return None


@pytest.fixture(scope="module")
def templates(es_url: str) -> str:
    """The es-setup templates installed (without ILM: noida-db has none) on the shared server."""
    es = client(es_url)
    install(es, ilm=False, echo=lambda s: None)
    es.close()
    return es_url


# -- a fake server: records requests, answers as told -------------------------------------------
class FakeES:
    """An HTTP server on 127.0.0.1 that answers like Elasticsearch as ``answer`` says and
    records each request as (method, path, headers, body)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.answer: Callable[[str, str, bytes], tuple[int, Any]] = self.bulk_ok
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                fake.requests.append((self.command, self.path, headers, body))
                status, payload = fake.answer(self.command, self.path, body)
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("x-elastic-product", "Elasticsearch")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass        # the client gave up (the timeout test)

            do_GET = do_PUT = do_POST = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @staticmethod
    def bulk_ok(method: str, path: str, body: bytes) -> tuple[int, Any]:
        if "_bulk" in path:
            n = body.count(b"\n") // 2
            return 200, {"errors": False, "items": [{"create": {"status": 201}}] * n}
        return 200, {"acknowledged": True}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeES]:
    f = FakeES()
    yield f
    f.close()


# -- package data ----------------------------------------------------------------------------------
def test_package_data_is_deploy_elasticsearch_byte_for_byte() -> None:
    """The JSON that es-setup installs (package data) is the same as deploy/elasticsearch/ (the
    copy operators read and curl): same files, same bytes. Edit both together."""
    packaged = {p.name: p.read_bytes() for p in data_dir().iterdir() if p.name.endswith(".json")}
    deployed = {p.name: p.read_bytes() for p in DEPLOY_ES.glob("*.json")}
    assert sorted(packaged) == sorted(deployed)
    for name, data in deployed.items():
        assert packaged[name] == data, f"maillog2json/data/elasticsearch/{name} differs from deploy's"
    assert sorted(f for _, _, f, _ in STEPS) == sorted(deployed)


def test_setup_order_and_no_ilm() -> None:
    """The policy first, component templates before the index templates naming them;
    --no-ilm drops the policy and the lifecycle setting only."""
    reqs = setup_requests()
    paths = [p for _, _, p, _ in reqs]
    assert paths[0] == "_ilm/policy/maillog2json"
    components = {p.split("/")[1] for p in paths if p.startswith("_component_template/")}
    for what, _, path, body in reqs:
        if what == "index template":
            assert set(body["composed_of"]) <= components
            needed = [paths.index(f"_component_template/{c}") for c in body["composed_of"]]
            assert paths.index(path) > max(needed)
            assert body["template"]["settings"]["index"]["lifecycle"]["name"] == "maillog2json"
    plain = setup_requests(ilm=False)
    assert [p for _, _, p, _ in plain] == paths[1:]
    for what, _, _, body in plain:
        if what == "index template":
            assert "lifecycle" not in body["template"]["settings"]["index"]
            assert body["template"]["settings"]["index"]["codec"] == "best_compression"


# -- encode ----------------------------------------------------------------------------------------
def split(item: tuple[str, bytes]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    route, body = item
    assert body.endswith(b"\n") and body.count(b"\n") == 2
    action, source = body.splitlines()
    return route, orjson.loads(action), orjson.loads(source)


def test_encode_ecs() -> None:
    t = ElasticsearchTransport(["http://127.0.0.1:9200"])
    line = docs_for([CONNECT_LINE])[0]
    route, action, source = split(t.encode(line))
    assert route == "lines"
    assert action == {"create": {"_index": "logs-maillog2json.lines-default", "_id": line["_id"]}}
    assert source["@timestamp"] == line["timestamp"] and source["maillog2json"]["id"] == line["_id"]
    assert "_id" not in source and source["source"]["ip"] == "192.0.2.7"
    message = next(d for d in small_docs() if d["type"] == "message")
    route, action, source = split(t.encode(message))
    assert route == "messages"
    assert action["create"] == {"_index": "logs-maillog2json.messages-default", "_id": message["_id"]}
    assert source["@timestamp"] == message["first_seen"]
    t.close()


def test_encode_native() -> None:
    """Native: the document without _id (it is the bulk _id), with @timestamp for data streams."""
    t = ElasticsearchTransport(["http://127.0.0.1:9200"], schema="native")
    line = docs_for([CONNECT_LINE])[0]
    route, action, source = split(t.encode(line))
    assert action == {"create": {"_index": "maillog2json-lines", "_id": line["_id"]}}
    expected = {k: v for k, v in line.items() if k != "_id"}
    assert source == {"@timestamp": line["timestamp"], **expected}
    assert "_id" in line          # the pipeline's document is not modified
    message = next(d for d in small_docs() if d["type"] == "message")
    route, action, source = split(t.encode(message))
    assert route == "messages" and action["create"]["_index"] == "maillog2json-messages"
    assert source["@timestamp"] == message["first_seen"] and "_id" not in source


@pytest.mark.parametrize("schema", ["ecs", "native"])
def test_encode_line_without_timestamp(schema: str) -> None:
    """A line whose header cannot be read still gets @timestamp (the time it was encoded),
    so a data stream takes it; in ECS event.created says so."""
    doc = docs_for(["garbage without a syslog header"])[0]
    assert doc["timestamp"] is None
    before = datetime.now(timezone.utc)
    _, _, source = split(ElasticsearchTransport(["http://127.0.0.1:9200"], schema=schema).encode(doc))
    ts = datetime.fromisoformat(source["@timestamp"].replace("Z", "+00:00"))
    assert before.timestamp() - 1 <= ts.timestamp() <= time.time() + 1
    if schema == "ecs":
        assert source["event"]["created"] == source["@timestamp"]
    else:
        assert source["timestamp"] is None


def test_config_errors(tmp_path: Path) -> None:
    bad_ca = tmp_path / "not-a-ca.pem"
    bad_ca.write_text("hello\n")
    for kwargs in [
        {"hosts": ["localhost:9200"]},
        {"hosts": ["ftp://localhost"]},
        {"hosts": ["http://localhost:99999"]},
        {"hosts": ["http://elastic:changeme@localhost:9200"]},
        {"hosts": []},
        {"hosts": ["https://localhost:9200"], "ca_file": str(tmp_path / "missing.pem")},
        {"hosts": ["https://localhost:9200"], "ca_file": str(bad_ca)},
        {"hosts": ["https://localhost:9200"], "fingerprint": "abcd"},
        {"hosts": ["http://localhost:9200"], "schema": "xml"},
        {"hosts": ["http://localhost:9200"], "username": "elastic"},
        {"hosts": ["http://localhost:9200"], "api_key": "k", "username": "u", "password": "p"},
        {"hosts": ["http://localhost:9200"], "lines_target": "Bad Name"},
    ]:
        with pytest.raises(ConfigError) as info:
            ElasticsearchTransport(**kwargs)
        assert "changeme" not in str(info.value)


# -- send, against the real server ------------------------------------------------------------------
def test_send_arrives_once_with_our_ids_then_duplicates(templates: str) -> None:
    """Every document of the sample arrives (none refused by the templates' mappings), under
    its own id; the same batch again is all duplicates (409) and adds nothing."""
    names = targets()
    t = ElasticsearchTransport([templates], **names)
    docs = small_docs()
    batch = [t.encode(d) for d in docs]
    assert t.send(batch) == Outcome()
    es = client(templates)
    for route, index in (("line", names["lines_target"]), ("message", names["messages_target"])):
        want = sorted(d["_id"] for d in docs if d["type"] == route)
        assert want and sorted(ids_in(es, index)) == want
    again = t.send(batch)
    assert again.duplicates == list(range(len(batch))) and not again.retry and not again.dead
    assert es.count(index=names["lines_target"])["count"] == sum(d["type"] == "line" for d in docs)
    es.close()
    t.close()


def test_native_to_a_plain_index(es_url: str) -> None:
    """Native documents go to an index of their own (no template): they arrive with our ids."""
    index = f"m2j-native-{unique()}"
    t = ElasticsearchTransport([es_url], schema="native", lines_target=index, messages_target=index + "-m")
    docs = [d for d in small_docs() if d["type"] == "line"][:50]
    assert t.send([t.encode(d) for d in docs]) == Outcome()
    es = client(es_url)
    assert sorted(ids_in(es, index)) == sorted(d["_id"] for d in docs)
    es.close()


def test_mapped_types(templates: str) -> None:
    """After es-setup, the fields of ECS documents get the types of the templates."""
    names = targets()
    t = ElasticsearchTransport([templates], **names)
    lines = [
        CONNECT_LINE,
        ("Nov  8 09:15:04 mx1 postfix/smtp[1250]: 3F2A01C0D4: to=<bob@example.net>,"
         " relay=mx.example.net[198.51.100.9]:25, delay=1.2, delays=0.1/0.01/0.5/0.6, dsn=2.0.0,"
         " status=sent (250 2.0.0 Ok: queued as 9B1E)"),
        "Nov  8 09:15:03 mx1 postfix/cleanup[1240]: 3F2A01C0D4: message-id=<20261108091503.1@example.org>",
        ("Nov  8 09:15:03 mx1 postfix/qmgr[981]: 3F2A01C0D4: from=<ann@example.org>, size=1432, nrcpt=1"
         " (queue active)"),
        "garbage without a syslog header",
    ]
    docs = docs_for(lines)
    assert t.send([t.encode(d) for d in docs]) == Outcome()
    es = client(templates)
    m = mapping_of(es, names["lines_target"])
    expected = {
        "@timestamp": "date", "event.created": "date",
        "source.ip": "ip", "destination.ip": "ip", "related.ip": "ip",
        "destination.port": "long", "process.pid": "long", "postfix.size": "long", "postfix.nrcpt": "long",
        "postfix.delay": "float", "postfix.delays.before_qmgr": "float",
        "postfix.delays.transmission": "float",
        "email.message_id": "wildcard", "event.original": "match_only_text",
        "email.local_id": "keyword", "host.hostname": "keyword", "email.to.address": "keyword",
        "postfix.status": "keyword", "event.action": "keyword",
    }
    got = {f: field_type(m, f) for f in expected}
    assert got == expected
    # the document's values came through as sent
    es.indices.refresh(index=names["lines_target"])
    hit = es.search(index=names["lines_target"], query={"term": {"source.ip": "192.0.2.7"}})["hits"]["hits"]
    assert [h["_id"] for h in hit] == [docs[0]["_id"]]
    es.close()


def test_mapping_reject_is_dead_with_reason(templates: str) -> None:
    """A document whose field conflicts with the template (a native ``host`` text where the ECS
    template maps an object) comes back dead with Elasticsearch's reason; the others arrive."""
    names = targets()
    ecs = ElasticsearchTransport([templates], **names)
    native = ElasticsearchTransport([templates], schema="native", **names)
    good, bad = docs_for([CONNECT_LINE,
                          "Nov  8 09:15:05 mx1 postfix/smtpd[1234]: disconnect from unknown[192.0.2.7]"])
    outcome = ecs.send([ecs.encode(good), native.encode(bad)])
    assert not outcome.duplicates and not outcome.retry
    assert [i for i, _ in outcome.dead] == [1]
    reason = outcome.dead[0][1]
    assert reason.split(":")[0].endswith("_exception") and "host" in reason, reason
    es = client(templates)
    assert ids_in(es, names["lines_target"]) == [good["_id"]]
    es.close()


def test_read_only_block_gives_retry_then_send_succeeds(es_url: str) -> None:
    """Items refused by a read-only-allow-delete block (429) are to be retried; once the block
    is lifted the same items arrive."""
    index = f"m2j-ro-{unique()}"
    t = ElasticsearchTransport([es_url], lines_target=index, messages_target=index)
    first, *rest = docs_for([CONNECT_LINE, CONNECT_LINE.replace("09:15:02", "09:15:03"),
                             CONNECT_LINE.replace("09:15:02", "09:15:04")])
    assert t.send([t.encode(first)]) == Outcome()
    es = client(es_url)
    es.indices.put_settings(index=index, settings={"index.blocks.read_only_allow_delete": True})
    try:
        batch = [t.encode(d) for d in rest]
        outcome = t.send(batch)
        assert outcome.retry == [0, 1] and not outcome.dead and not outcome.duplicates
    finally:
        es.indices.put_settings(index=index, settings={"index.blocks.read_only_allow_delete": None})
    assert t.send(batch) == Outcome()
    assert sorted(ids_in(es, index)) == sorted(d["_id"] for d in [first, *rest])
    es.close()


def test_server_down_raises_then_send_works_again(es_server: ESServer) -> None:
    """Server stopped: TransportError (nothing known to have arrived), without the secret in
    the message; started again: the same batch goes through."""
    index = f"m2j-down-{unique()}"
    t = ElasticsearchTransport([es_server.url], lines_target=index, messages_target=index, api_key=SECRET,
                               timeout=5)
    a, b = docs_for([CONNECT_LINE, CONNECT_LINE.replace("09:15:02", "09:15:09")])
    assert t.send([t.encode(a)]) == Outcome()
    pid = es_server.pid
    es_server.stop()
    with pytest.raises(ProcessLookupError):     # the PID held was the server's own: it is gone
        os.kill(pid, 0)
    batch = [t.encode(b)]
    with pytest.raises(TransportError) as info:
        t.send(batch)
    message = str(info.value)
    assert "refused" in message.lower() or "connect" in message.lower(), message
    assert SECRET not in message and "\n" not in message
    es_server.start()
    assert t.send(batch) == Outcome()
    es = client(es_server.url)
    assert sorted(ids_in(es, index)) == sorted([a["_id"], b["_id"]])
    es.close()


def test_two_hosts_fail_over_to_the_live_one(es_url: str) -> None:
    """With several URLs, a node that refuses connections is skipped within the same send."""
    index = f"m2j-hosts-{unique()}"
    dead = f"http://127.0.0.1:{free_port()}"
    t = ElasticsearchTransport([dead, es_url], lines_target=index, messages_target=index, timeout=5)
    docs = docs_for([CONNECT_LINE.replace("09:15:02", f"09:15:{s:02d}") for s in range(4)])
    for d in docs:      # round robin: some of the sends go to the dead node first
        assert t.send([t.encode(d)]) == Outcome()
    es = client(es_url)
    assert sorted(ids_in(es, index)) == sorted(d["_id"] for d in docs)
    es.close()


# -- what noida-db does not do: against the fake server ---------------------------------------------
def test_body_is_sent_as_encoded_with_api_key_header(fake: FakeES) -> None:
    """One _bulk request whose body is the items' bytes as they are (no re-serialisation),
    NDJSON content type, and the API key as an ApiKey header."""
    t = ElasticsearchTransport([fake.url], api_key=SECRET)
    batch = [t.encode(d) for d in small_docs()[:20]]
    assert t.send(batch) == Outcome()
    [(method, path, headers, body)] = fake.requests
    assert method in ("POST", "PUT") and path.split("?")[0] == "/_bulk"
    assert body == b"".join(b for _, b in batch)
    assert "x-ndjson" in headers["content-type"]
    assert headers["authorization"] == f"ApiKey {SECRET}"


def test_api_key_id_and_key_and_basic_auth(fake: FakeES) -> None:
    item = ("lines", b'{"create":{}}\n{}\n')
    ElasticsearchTransport([fake.url], api_key="the-id:the-key").send([item])
    ElasticsearchTransport([fake.url], username="writer", password="pw:1").send([item])
    auth = [h["authorization"] for _, _, h, _ in fake.requests]
    assert auth == ["ApiKey " + base64.b64encode(b"the-id:the-key").decode(),
                    "Basic " + base64.b64encode(b"writer:pw:1").decode()]


@pytest.mark.parametrize("status,error", [
    (401, {"type": "security_exception", "reason": "unable to authenticate with provided credentials"}),
    (403, {"type": "security_exception", "reason": "action [indices:data/write/bulk] is unauthorized"}),
    (429, {"type": "es_rejected_execution_exception", "reason": "rejected execution"}),
    (502, "Bad Gateway"),
    (503, {"type": "unavailable_shards_exception", "reason": "primary shard is not active"}),
])
def test_whole_request_failure_raises(fake: FakeES, status: int, error: Any) -> None:
    fake.answer = lambda method, path, body: (status, {"error": error, "status": status})
    t = ElasticsearchTransport([fake.url], api_key=SECRET)
    with pytest.raises(TransportError) as info:
        t.send([t.encode(docs_for([CONNECT_LINE])[0])])
    message = str(info.value)
    assert str(status) in message and SECRET not in message and "\n" not in message
    assert len(fake.requests) == 1          # the client did not retry on its own


def test_timeout_raises(fake: FakeES) -> None:
    def slow(method: str, path: str, body: bytes) -> tuple[int, Any]:
        time.sleep(1.0)
        return FakeES.bulk_ok(method, path, body)

    fake.answer = slow
    t = ElasticsearchTransport([fake.url], timeout=0.3)
    with pytest.raises(TransportError, match="timed out"):
        t.send([("lines", b'{"create":{}}\n{}\n')])
    assert len(fake.requests) == 1          # not retried by the client on timeout


def test_item_results_are_classified(fake: FakeES) -> None:
    statuses = [201, 200, 409, 429, 500, 503, 400, 404, 403]

    def answer(method: str, path: str, body: bytes) -> tuple[int, Any]:
        items = []
        for s in statuses:
            res: dict[str, Any] = {"status": s}
            if s >= 300:
                res["error"] = {"type": f"e{s}_exception", "reason": f"reason {s}"}
            items.append({"create": res})
        return 200, {"errors": True, "items": items}

    fake.answer = answer
    t = ElasticsearchTransport([fake.url])
    outcome = t.send([("lines", b'{"create":{}}\n{}\n')] * len(statuses))
    assert outcome.duplicates == [2]
    assert outcome.retry == [3, 4, 5]
    assert outcome.dead == [(6, "e400_exception: reason 400"), (7, "e404_exception: reason 404"),
                            (8, "e403_exception: reason 403")]


def test_answer_with_wrong_item_count_raises(fake: FakeES) -> None:
    fake.answer = lambda method, path, body: (200, {"errors": False, "items": []})
    t = ElasticsearchTransport([fake.url])
    with pytest.raises(TransportError, match="0 results for 2 documents"):
        t.send([("lines", b'{"create":{}}\n{}\n')] * 2)


# -- es-setup ---------------------------------------------------------------------------------------
def run_cli(*args: str, env: Optional[dict[str, str]] = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in (ES_API_KEY_ENV, ES_PASSWORD_ENV)}
    full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "maillog2json", "es-setup", *args], capture_output=True,
                          text=True, env=full_env, cwd=ROOT, timeout=60, check=False)


def test_es_setup_twice_installs_the_templates(es_url: str) -> None:
    for _ in range(2):
        r = CliRunner().invoke(es_setup_command, ["--no-ilm", es_url], env={ES_API_KEY_ENV: None})
        assert r.exit_code == 0, r.output
        assert [line.split(" (PUT ")[0] for line in r.output.splitlines()[:4]] == [
            "installed component template maillog2json-ecs", "installed component template maillog2json",
            "installed index template logs-maillog2json.lines",
            "installed index template logs-maillog2json.messages"]
    es = client(es_url)
    [entry] = es.indices.get_index_template(name="logs-maillog2json.lines")["index_templates"]
    got = entry["index_template"]
    assert got["index_patterns"] == ["logs-maillog2json.lines-*"] and got["priority"] == 200
    assert got["composed_of"] == ["maillog2json-ecs", "maillog2json"]
    assert "lifecycle" not in got["template"]["settings"]["index"]
    es.close()


def test_es_setup_unreachable_exits_1_with_one_line() -> None:
    r = run_cli(f"http://127.0.0.1:{free_port()}", env={ES_API_KEY_ENV: SECRET})
    assert r.returncode == 1 and r.stdout == ""
    assert len(r.stderr.splitlines()) == 1 and "Traceback" not in r.stderr
    assert "cannot reach Elasticsearch at http://127.0.0.1:" in r.stderr and "refused" in r.stderr.lower()
    assert SECRET not in r.stderr


def test_es_setup_refused_exits_1_with_one_line(es_url: str) -> None:
    """noida-db has no ILM API: without --no-ilm the first PUT is refused, which says what to do."""
    r = run_cli(es_url)
    assert r.returncode == 1
    assert len(r.stderr.splitlines()) == 1 and "Traceback" not in r.stderr
    assert "refused the ILM policy maillog2json" in r.stderr and "--no-ilm" in r.stderr


def test_es_setup_takes_secrets_from_env_or_file_not_argv(fake: FakeES, tmp_path: Path) -> None:
    runner = CliRunner()
    # no option takes a secret on the command line
    for opt in ("--api-key", "--password"):
        r = runner.invoke(es_setup_command, [opt, SECRET, fake.url])
        assert r.exit_code == 2 and "No such option" in r.output
    assert not fake.requests
    # API key from the environment
    r = runner.invoke(es_setup_command, ["--no-ilm", fake.url], env={ES_API_KEY_ENV: SECRET})
    assert r.exit_code == 0, r.output
    assert {h.get("authorization") for _, _, h, _ in fake.requests} == {f"ApiKey {SECRET}"}
    assert len(fake.requests) == 4 and all(m == "PUT" for m, _, _, _ in fake.requests)
    # API key from a file (trailing newline removed)
    fake.requests.clear()
    key_file = tmp_path / "key"
    key_file.write_text("from-file-key\n")
    r = runner.invoke(es_setup_command, ["--api-key-file", str(key_file), fake.url],
                      env={ES_API_KEY_ENV: SECRET})
    assert r.exit_code == 0, r.output
    assert fake.requests[0][1] == "/_ilm/policy/maillog2json"
    assert {h.get("authorization") for _, _, h, _ in fake.requests} == {"ApiKey from-file-key"}
    # user name, password from the environment
    fake.requests.clear()
    r = runner.invoke(es_setup_command, ["--username", "admin", fake.url],
                      env={ES_PASSWORD_ENV: "pw", ES_API_KEY_ENV: None})
    assert r.exit_code == 0, r.output
    assert {h.get("authorization") for _, _, h, _ in fake.requests} == {
        "Basic " + base64.b64encode(b"admin:pw").decode()}
    # an unreadable secret file: a usage error naming the file, nothing sent
    fake.requests.clear()
    r = runner.invoke(es_setup_command, ["--api-key-file", str(tmp_path / "missing"), fake.url])
    assert r.exit_code == 2 and "cannot read the API key file" in r.output
    assert str(tmp_path / "missing") in r.output
    r = runner.invoke(es_setup_command, ["--username", "admin", fake.url],
                      env={ES_PASSWORD_ENV: None, ES_API_KEY_ENV: None})
    assert r.exit_code == 2 and ES_PASSWORD_ENV in r.output
    assert not fake.requests


# -- secrets ---------------------------------------------------------------------------------------
def test_secret_files_and_environment(tmp_path: Path) -> None:
    f = tmp_path / "s"
    f.write_bytes(b"abc def\r\n")
    assert read_secret_file(str(f)) == "abc def"
    f.write_bytes(b"abc\n\n")
    assert read_secret_file(str(f)) == "abc\n"       # only one trailing newline is the file's end
    f.write_bytes(b"abc")
    assert read_secret_file(str(f)) == "abc"
    f.write_bytes(b"\n")
    with pytest.raises(ConfigError, match="is empty"):
        read_secret_file(str(f), "API key")
    with pytest.raises(ConfigError, match="cannot read the password file"):
        read_secret_file(str(tmp_path / "nope"), "password")
    f.write_bytes(b"from-file\n")
    env = {ES_API_KEY_ENV: "from-env\n"}
    assert secret(str(f), ES_API_KEY_ENV, environ=env) == "from-file"
    assert secret(None, ES_API_KEY_ENV, environ=env) == "from-env"
    assert secret(None, ES_API_KEY_ENV, environ={}) is None
    with pytest.raises(ConfigError, match="set but empty"):
        secret(None, ES_API_KEY_ENV, environ={ES_API_KEY_ENV: ""})
    assert es_credentials(environ=env) == {"api_key": "from-env", "username": None, "password": None}
    assert es_credentials(username="u", environ={ES_PASSWORD_ENV: "p", **env}) == {
        "api_key": None, "username": "u", "password": "p"}
    with pytest.raises(ConfigError):
        es_credentials(api_key_file=str(f), username="u", environ={ES_PASSWORD_ENV: "p"})
    with pytest.raises(ConfigError):
        es_credentials(password_file=str(f), environ={})
