#!/usr/bin/env python3
"""Memory benchmark for the message tracker: peak RSS of `maillog2json --emit messages --stats FILE`
on a 5M-line synthetic log, against a 100 MiB target.

    python3 bench/memory.py                           # 5M lines
    python3 bench/memory.py --pflogsumm --json /tmp/mem.json
    python3 bench/memory.py --lines 1000000 --target-mib 100

stdout of maillog2json is streamed through a counter (never kept): message documents and those with
"complete": false. Exit status: 0 target met, 1 target missed, 2 the command failed or is missing.
"""
from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _benchlib import (
    DEFAULT_CACHE,
    DEFAULT_CMD,
    PFLOGSUMM_HINT,
    BenchError,
    check_cache_dir,
    check_ok,
    count_lines,
    default_generator,
    ensure_log,
    log,
    machine_info,
    main_wrapper,
    preflight,
    resolve_cmd,
    resolve_program,
    run_child,
    warm_cache,
)

try:
    import orjson
    _loads = orjson.loads
    _JSON_LIB = "orjson"
except ImportError:  # pragma: no cover - depends on the environment
    _loads = json.loads
    _JSON_LIB = "json"

_TYPE_MESSAGE = re.compile(rb'"type"\s*:\s*"message"')
_COMPLETE_FALSE = re.compile(rb'"complete"\s*:\s*false')
_LINES_READ = re.compile(r"^\s*lines read\s+(\d+)\s*$", re.MULTILINE)


class Counter:
    def __init__(self, mode: str):
        self.mode = mode
        self.docs = self.messages = self.incomplete = self.bad = 0
        self.other_types: dict[str, int] = {}

    def __call__(self, stream) -> None:
        if self.mode == "substring":
            for line in stream:
                self.docs += 1
                if _TYPE_MESSAGE.search(line):
                    self.messages += 1
                    if _COMPLETE_FALSE.search(line):
                        self.incomplete += 1
            return
        for line in stream:
            if not line.strip():
                continue
            self.docs += 1
            try:
                doc = _loads(line)
            except ValueError:
                self.bad += 1
                continue
            t = doc.get("type") if isinstance(doc, dict) else None
            if t == "message":
                self.messages += 1
                if doc.get("complete") is False:
                    self.incomplete += 1
            else:
                self.other_types[str(t)] = self.other_types.get(str(t), 0) + 1


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=5_000_000,
                    help="lines in the generated log (default 5000000)")
    ap.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    ap.add_argument("--cmd", default=DEFAULT_CMD,
                    help=f"the maillog2json command, shell-quoted (default {DEFAULT_CMD!r}, "
                         "run from the repo root)")
    ap.add_argument("--target-mib", type=float, default=100.0, help="peak RSS target in MiB (default 100)")
    ap.add_argument("--pflogsumm", action="store_true",
                    help="also run pflogsumm on the same file for its peak RSS")
    ap.add_argument("--count", choices=["parse", "substring"], default="parse",
                    help=f"how to count documents: parse each line ({_JSON_LIB}) "
                         "or match substrings (faster)")
    ap.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT")
    ap.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE,
                    help=f"where generated logs are kept (default {DEFAULT_CACHE}; never inside the repo)")
    ap.add_argument("--file", type=Path, help="measure on this log instead of a generated one")
    ap.add_argument("--gen", type=Path, default=default_generator(), help="path of gen_maillog.py")
    a = ap.parse_args(argv)
    if a.lines < 1:
        ap.error("--lines must be >= 1")
    return a


