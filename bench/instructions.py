#!/usr/bin/env python3
"""Instructions per line: maillog2json vs pflogsumm, counted by valgrind (callgrind), not timed.

    python3 bench/instructions.py                     # first 10,000 lines of the 1M-line log
    python3 bench/instructions.py --lines 20000 --json /tmp/ir.json

The throughput benchmark times whole runs, and on a shared machine two runs of the same
command can differ by 40%. An instruction count is the same on every run of the same
binary and input, whatever else the machine does, so a change of a few percent shows.
It is not a time: Python code runs fewer instructions per cycle than pflogsumm's regex
loop, so the ratio here is kinder to us than the wall-clock ratio of throughput.py.

Each command runs twice under callgrind, on the sample and on an empty file; the
difference divided by the sample's lines is the cost of a line, start-up excluded.
PYTHONHASHSEED is fixed so that dict probing is the same on every run.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _benchlib import (
    DEFAULT_CACHE,
    DEFAULT_CMD,
    PFLOGSUMM_HINT,
    REPO,
    BenchError,
    check_cache_dir,
    default_generator,
    ensure_log,
    log,
    machine_info,
    main_wrapper,
    preflight,
    resolve_cmd,
    resolve_program,
)

_COLLECTED = re.compile(r"Collected : ([0-9,]+)")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=10_000,
                    help="lines of the log to run on (default 10000: about a minute per command)")
    ap.add_argument("--from-lines", type=int, default=1_000_000,
                    help="take them from the head of the generated log of this many lines (default 1000000)")
    ap.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    ap.add_argument("--cmd", default=DEFAULT_CMD,
                    help=f"the maillog2json command, shell-quoted (default {DEFAULT_CMD!r})")
    ap.add_argument("--only-ours", action="store_true", help="skip pflogsumm")
    ap.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT")
    ap.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE,
                    help=f"where generated logs are kept (default {DEFAULT_CACHE})")
    ap.add_argument("--gen", type=Path, default=default_generator(), help="path of gen_maillog.py")
    a = ap.parse_args(argv)
    if a.lines < 1 or a.from_lines < a.lines:
        ap.error("need 1 <= --lines <= --from-lines")
    return a


def head(src: Path, n: int, cache_dir: Path) -> Path:
    """The first n lines of src, cached beside it (with src's mtime, for the year of its stamps)."""
    out = cache_dir / f"{src.stem}-head{n}.log"
    if not out.is_file():
        with open(src, "rb") as f, open(out, "wb") as g:
            for i, line in enumerate(f):
                if i >= n:
                    break
                g.write(line)
        st = src.stat()
        os.utime(out, (st.st_atime, st.st_mtime))
    return out


def instructions(argv: list[str], path: str) -> int:
    """Instructions callgrind counts for argv + [path] (stdout discarded)."""
    env = dict(os.environ, PYTHONHASHSEED="0")
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv, path]
    r = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       text=True, timeout=3600)
    m = _COLLECTED.search(r.stderr)
    if r.returncode != 0 or m is None:
        raise BenchError(f"callgrind run failed (status {r.returncode}): {' '.join(cmd)}\n{r.stderr[-2000:]}")
    return int(m.group(1).replace(",", ""))


def main(argv=None) -> int:
    a = parse_args(argv)
    if shutil.which("valgrind") is None:
        raise BenchError("valgrind not found: install it with `apt-get install valgrind` (Debian package)")
    cache = check_cache_dir(a.cache_dir)
    ours = resolve_cmd(a.cmd)
    preflight(ours, "maillog2json")
    sample = head(ensure_log(cache, a.seed, a.from_lines, a.gen), a.lines, cache)
    rows: dict[str, list[str]] = {
        "maillog2json --emit lines": ours + ["--emit", "lines"],
        "maillog2json --emit all": ours + ["--emit", "all"],
    }
    if not a.only_ours:
        try:
            rows["pflogsumm"] = [resolve_program("perl"), resolve_program("pflogsumm")]
        except BenchError:
            log(f"note: {PFLOGSUMM_HINT}; skipping the pflogsumm row")

    results = {}
    with tempfile.NamedTemporaryFile(prefix="maillog2json-empty-", suffix=".log") as empty:
        os.utime(empty.name, (sample.stat().st_atime, sample.stat().st_mtime))
        for name, cmd in rows.items():
            log(f"  {name}: callgrind on {a.lines:,} lines and on an empty file ...")
            total, start = instructions(cmd, str(sample)), instructions(cmd, empty.name)
            results[name] = {"argv": cmd, "instructions": total, "startup": start,
                             "per_line": (total - start) / a.lines}

    print(f"\ninstructions per line (callgrind, start-up excluded): {sample} ({a.lines:,} lines)")
    base = results.get("pflogsumm", {}).get("per_line")
    print(f"{'command':28s} {'per line':>10s} {'start-up':>14s} {'pflogsumm / ours':>17s}")
    for name, r in results.items():
        ratio = f"{base / r['per_line']:.2f}x" if base and name != "pflogsumm" else "-"
        print(f"{name:28s} {r['per_line']:10,.0f} {r['startup']:14,d} {ratio:>17s}")
    print("pflogsumm / ours > 1 means fewer instructions than pflogsumm per line; not a speed (see --help)")
    if a.json:
        Path(a.json).write_text(json.dumps({"benchmark": "instructions", "machine": machine_info(),
                                            "file": str(sample), "lines": a.lines, "results": results},
                                           indent=2) + "\n")
        log(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    main_wrapper(main)
