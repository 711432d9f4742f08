"""Line ids: derived from the line's bytes, numbered for exact repeats over a bounded window."""

from __future__ import annotations

import hashlib

import pytest

import maillog2json.pipeline as pipeline_module
from helpers import make_pipeline


def line(i: int) -> bytes:
    return b"Mar  3 10:00:%02d mx postfix/qmgr[1]: %05dAB: removed" % (i % 60, i)


def ids(p: pipeline_module.Pipeline, batches: list[list[bytes]]) -> list[str]:
    out = []
    for batch in batches:
        out.extend(d["_id"] for d in p.line_documents(batch))
    return out


def test_first_sight_and_repeats() -> None:
    """The first sight's id is the line's digest; the n-th repeat's is the digest with n."""
    p, _ = make_pipeline()
    p.time.start_source(None)
    raw = line(1)
    got = ids(p, [[raw, line(2), raw], [raw]])
    assert got[0] == hashlib.blake2b(raw, digest_size=12).hexdigest() == pipeline_module.line_id(raw, 0)
    assert got[2] == pipeline_module.line_id(raw, 1) and got[3] == pipeline_module.line_id(raw, 2)
    assert len(set(got)) == 4


def test_window_is_bounded_and_keeps_the_newest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory stays bounded by the window (checked once per batch), and a repeat within the
    window is still numbered after many trims."""
    monkeypatch.setattr(pipeline_module, "SEEN_WINDOW", 8)
    p, _ = make_pipeline()
    p.time.start_source(None)
    batches = [[line(i) for i in range(b * 5, b * 5 + 5)] for b in range(40)]
    sizes = []
    for batch in batches:
        ids(p, [batch])
        sizes.append(len(p._seen))
    assert max(sizes) <= 2 * 8 + 5
    recent = line(199)                      # seen in the last batch: still in the window
    assert ids(p, [[recent]]) == [pipeline_module.line_id(recent, 1)]
    # the state file keeps the newest first sights, in order
    state = p.id_state(keep=3)
    assert [k for k, _ in state] == [pipeline_module.line_id(line(i), 0) for i in (197, 198, 199)]


def test_restored_state_continues_the_numbering() -> None:
    raw = line(7)
    p, _ = make_pipeline()
    p.time.start_source(None)
    first = ids(p, [[raw, raw]])
    q, _ = make_pipeline()
    q.time.start_source(None)
    q.restore_id_state(p.id_state())
    assert ids(q, [[raw]]) == [pipeline_module.line_id(raw, 2)]
    assert first == [pipeline_module.line_id(raw, 0), pipeline_module.line_id(raw, 1)]


def test_fast_path_and_general_path_agree() -> None:
    """line_documents() reads the common line inline (the hot path) and everything else in
    _general_document(), whose FAST_HEADER branch is the same code: for every sample line, both
    give the same document, so the two cannot drift apart."""
    from helpers import SAMPLES
    from maillog2json.inputs import Line

    files = sorted(SAMPLES.glob("*/*.log")) + sorted(SAMPLES.glob("*.log"))
    assert files
    checked = 0
    for path in files:
        fast, _ = make_pipeline()
        general, _ = make_pipeline()
        fast.time.start_source(None)
        general.time.start_source(None)
        for raw in path.read_bytes().splitlines():
            doc = next(fast.line_documents([raw]))
            other, id_bytes = general._general_document(Line(raw, 0))   # a Line: never the fast path
            assert id_bytes == raw
            assert {k: v for k, v in doc.items() if k != "_id"} == {k: v for k, v in other.items() if k != "_id"}
            assert list(doc) == list(other)
            checked += 1
    assert checked > 10_000
