"""Per-recipient outcomes against ground truth from real Postfix and Sendmail runs, and restarts.

The samples in ``samples/realpostfix-*`` were written by a real Postfix 3.7 + Dovecot,
``samples/realfilters-*`` by the same with OpenDKIM, OpenDMARC, policyd-spf, postgrey and
amavisd-new, ``samples/realsendmail-seed3`` by a real Sendmail 8.17 (see samples/README.md);
``ground_truth.jsonl`` says, per Message-ID, the sender and each recipient's expected final
outcome. ``../shared/corpus/realpostfix`` is a third run.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from maillog2json.correlate import MessageTracker
from groundtruth import compare, message_docs
from helpers import SAMPLES, make_pipeline, need_shared

FORMATS = ("traditional", "rfc3339", "rfc5424-fulltag", "rfc5424")
MIN_SHARE = 0.995


def _check(log: Path, truth: Path) -> None:
    result = compare(message_docs(log, "--year", "2026"), truth)
    report = (f"{log.name}: recipients {result['matched']}/{result['recipients']} = {result['share']:.4%}, "
              f"senders {result['senders_ok']}/{result['senders']}\n" + "\n".join(result["misses"]))
    print(report)
    assert result["recipients"] > 0
    assert result["share"] >= MIN_SHARE, report
    assert result["senders_ok"] >= result["senders"] - 1, report   # one sender is never logged (see note)


class TestOwnSamples:
    @pytest.mark.parametrize("fmt", FORMATS)
    @pytest.mark.parametrize("sample", ["realpostfix-seed7", "realpostfix-longids", "realfilters-seed21",
                                        "realsendmail-seed3"])
    def test_recipient_outcomes_match_ground_truth(self, sample, fmt):
        """Every recipient's final outcome in our sample logs matches the run's ground truth."""
        _check(SAMPLES / sample / f"mail.{fmt}.log", SAMPLES / sample / "ground_truth.jsonl")


class TestSharedCorpus:
    @pytest.mark.parametrize("fmt", FORMATS)
    def test_recipient_outcomes_match_ground_truth(self, fmt):
        """The shared realpostfix corpus: at least 99.5% of recipients get their true outcome."""
        base = need_shared("corpus", "realpostfix")
        _check(base / f"mail.{fmt}.log", base / "ground_truth.jsonl")


def _split_run(lines: list[bytes], cut: int, state: Path) -> list[dict]:
    if state.exists():
        state.unlink()
    p1, s1 = make_pipeline(emit="messages")
    p1.time.start_source(None)
    p1.process(lines[:cut])
    p1.tracker.save(str(state))
    t2 = MessageTracker()
    t2.load(str(state))
    p2, s2 = make_pipeline(emit="messages", tracker=t2)
    p2.time.start_source(None)
    p2.process(lines[cut:])
    p2.finish()
    return sorted(s1.documents() + s2.documents(), key=lambda d: d["_id"])


class TestRestart:
    def test_two_runs_with_state_equal_one_run(self, tmp_path):
        """The seed-7 sample split at 60 points (ends included) into two runs gives the one-run documents."""
        lines = (SAMPLES / "realpostfix-seed7" / "mail.traditional.log").read_bytes().splitlines()
        p, sink = make_pipeline(emit="messages")
        p.time.start_source(None)
        p.process(lines)
        p.finish()
        whole = sorted(sink.documents(), key=lambda d: d["_id"])
        assert len(whole) > 150
        cuts = sorted({0, 1, len(lines) - 1, len(lines)} | set(random.Random(7).sample(range(len(lines)), 56)))
        bad = [cut for cut in cuts if _split_run(lines, cut, tmp_path / "state.json") != whole]
        assert not bad, f"split points whose two runs differ from one run: {bad}"
