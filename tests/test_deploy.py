"""The operator artefacts in deploy/: Elasticsearch templates, Kibana objects, systemd, rsyslog."""

from __future__ import annotations

import configparser
import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT, SAMPLES, pipeline_docs

from maillog2json.render.ecs import ecs_document

DEPLOY = ROOT / "deploy"
ES = DEPLOY / "elasticsearch"
NDJSON = DEPLOY / "kibana" / "maillog2json.ndjson"
SERVICE = DEPLOY / "systemd" / "maillog2json.service"
RSYSLOG_CONF = DEPLOY / "rsyslog" / "maillog2json.conf"
OMPROG_WRAPPER = DEPLOY / "rsyslog" / "maillog2json-omprog"
SAMPLE = SAMPLES / "realpostfix-seed7" / "mail.traditional.log"

# Field types the templates may use (Elasticsearch 8).
FIELD_TYPES = {"keyword", "constant_keyword", "wildcard", "match_only_text", "text", "long", "integer",
               "float", "double", "scaled_float", "date", "date_nanos", "ip", "boolean", "object",
               "flattened"}
NUMERIC = {"long", "integer", "float", "double", "scaled_float"}
# ECS top-level groups maillog2json writes; everything below them must be mapped explicitly.
NAMESPACES = {"postfix", "dovecot", "maillog2json", "amavis", "spamd", "rspamd", "clamav", "opendkim",
              "opendmarc", "policyd_spf", "postgrey"}


def load(name: str) -> dict[str, Any]:
    """A JSON file of deploy/elasticsearch, parsed."""
    return json.loads((ES / name).read_text())


def component_name(path: Path) -> str:
    """The name a component template file is installed under (deploy/elasticsearch/README.md)."""
    stem = path.stem.removeprefix("component-template-")
    return stem if stem.startswith("maillog2json") else f"maillog2json-{stem}"


def component_files() -> dict[str, Path]:
    """Component template files by the name they are installed under."""
    return {component_name(p): p for p in sorted(ES.glob("component-template-*.json"))}


def flatten(props: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(dotted path, mapping) of every leaf field in a ``properties`` tree."""
    for name, spec in props.items():
        path = prefix + name
        if "properties" in spec:
            yield from flatten(spec["properties"], path + ".")
        else:
            yield path, spec


@cache
def merged_mapping() -> tuple[dict[str, dict[str, Any]], tuple[dict[str, Any], ...], frozenset[str]]:
    """Explicit leaf fields, dynamic templates and object paths of all component templates."""
    fields: dict[str, dict[str, Any]] = {}
    dynamic: list[dict[str, Any]] = []
    objects: set[str] = set()
    for path in component_files().values():
        mappings = json.loads(path.read_text())["template"].get("mappings", {})
        for name, spec in flatten(mappings.get("properties", {})):
            assert name not in fields, f"{name} mapped twice"
            if spec.get("type") == "object":
                objects.add(name)
            else:
                fields[name] = spec
        for tmpl in mappings.get("dynamic_templates", []):
            ((_, body),) = tmpl.items()
            dynamic.append(body)
    return fields, tuple(dynamic), frozenset(objects)


def json_kind(value: Any) -> str:
    """Elasticsearch's ``match_mapping_type`` for a JSON value."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "double"
    if isinstance(value, dict):
        return "object"
    return "string"


def glob_match(pattern: str, path: str) -> bool:
    """Elasticsearch's simple wildcard match (``*`` only) of ``path_match``/``match``."""
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), path) is not None


def dynamic_cover(path: str, value: Any) -> dict[str, Any] | None:
    """The mapping the first matching dynamic template gives ``path`` for ``value``, if any."""
    _, dynamic, _ = merged_mapping()
    kind = json_kind(value)
    for body in dynamic:
        mmt = body.get("match_mapping_type", "*")
        if mmt not in ("*", kind) and not (isinstance(mmt, list) and kind in mmt):
            continue
        if "path_match" in body and not glob_match(body["path_match"], path):
            continue
        if "match" in body and not glob_match(body["match"], path.rsplit(".", 1)[-1]):
            continue
        return body["mapping"]
    return None


