"""Compare message documents with a realpostfix (or realsendmail) ``ground_truth.jsonl``.

Used by the ground-truth tests and runnable by hand:
``python tests/groundtruth.py LOG GROUND_TRUTH`` prints the share and every miss.

A ground-truth message finds its documents by Message-ID, else by the HELO name (a Postfix
transaction that was refused before DATA). Sendmail logs no HELO, and a transaction that
accepted nothing has no Message-ID: such a message takes the Sendmail document without one
of its sender and client address that starts nearest its ``sent_at`` (within
:data:`NEAR` seconds) and names no recipient the message did not have.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Optional

OUTCOME = {"sent": "delivered", "bounced": "bounced", "expired": "expired", "rejected": "rejected",
           "discarded": "discarded", "deleted": "deleted"}
CHECKED = frozenset(("delivered", "bounced", "expired", "rejected", "discarded", "deleted"))
NEAR = 10.0     # seconds between the client's sent_at and a matched document's first_seen


def message_docs(log: Path, *extra: str) -> list[dict[str, Any]]:
    out = subprocess.run([sys.executable, "-m", "maillog2json", "--emit", "messages", *extra, str(log)],
                         check=True, capture_output=True)
    return [json.loads(line) for line in out.stdout.splitlines()]


def recipient_outcome(doc: dict[str, Any], rcpt: str) -> str:
    """A recipient's outcome in a message document: its rows (by to, orig_to or final_to),
    else the message's own status (the log never named that recipient)."""
    rows = [r for r in doc.get("recipients") or [] if rcpt in (r.get("to"), r.get("orig_to"), r.get("final_to"))]
    if not rows:
        # an alias the log never names (Sendmail logs only what it expanded to): the entries
        # marked as expansions of an address not given
        rows = [r for r in doc.get("recipients") or [] if r.get("expanded") and not r.get("orig_to")]
    statuses = [r.get("status") for r in rows] or [doc.get("status")]
    bad = [s for s in statuses if s != "sent"]
    s = bad[0] if bad else "sent"
    return OUTCOME.get(s, str(s))


def _epoch(ts: Optional[str]) -> Optional[float]:
    return datetime.fromisoformat(ts).timestamp() if ts else None


def _nearest(pool: list[dict[str, Any]], gt: dict[str, Any]) -> list[dict[str, Any]]:
    """The Sendmail document without Message-ID that fits ``gt`` best (taken from ``pool``)."""
    sent = _epoch(gt.get("sent_at"))
    rcpts = {r["rcpt"] for r in gt["recipients"]}
    fits = []
    for d in pool:
        first = _epoch(d.get("first_seen"))
        if d.get("from") != gt["sender"] or sent is None or first is None or abs(first - sent) > NEAR:
            continue
        if gt.get("client_ip") and (d.get("client") or {}).get("ip") != gt["client_ip"]:
            continue
        named = {x.get(k) for x in d.get("recipients") or [] for k in ("to", "orig_to", "final_to")} - {None}
        if any(x.get("to") not in rcpts and x.get("orig_to") not in rcpts for x in d.get("recipients") or []):
            continue
        fits.append((not (named & rcpts), abs(first - sent), d))
    if not fits:
        return []
    best = min(fits, key=lambda f: (f[0], f[1]))[2]
    pool.remove(best)
    return [best]


def compare(docs: Iterable[dict[str, Any]], truth_path: Path) -> dict[str, Any]:
    by_mid: dict[str, list[dict[str, Any]]] = {}
    by_helo: dict[str, list[dict[str, Any]]] = {}
    no_mid: list[dict[str, Any]] = []       # Sendmail documents without Message-ID (see the docstring)
    for d in docs:
        if d.get("type") != "message":
            continue
        if d.get("mta") == "sendmail" and not d.get("message_id"):
            no_mid.append(d)
        if d.get("message_id"):
            by_mid.setdefault(d["message_id"], []).append(d)
        helo = (d.get("client") or {}).get("helo")
        if helo:
            by_helo.setdefault(helo, []).append(d)
    checked = matched = sender_checked = sender_ok = 0
    misses: list[str] = []
    for line in truth_path.read_text().splitlines():
        gt = json.loads(line)
        if gt.get("kind") == "session":
            continue
        mid = gt["message_id"].strip("<>")
        candidates = by_mid.get(mid) or []
        if not candidates and gt.get("helo"):
            candidates = [d for d in by_helo.get(gt["helo"], []) if d.get("from") == gt["sender"]]
        if not candidates and no_mid:
            candidates = _nearest(no_mid, gt)
        for r in gt["recipients"]:
            if r["expect"] not in CHECKED:
                continue
            checked += 1
            docs_with = [d for d in candidates if any(r["rcpt"] in (x.get("to"), x.get("orig_to"), x.get("final_to"))
                                                      for x in d.get("recipients") or [])]
            pool = docs_with or candidates
            got = recipient_outcome(pool[0], r["rcpt"]) if pool else "no document"
            if got == r["expect"]:
                matched += 1
            else:
                misses.append(f"{gt['scenario']} {mid} {r['rcpt']}: expected {r['expect']}, got {got} "
                              f"({len(candidates)} docs)")
        if candidates:
            sender_checked += 1
            if any(d.get("from") == gt["sender"] for d in candidates):
                sender_ok += 1
            else:
                misses.append(f"{gt['scenario']} {mid}: sender expected {gt['sender']!r}, "
                              f"got {[d.get('from') for d in candidates]}")
        elif any(r["expect"] in CHECKED for r in gt["recipients"]):
            sender_checked += 1
            misses.append(f"{gt['scenario']} {mid}: no message document")
    return {"recipients": checked, "matched": matched, "share": matched / checked if checked else 0.0,
            "senders": sender_checked, "senders_ok": sender_ok, "misses": misses}


if __name__ == "__main__":
    result = compare(message_docs(Path(sys.argv[1]), *sys.argv[3:]), Path(sys.argv[2]))
    print(f"recipients {result['matched']}/{result['recipients']} = {result['share']:.4%}; "
          f"senders {result['senders_ok']}/{result['senders']}")
    for m in result["misses"]:
        print("  MISS", m)
