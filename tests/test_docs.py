"""The documentation follows the code: docs/schema.md names every kind and field, README's CLI reference is --help.

Conventions of docs/schema.md that these tests read:

* a kind is documented by a level-3 heading naming it in backticks (``### `smtpd.reject` ``,
  several per heading allowed); in such a name ``<level>`` stands for a Postfix/Dovecot
  level, ``<action>`` for an access action and any other ``<placeholder>`` for a daemon
  name (``### `<daemon>.<level>` ``);
* the first ```` ```text ```` block under a kind heading holds example lines, each of which
  must give one of the heading's kinds;
* a field is documented when its name appears in inline code anywhere outside fenced
  blocks (``delays.before_qmgr`` documents ``before_qmgr``).

The README's "CLI reference" section is generated: ``python tests/test_docs.py --update-readme``.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Iterator
from typing import Any

from helpers import ROOT, SAMPLES, docs_for, pipeline_docs

SCHEMA = ROOT / "docs" / "schema.md"
README = ROOT / "README.md"
SAMPLE_LOGS = sorted(SAMPLES.glob("*.log")) + sorted(SAMPLES.glob("*/*.log"))

LEVELS = ("warning", "error", "fatal", "panic", "info")
ACTIONS = ("reject", "reject_warning", "hold", "discard", "filter", "redirect", "warn", "bcc", "prepend", "defer",
           "defer_if_permit", "milter_reject", "milter_discard", "milter_hold", "milter_redirect",
           "milter_header_redirect")
PLACEHOLDERS = {"<level>": LEVELS, "<action>": ACTIONS}
# objects whose keys are data (SMTP command names), documented through their parent
OPEN_MAPS = frozenset(("command_counts", "command_counts_ok"))

CLI_HEADING = "## CLI reference"
HELP_WIDTH = 78          # what click prints on an 80-column terminal
UPDATE_COMMAND = "python tests/test_docs.py --update-readme"


# -- reading docs/schema.md ---------------------------------------------------------------------

def schema_text() -> str:
    return SCHEMA.read_text(encoding="utf-8")


def without_fences(text: str) -> str:
    """The text with fenced code blocks removed."""
    return re.sub(r"^```.*?^```[ \t]*$", "", text, flags=re.DOTALL | re.MULTILINE)


def kind_sections(text: str) -> Iterator[tuple[list[str], list[str]]]:
    """(kind names, example lines) for each ``###`` heading that names kinds."""
    parts = re.split(r"^(### .*)$", text, flags=re.MULTILINE)
    for heading, body in zip(parts[1::2], parts[2::2]):
        names = re.findall(r"`([^`]+)`", heading)
        if not names:
            continue
        m = re.search(r"^```text\n(.*?)^```", body, flags=re.DOTALL | re.MULTILINE)
        examples = m.group(1).splitlines() if m else []
        yield names, examples


def kind_pattern(name: str) -> re.Pattern:
    """A documented kind name (maybe with placeholders) as a regex."""
    out = ""
    for piece in re.split(r"(<[a-z_]+>)", name):
        if piece in PLACEHOLDERS:
            out += "(?:" + "|".join(PLACEHOLDERS[piece]) + ")"
        elif piece.startswith("<"):
            out += "[a-z0-9_]+"
        else:
            out += re.escape(piece)
    return re.compile(out + r"\Z")


@functools.cache
def documented_kinds() -> tuple[re.Pattern, ...]:
    return tuple(kind_pattern(n) for names, _ in kind_sections(schema_text()) for n in names)