def main(argv=None) -> int:
    a = parse_args(argv)
    if not a.file:
        check_cache_dir(a.cache_dir)
    ours = resolve_cmd(a.cmd)
    preflight(ours, "maillog2json")
    pflog = None
    if a.pflogsumm:
        try:
            pflog = resolve_program("pflogsumm")
        except BenchError:
            log(f"note: {PFLOGSUMM_HINT}; skipping it")

    path = a.file.resolve() if a.file else ensure_log(a.cache_dir, a.seed, a.lines, a.gen)
    if not path.is_file():
        raise BenchError(f"no such file: {path}")
    nlines = count_lines(path)
    warm_cache(path)

    cmd = ours + ["--emit", "messages", "--stats", str(path)]
    log(f"file {path}: {nlines:,} lines; running {shlex.join(cmd)} (counting by {a.count}"
        f"{' with ' + _JSON_LIB if a.count == 'parse' else ''}) ...")
    counter = Counter(a.count)
    res = run_child(cmd, consume=counter)
    check_ok(res, "maillog2json --emit messages")
    m = _LINES_READ.search(res.stderr)
    lines_read = int(m.group(1)) if m else None
    if lines_read is not None and lines_read != nlines:
        for line in res.stderr.rstrip().splitlines()[:12]:
            log(f"    {line}")
        raise BenchError(f"maillog2json read {lines_read:,} of the {nlines:,} lines and exited 0 "
                         f"(after {res.wall_s:.0f} s, peak RSS {res.maxrss_mib:.1f} MiB): "
                         f"the run is not valid. "
                         f"It stops early like that on SIGTERM: was it killed from outside?")
    passed = res.maxrss_mib <= a.target_mib

    pf = None
    if pflog:
        log(f"running pflogsumm {path} ...")
        pf = run_child([pflog, str(path)])
        check_ok(pf, "pflogsumm")

    print(f"\nmemory: maillog2json --emit messages --stats on {path}")
    print(f"  lines in log          {nlines:>14,}")
    print(f"  documents on stdout   {counter.docs:>14,}")
    print(f"  message docs          {counter.messages:>14,}")
    print(f"  incomplete docs       {counter.incomplete:>14,}   (\"complete\": false)")
    if counter.bad:
        print(f"  unparsable lines      {counter.bad:>14,}")
    if counter.other_types:
        print(f"  other doc types       {counter.other_types}")
    print(f"  wall time             {res.wall_s:>14.1f} s   ({nlines / res.wall_s:,.0f} lines/s)")
    print(f"  CPU (user+sys)        {res.utime_s + res.stime_s:>14.1f} s")
    print(f"  peak RSS              {res.maxrss_mib:>14.1f} MiB")
    print(f"  target                {a.target_mib:>14.1f} MiB   -> {'PASS' if passed else 'FAIL'}")
    if pf:
        print(f"  pflogsumm peak RSS    {pf.maxrss_mib:>14.1f} MiB   (wall {pf.wall_s:.1f} s)")
    if res.stderr.strip():
        print("  --stats (stderr of maillog2json):")
        for line in res.stderr.rstrip().splitlines()[:60]:
            print(f"    {line}")

    if a.json:
        doc = {"benchmark": "memory", "machine": machine_info(), "file": str(path), "lines": nlines,
               "seed": None if a.file else a.seed, "cmd": a.cmd, "argv": res.argv, "count_mode": a.count,
               "documents": counter.docs, "message_docs": counter.messages,
               "incomplete_docs": counter.incomplete, "unparsable": counter.bad,
               "other_types": counter.other_types, "wall_s": res.wall_s,
               "cpu_s": res.utime_s + res.stime_s, "peak_rss_mib": res.maxrss_mib,
               "lines_read": lines_read, "target_mib": a.target_mib, "pass": passed,
               "stats_stderr": res.stderr,
               "pflogsumm": None if pf is None else {"wall_s": pf.wall_s, "peak_rss_mib": pf.maxrss_mib,
                                                    "cpu_s": pf.utime_s + pf.stime_s}}
        Path(a.json).write_text(json.dumps(doc, indent=2) + "\n")
        log(f"wrote {a.json}")
    return 0 if passed else 1


if __name__ == "__main__":
    main_wrapper(main)
