"""Settings: command line > environment > config file > default, and --print-config."""

from __future__ import annotations

import subprocess
import sys

import pytest

from helpers import ROOT, SAMPLES

BASE = [sys.executable, "-m", "maillog2json"]


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MAILLOG2JSON_")}
    return subprocess.run(BASE + list(args), cwd=ROOT, capture_output=True, env={**clean, **(env or {})},
                          timeout=60)


def setting(out: bytes, key: str) -> str:
    for line in out.decode().splitlines():
        if line.startswith(f"{key} = "):
            return line
    raise AssertionError(f"{key} not in:\n{out.decode()}")


@pytest.fixture
def conf(tmp_path):
    p = tmp_path / "m2j.toml"
    p.write_text('emit = "lines"\nqueue_size = 77\nflush-interval = "3s"\n'
                 'elasticsearch = ["http://a:9200", "http://b:9200"]\nstate = "/tmp/x.json"\n')
    return p


def test_config_file_then_environment_then_command_line(conf):
    out = run("--config", str(conf), "--print-config").stdout
    assert setting(out, "emit") == 'emit = "lines"  # config file'
    assert setting(out, "queue-size") == "queue-size = 77  # config file"
    assert setting(out, "flush-interval") == "flush-interval = 3.0  # config file"
    assert setting(out, "elasticsearch") == 'elasticsearch = ["http://a:9200", "http://b:9200"]  # config file'
    assert setting(out, "state") == 'state = "/tmp/x.json"  # config file'
    assert setting(out, "batch-size") == "batch-size = 1000  # default"
    env = {"MAILLOG2JSON_EMIT": "messages", "MAILLOG2JSON_QUEUE_SIZE": "88"}
    out = run("--config", str(conf), "--print-config", env=env).stdout
    assert setting(out, "emit") == 'emit = "messages"  # environment'
    assert setting(out, "queue-size") == "queue-size = 88  # environment"
    out = run("--config", str(conf), "--emit", "all", "--print-config", env=env).stdout
    assert setting(out, "emit") == 'emit = "all"  # command line'
    assert setting(out, "queue-size") == "queue-size = 88  # environment"


def test_config_file_from_the_environment_and_its_settings_take_effect(tmp_path):
    conf = tmp_path / "lines.toml"
    conf.write_text('emit = "lines"\n')
    p = run("--stats", str(SAMPLES / "maillog-small.log"), env={"MAILLOG2JSON_CONFIG": str(conf)})
    # emit = "lines" from the file: 400 line documents and no message document
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout.count(b"\n") == 400 and b'"type":"message"' not in p.stdout


def test_printed_config_is_a_valid_config_file(conf, tmp_path):
    out = run("--config", str(conf), "--emit", "all", "--print-config").stdout
    again = tmp_path / "again.toml"
    again.write_bytes(out)
    out2 = run("--config", str(again), "--print-config").stdout
    assert setting(out2, "emit") == 'emit = "all"  # config file'
    assert setting(out2, "queue-size") == "queue-size = 77  # config file"


def test_secrets_are_masked_and_never_settings(tmp_path):
    env = {"MAILLOG2JSON_ES_PASSWORD": "hunter2-secret", "MAILLOG2JSON_ES_API_KEY": "key-secret"}
    out = run("--print-config", env=env).stdout
    assert b"hunter2-secret" not in out and b"key-secret" not in out
    assert b"# MAILLOG2JSON_ES_PASSWORD: set (masked)" in out
    assert b"# MAILLOG2JSON_FLUENTD_SHARED_KEY: not set" in out
    bad = tmp_path / "secret.toml"
    bad.write_text('es-password = "x"\n')
    p = run("--config", str(bad))
    assert p.returncode == 2 and b"unknown setting 'es-password'" in p.stderr


@pytest.mark.parametrize("text,message", [
    ("emit = \n", b"is not valid TOML"),
    ("bogus = 1\n", b"unknown setting 'bogus'"),
    ("queue-size = \"many\"\n", b"queue-size"),
])
def test_bad_config_files_are_usage_errors(tmp_path, text, message):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    r = run("--config", str(p), str(SAMPLES / "maillog-small.log"))
    assert r.returncode == 2, r.stderr.decode()
    assert message in r.stderr and b"Traceback" not in r.stderr


def test_missing_config_file_is_a_usage_error(tmp_path):
    r = run("--config", str(tmp_path / "nope.toml"))
    assert r.returncode == 2 and b"cannot read" in r.stderr
