"""Counters for ``--stats``: lines, documents, kinds, unparsed examples (Vector-style
internal events, counted in the hot path with plain dict increments)."""

from __future__ import annotations

import re
import sys
from typing import Any, TextIO

MAX_EXAMPLES = 5
EXAMPLE_CHARS = 200

# Characters that would act on the terminal the report is printed to (escape sequences,
# carriage returns, bidi overrides): an example shows them escaped, as \x1b or \u202e.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _printable(text: str) -> str:
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class Stats:
    __slots__ = ("lines", "documents", "kinds", "unparsed_examples", "unparsed_reasons", "invalid_utf8",
                 "truncated", "extra")

    def __init__(self) -> None:
        self.lines = 0
        self.documents = 0
        self.kinds: dict[str, int] = {}
        self.unparsed_examples: list[str] = []
        self.unparsed_reasons: dict[str, int] = {}
        self.invalid_utf8 = 0
        self.truncated = 0
        self.extra: dict[str, Any] = {}

    def unparsed(self, reason: str, raw: str) -> None:
        self.unparsed_reasons[reason] = self.unparsed_reasons.get(reason, 0) + 1
        if len(self.unparsed_examples) < MAX_EXAMPLES:
            example = raw if len(raw) <= EXAMPLE_CHARS else raw[:EXAMPLE_CHARS] + "..."
            self.unparsed_examples.append(_printable(example))

    @property
    def unparsed_count(self) -> int:
        return self.kinds.get("unparsed", 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "documents": self.documents,
            "unparsed": self.unparsed_count,
            "unparsed_reasons": dict(sorted(self.unparsed_reasons.items())),
            "invalid_utf8": self.invalid_utf8,
            "truncated": self.truncated,
            "kinds": dict(sorted(self.kinds.items(), key=lambda kv: (-kv[1], kv[0]))),
            "unparsed_examples": self.unparsed_examples,
            **self.extra,
        }

    def report(self, out: TextIO = sys.stderr) -> None:
        """The human-readable summary printed at exit."""
        d = self.as_dict()
        share = (100.0 * d["unparsed"] / d["lines"]) if d["lines"] else 0.0
        w = out.write
        w("maillog2json stats\n")
        w(f"  lines read         {d['lines']}\n")
        w(f"  documents written  {d['documents']}\n")
        w(f"  unparsed lines     {d['unparsed']} ({share:.2f}%)\n")
        if d["invalid_utf8"] or d["truncated"]:
            w(f"  invalid UTF-8      {d['invalid_utf8']}\n  truncated lines    {d['truncated']}\n")
        for key, value in self.extra.items():
            if isinstance(value, dict):
                w(f"  {key}:\n")
                for k, v in value.items():
                    w(f"    {k:<26} {v}\n")
            else:
                w(f"  {key:<18} {value}\n")
        w("  kinds:\n")
        for kind, n in d["kinds"].items():
            w(f"    {kind:<32} {n}\n")
        if d["unparsed_examples"]:
            w("  unparsed examples:\n")
            for ex in d["unparsed_examples"]:
                w(f"    {ex}\n")