@functools.cache
def mentioned_names() -> frozenset[str]:
    """Every identifier inside inline code outside fenced blocks."""
    names: set[str] = set()
    for code in re.findall(r"`([^`\n]+)`", without_fences(schema_text())):
        names.update(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", code))
    return frozenset(names)


def is_documented(kind: str) -> bool:
    return any(p.match(kind) for p in documented_kinds())


# -- the documents of every sample log ----------------------------------------------------------

@functools.cache
def sample_documents() -> tuple[dict[str, Any], ...]:
    docs: list[dict[str, Any]] = []
    for path in SAMPLE_LOGS:
        docs.extend(pipeline_docs(path.read_bytes().splitlines(), emit="all", year=2026))
    return tuple(docs)


def field_paths(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every key path in a document (list elements share their list's path)."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield path + (k,)
            yield from field_paths(v, path + (k,))
    elif isinstance(value, list):
        for v in value:
            yield from field_paths(v, path)


# -- the README's CLI reference -----------------------------------------------------------------

def help_text() -> str:
    """``maillog2json --help`` as printed on an 80-column terminal."""
    from click.testing import CliRunner

    from maillog2json.cli import run as main

    result = CliRunner().invoke(main, ["--help"], prog_name="maillog2json", terminal_width=HELP_WIDTH)
    assert result.exit_code == 0, result.output
    return result.output


def cli_reference() -> str:
    """The README's last section, generated from --help."""
    return (f"{CLI_HEADING}\n\n"
            f"`maillog2json --help` (generated: `{UPDATE_COMMAND}`):\n\n"
            f"```text\n{help_text().rstrip()}\n```\n")


def split_readme(text: str) -> tuple[str, str]:
    """(everything before the CLI reference, the section); the section is '' when missing."""
    m = re.search(r"^" + re.escape(CLI_HEADING) + r"[ \t]*$", text, flags=re.MULTILINE)
    if m is None:
        return text, ""
    return text[:m.start()], text[m.start():]


def update_readme() -> None:
    """Write the current --help into the README's CLI reference section (the last one)."""
    text = README.read_text(encoding="utf-8")
    head, _ = split_readme(text)
    head = head.rstrip("\n") + "\n\n"
    README.write_text(head + cli_reference(), encoding="utf-8")


# -- tests --------------------------------------------------------------------------------------

def test_samples_are_present() -> None:
    """The sample logs the other tests read are in the checkout."""
    assert len(SAMPLE_LOGS) >= 9, SAMPLE_LOGS


def test_every_sample_kind_is_documented() -> None:
    """Every kind the samples produce has a heading in docs/schema.md."""
    kinds = {d["kind"] for d in sample_documents() if d["type"] == "line"}
    missing = sorted(k for k in kinds if not is_documented(k))
    assert not missing, f"kinds without a '### `kind`' heading in {SCHEMA.name}: {missing}"


def test_every_sample_field_is_documented() -> None:
    """Every field name in the samples' line and message documents is mentioned in docs/schema.md."""
    known = mentioned_names()
    missing: dict[str, str] = {}
    for doc in sample_documents():
        where = doc["kind"] if doc["type"] == "line" else "message"
        for path in field_paths(doc):
            if path[-1] in known or (len(path) > 1 and path[-2] in OPEN_MAPS):
                continue
            missing.setdefault(".".join(path), where)
    assert not missing, f"fields not mentioned in {SCHEMA.name} (field: a kind with it): {missing}"


def test_documented_examples_give_their_kind() -> None:
    """Each example line under a kind heading parses to one of that heading's kinds."""
    wrong = []
    sections = list(kind_sections(schema_text()))
    assert sections
    for names, examples in sections:
        assert examples, f"no ```text example under the heading for {names}"
        patterns = [kind_pattern(n) for n in names]
        for line, doc in zip(examples, docs_for(examples, year=2026)):
            if not any(p.match(doc["kind"]) for p in patterns):
                wrong.append((names[0], doc["kind"], line))
    assert not wrong, "examples whose kind is not their heading's (heading, got, line):\n" + "\n".join(map(str, wrong))


def test_message_statuses_and_origins_are_documented() -> None:
    """Every message status, recipient status, origin and hop type of the samples is in docs/schema.md."""
    known = mentioned_names()
    values = set()
    for doc in sample_documents():
        if doc["type"] != "message":
            continue
        values.update((doc["status"], doc["origin"]))
        values.update(r["status"] for r in doc["recipients"])
        values.update(h["via"] for h in doc.get("hops", []))
        values.update(b["notice"] for b in doc.get("bounces", []))
    missing = sorted(v for v in values if v not in known)
    assert not missing, f"values not mentioned in {SCHEMA.name}: {missing}"


def test_help_ends_with_an_example() -> None:
    """--help ends with example command lines."""
    lines = help_text().rstrip().splitlines()
    assert any(line.strip() == "Examples:" for line in lines), lines
    assert lines[-1].strip().startswith("maillog2json "), lines[-1]


def test_readme_cli_reference_is_current() -> None:
    """The README ends with a CLI reference section holding exactly the current --help."""
    _, section = split_readme(README.read_text(encoding="utf-8"))
    assert section, f"README.md has no '{CLI_HEADING}' section: run `{UPDATE_COMMAND}`"
    assert section == cli_reference(), f"README.md's CLI reference is not the current --help: run `{UPDATE_COMMAND}`"


if __name__ == "__main__":
    if sys.argv[1:] == ["--update-readme"]:
        update_readme()
        print(f"updated {README}")
    elif not sys.argv[1:]:
        sys.stdout.write(cli_reference())
    else:
        sys.exit("usage: python tests/test_docs.py [--update-readme]")