def leaves(doc: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of every leaf of an ECS document; array elements one by one."""
    for key, value in doc.items():
        path = prefix + key
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict):
                yield from leaves(item, path + ".")
            elif item is not None:
                yield path, item


@cache
def sample_ecs() -> tuple[dict[str, Any], ...]:
    """The ECS documents (lines and messages) of the seed-7 sample."""
    return tuple(ecs_document(d) for d in pipeline_docs(SAMPLE.read_bytes().splitlines()))


def accepts(spec: dict[str, Any], value: Any) -> bool:
    """Whether Elasticsearch would index ``value`` under ``spec`` without a mapping error."""
    t = spec.get("type")
    if spec.get("ignore_malformed"):
        return not isinstance(value, dict)
    if t in NUMERIC:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t == "ip":
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return False
        return True
    if t in ("date", "date_nanos"):
        try:
            datetime.fromisoformat(value)
        except (TypeError, ValueError):
            return False
        return True
    if t == "boolean":
        return isinstance(value, bool)
    return not isinstance(value, dict)


# -- Elasticsearch -----------------------------------------------------------------------------
def test_every_json_file_parses() -> None:
    """Every .json file under deploy/ is valid JSON with an object at the top."""
    files = sorted(DEPLOY.rglob("*.json"))
    assert len(files) >= 5
    for path in files:
        assert isinstance(json.loads(path.read_text()), dict), path


@pytest.mark.parametrize("kind", ["lines", "messages"])
def test_index_template_shape(kind: str) -> None:
    """The index templates target their data stream, win over logs-*-*, and compose existing components."""
    t = load(f"index-template-{kind}.json")
    assert t["index_patterns"] == [f"logs-maillog2json.{kind}-*"]
    assert t["data_stream"] == {}
    assert isinstance(t["priority"], int) and t["priority"] > 100
    assert t["composed_of"] and set(t["composed_of"]) <= set(component_files())
    assert t["template"]["settings"]["index"]["lifecycle"]["name"] == "maillog2json"


def test_component_templates_shape() -> None:
    """Each component template has only template/_meta/version keys and known field types."""
    assert {"maillog2json-ecs", "maillog2json"} <= set(component_files())
    for path in component_files().values():
        t = json.loads(path.read_text())
        assert set(t) <= {"template", "_meta", "version"}, path
        assert set(t["template"]) <= {"mappings", "settings", "aliases"}, path
    fields, dynamic, _ = merged_mapping()
    for name, spec in fields.items():
        assert spec.get("type") in FIELD_TYPES, name
        if spec.get("ignore_malformed"):
            assert spec["type"] in NUMERIC | {"ip", "date", "date_nanos"}, name
    for body in dynamic:
        assert body["mapping"]["type"] in FIELD_TYPES


def test_ecs_types() -> None:
    """The ECS fields have the types the brief and ECS ask for (message_id wildcard, ips, dates)."""
    fields, _, _ = merged_mapping()
    expected = {
        "@timestamp": "date", "host.hostname": "keyword", "process.pid": "long", "source.ip": "ip",
        "source.port": "long", "destination.ip": "ip", "email.local_id": "keyword",
        "email.message_id": "wildcard", "email.from.address": "keyword", "email.to.address": "keyword",
        "event.action": "keyword", "event.outcome": "keyword", "event.category": "keyword",
        "event.duration": "long", "event.start": "date", "event.end": "date", "related.ip": "ip",
        "related.user": "keyword", "related.hosts": "keyword", "tls.version": "keyword",
        "log.syslog.appname": "keyword", "user.name": "keyword", "error.message": "match_only_text",
        "event.original": "match_only_text", "data_stream.dataset": "constant_keyword",
    }
    for name, t in expected.items():
        assert fields[name]["type"] == t, name


def test_namespace_numbers_are_typed_and_lenient() -> None:
    """Numbers in the namespaces are long/float and tolerate text (damaged logs)."""
    fields, dynamic, _ = merged_mapping()
    for name in ["postfix.delay", "postfix.delays.before_qmgr", "postfix.delays.transmission",
                 "maillog2json.message.recipients.attempts.delays.in_qmgr"]:
        assert fields[name] == {"type": "float", "ignore_malformed": True}, name
    for name in ["postfix.size", "postfix.nrcpt", "postfix.code", "postfix.reply_code",
                 "maillog2json.message.size", "maillog2json.message.nrcpt"]:
        assert fields[name] == {"type": "long", "ignore_malformed": True}, name
    strings = [b["mapping"] for b in dynamic if b.get("match_mapping_type") == "string"]
    assert strings and strings[0] == {"type": "keyword", "ignore_above": 1024}
    assert fields["maillog2json.message.flags.discarded"]["type"] == "keyword"  # string or true


def test_every_sample_field_is_mapped() -> None:
    """Every field the ECS renderer writes for the sample is mapped (ECS explicitly) and accepts its value."""
    fields, _, _ = merged_mapping()
    seen = 0
    for doc in sample_ecs():
        for path, value in leaves(doc):
            seen += 1
            spec = fields.get(path)
            if spec is None:
                assert path.split(".", 1)[0] in NAMESPACES, f"ECS field {path} is not mapped explicitly"
                spec = dynamic_cover(path, value)
                assert spec is not None, f"{path} ({value!r}) is covered by no dynamic template"
            assert accepts(spec, value), f"{path}: {value!r} does not fit {spec}"
    assert seen > 1000


def test_no_path_is_both_object_and_value() -> None:
    """No field of the sample is an object in one document and a value in another (Elasticsearch refuses that)."""
    fields, _, objects = merged_mapping()
    kinds: dict[str, set[str]] = {}

    def walk(doc: dict[str, Any], prefix: str = "") -> None:
        for key, value in doc.items():
            for item in value if isinstance(value, list) else [value]:
                if item is None:
                    continue
                kinds.setdefault(prefix + key, set()).add("object" if isinstance(item, dict) else "value")
                if isinstance(item, dict):
                    walk(item, prefix + key + ".")

    for doc in sample_ecs():
        walk(doc)
    for path, seen in kinds.items():
        assert len(seen) == 1, path
        if "object" in seen:
            assert path not in fields, f"{path} is mapped as a field but written as an object"
        else:
            assert path not in objects, f"{path} is mapped as an object but written as a value"


def test_ilm_policy() -> None:
    """The lifecycle policy rolls over at 50gb/30d and deletes after 180d."""
    phases = load("ilm-policy.json")["policy"]["phases"]
    rollover = phases["hot"]["actions"]["rollover"]
    assert rollover["max_primary_shard_size"] == "50gb" and rollover["max_age"] == "30d"
    assert phases["delete"]["min_age"] == "180d" and "delete" in phases["delete"]["actions"]


def test_elasticsearch_readme_uses_no_secret_on_the_command_line() -> None:
    """The install instructions read the API key from the environment, never inline."""
    text = (ES / "README.md").read_text()
    assert "$ES_API_KEY" in text and "es-setup" in text
    assert not re.search(r"curl[^\n]*ApiKey [A-Za-z0-9=]{8,}", text)
    for name in ["ilm-policy.json", "component-template-ecs.json", "component-template-maillog2json.json",
                 "index-template-lines.json", "index-template-messages.json"]:
        assert f"@{name}" in text, name


# -- Kibana ------------------------------------------------------------------------------------
@cache
def saved_objects() -> tuple[dict[str, Any], ...]:
    """The Kibana saved objects, one per line."""
    lines = NDJSON.read_text().splitlines()
    assert lines and all(line.strip() for line in lines)
    return tuple(json.loads(line) for line in lines)


def test_ndjson_objects_shape() -> None:
    """Every line is one saved object with an id, type, attributes and references; ids are unique."""
    objs = saved_objects()
    allowed = {"id", "type", "attributes", "references", "migrationVersion", "coreMigrationVersion",
               "typeMigrationVersion"}
    for o in objs:
        assert {"id", "type", "attributes", "references"} <= set(o) <= allowed, o.get("id")
        assert o["type"] in {"index-pattern", "visualization", "lens", "dashboard", "search"}
    ids = [(o["type"], o["id"]) for o in objs]
    assert len({i for _, i in ids}) == len(ids)
    kinds = [o["type"] for o in objs]
    assert kinds.count("index-pattern") == 2 and kinds.count("dashboard") == 1
    assert kinds.count("visualization") + kinds.count("lens") >= 7


def test_ndjson_references_resolve() -> None:
    """Every reference (type, id) names an object in the file; the dashboard's panels name theirs."""
    objs = saved_objects()
    present = {(o["type"], o["id"]) for o in objs}
    for o in objs:
        for ref in o["references"]:
            assert (ref["type"], ref["id"]) in present, (o["id"], ref)
        if o["type"] == "dashboard":
            names = {r["name"] for r in o["references"]}
            panels = json.loads(o["attributes"]["panelsJSON"])
            assert panels and {p["panelRefName"] for p in panels} == names
            assert {r["id"] for r in o["references"]} == {x["id"] for x in objs if x["type"] == "visualization"}
        if o["type"] == "visualization":
            search = json.loads(o["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
            assert search["indexRefName"] in {r["name"] for r in o["references"]}


def test_data_views_match_index_templates() -> None:
    """The data views' titles are the index templates' patterns, with @timestamp as time field."""
    patterns = {p for k in ("lines", "messages") for p in load(f"index-template-{k}.json")["index_patterns"]}
    views = [o["attributes"] for o in saved_objects() if o["type"] == "index-pattern"]
    assert {v["title"] for v in views} == patterns
    assert all(v["timeFieldName"] == "@timestamp" for v in views)


def _kql_fields(query: str) -> set[str]:
    """Field names of a KQL query (``field : value`` parts)."""
    return set(re.findall(r"([A-Za-z_@][\w.@]*)\s*:", query))


def test_visualization_fields_exist() -> None:
    """Every field a visualization aggregates or queries is mapped explicitly in a component template."""
    fields, _, _ = merged_mapping()
    titles = []
    for o in saved_objects():
        if o["type"] != "visualization":
            continue
        state = json.loads(o["attributes"]["visState"])
        titles.append(state["title"])
        used = {a["params"]["field"] for a in state["aggs"] if "field" in a.get("params", {})}
        search = json.loads(o["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
        used |= _kql_fields(search["query"]["query"])
        assert used, o["id"]
        for field in used:
            assert field in fields, f"{o['id']}: {field} is not mapped"
    for words in ["over time by status", "top senders", "top recipients", "top relays", "rejects by reason",
                  "deferred queue age", "delay percentiles"]:
        assert any(words in t for t in titles), words


# -- systemd, logrotate, rsyslog ---------------------------------------------------------------
def test_systemd_unit_is_hardened() -> None:
    """The unit follows the log with state and output, and has the hardening settings."""
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(SERVICE.read_text())
    svc = parser["Service"]
    cmd = svc["ExecStart"]
    assert cmd.startswith("/usr/local/bin/maillog2json ")
    assert "--follow auto" in cmd and "--state /var/lib/maillog2json/state.json" in cmd and "--output " in cmd
    expected = {"ReadOnlyPaths": "/var/log", "StateDirectory": "maillog2json", "ProtectSystem": "strict",
                "ProtectHome": "yes", "NoNewPrivileges": "yes", "PrivateTmp": "yes",
                "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6", "KillSignal": "SIGTERM",
                "TimeoutStopSec": "30", "Restart": "on-failure"}
    for key, value in expected.items():
        assert svc.get(key) == value, key
    assert svc.get("DynamicUser") == "yes" or svc.get("Group") == "adm" or "adm" in svc.get(
        "SupplementaryGroups", "")
    assert "WantedBy" in parser["Install"]


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    """systemd-analyze verify accepts the unit (skipped where systemd-analyze is not installed)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    unit = tmp_path / SERVICE.name
    unit.write_text(SERVICE.read_text().replace("/usr/local/bin/maillog2json", shutil.which("true") or "/bin/true"))
    proc = subprocess.run([analyze, "verify", str(unit)], check=False, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "maillog2json.service" not in proc.stderr, proc.stderr


def test_logrotate_readme() -> None:
    """The logrotate notes prefer rename rotation and SIGHUP for --output."""
    text = (DEPLOY / "logrotate" / "README.md").read_text()
    assert "copytruncate" in text and "rename" in text and "SIGHUP" in text and "postrotate" in text


def test_rsyslog_conf() -> None:
    """The rsyslog action confirms messages and has a disk-assisted queue on the mail facility."""
    text = RSYSLOG_CONF.read_text()
    assert 'module(load="omprog")' in text and "imfile" not in re.sub(r"#.*", "", text)
    assert re.search(r'\$syslogfacility-text\s*==\s*"mail"', text)
    for setting in ['confirmMessages="on"', 'binary="/usr/local/bin/maillog2json-omprog"',
                    'template="RSYSLOG_FileFormat"', 'queue.type="LinkedList"', 'queue.filename="maillog2json"',
                    'queue.saveOnShutdown="on"', 'queue.maxDiskSpace="1g"', 'action.resumeRetryCount="-1"',
                    'signalOnClose="on"']:
        assert setting in text, setting


def test_omprog_wrapper() -> None:
    """The omprog wrapper is an executable sh script that execs maillog2json --omprog with --output."""
    text = OMPROG_WRAPPER.read_text()
    assert text.startswith("#!/bin/sh\n")
    assert OMPROG_WRAPPER.stat().st_mode & 0o111
    exec_line = text[text.index("\nexec "):]
    assert "--omprog" in exec_line and "--output" in exec_line


def test_rsyslog_conf_validates(tmp_path: Path) -> None:
    """rsyslogd -N1 accepts the configuration (skipped where rsyslogd is not installed)."""
    rsyslogd = shutil.which("rsyslogd") or next(
        (p for p in ("/usr/sbin/rsyslogd", "/sbin/rsyslogd") if Path(p).exists()), None)
    if rsyslogd is None:
        pytest.skip("rsyslogd is not installed")
    main = tmp_path / "rsyslog.conf"
    main.write_text(f'global(workDirectory="{tmp_path}")\ninclude(file="{RSYSLOG_CONF}")\n')
    proc = subprocess.run([rsyslogd, "-N1", "-f", str(main)], check=False, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_rsyslog_conf_runs_maillog2json(tmp_path: Path) -> None:
    """rsyslogd with the configuration hands a mail message, not others, to maillog2json via the wrapper."""
    rsyslogd = shutil.which("rsyslogd") or next(
        (p for p in ("/usr/sbin/rsyslogd", "/sbin/rsyslogd") if Path(p).exists()), None)
    if rsyslogd is None:
        pytest.skip("rsyslogd is not installed")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    shim = tmp_path / "maillog2json"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m maillog2json "$@"\n')
    shim.chmod(0o755)
    (tmp_path / "work").mkdir()
    conf = RSYSLOG_CONF.read_text().replace("/usr/local/bin/maillog2json-omprog", str(OMPROG_WRAPPER))
    (tmp_path / "maillog2json.conf").write_text(conf)
    main = tmp_path / "rsyslog.conf"
    main.write_text(f'global(workDirectory="{tmp_path / "work"}")\nmodule(load="imudp")\n'
                    f'input(type="imudp" address="127.0.0.1" port="{port}")\n'
                    f'include(file="{tmp_path / "maillog2json.conf"}")\n')
    output, state = tmp_path / "out.jsonl", tmp_path / "state.json"
    env = dict(os.environ, MAILLOG2JSON=str(shim), MAILLOG2JSON_OUTPUT=str(output),
               MAILLOG2JSON_STATE=str(state), PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([rsyslogd, "-n", "-f", str(main), "-i", str(tmp_path / "rsyslogd.pid")],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            while time.monotonic() < deadline and not (output.exists() and output.stat().st_size):
                sender.sendto(b"<14>Nov 28 22:24:44 mx other[1]: not a mail message", ("127.0.0.1", port))
                sender.sendto(b"<22>Nov 28 22:24:45 mx postfix/qmgr[31786]: 4FAE3164311: removed",
                              ("127.0.0.1", port))
                time.sleep(0.5)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert output.exists(), err.decode(errors="replace")
    docs = [json.loads(x) for x in output.read_text().splitlines()]
    assert docs and all(d.get("event", {}).get("action") != "unparsed" for d in docs)
    assert {d["email"]["local_id"] for d in docs if "email" in d} == {"4FAE3164311"}
    assert {d["log"]["syslog"]["appname"] for d in docs if "log" in d} == {"postfix/qmgr"}
    assert state.exists()  # saved when rsyslogd stopped the program (signalOnClose, --state)
