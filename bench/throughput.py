#!/usr/bin/env python3
"""Throughput benchmark: maillog2json vs pflogsumm vs a bare Python read loop, on one synthetic log.

    python3 bench/throughput.py                       # 1M lines, 3 rounds
    python3 bench/throughput.py --lines 200000 --rounds 1 --json /tmp/tp.json
    python3 bench/throughput.py --cmd 'maillog2json' --only-ours

Rows run interleaved: each round runs every command once (in a rotated order), so slow phases of a noisy
machine hit every row alike; the paired per-round ratios are the figures to compare.
"""
from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _benchlib import (
    BASELINE_CODE,
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


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000,
                    help="lines in the generated log (default 1000000)")
    ap.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument("--cmd", default=DEFAULT_CMD,
                    help=f"the maillog2json command, shell-quoted (default {DEFAULT_CMD!r}, "
                         "run from the repo root)")
    ap.add_argument("--only-ours", action="store_true", help="run only the maillog2json rows")
    ap.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT")
    ap.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE,
                    help=f"where generated logs are kept (default {DEFAULT_CACHE}; never inside the repo)")
    ap.add_argument("--file", type=Path, help="benchmark this log instead of a generated one")
    ap.add_argument("--gen", type=Path, default=default_generator(), help="path of gen_maillog.py")
    a = ap.parse_args(argv)
    if a.rounds < 1 or a.lines < 1:
        ap.error("--rounds and --lines must be >= 1")
    return a


def main(argv=None) -> int:
    a = parse_args(argv)
    if not a.file:
        check_cache_dir(a.cache_dir)
    ours = resolve_cmd(a.cmd)
    preflight(ours, "maillog2json")

    path = a.file.resolve() if a.file else ensure_log(a.cache_dir, a.seed, a.lines, a.gen)
    if not path.is_file():
        raise BenchError(f"no such file: {path}")
    nlines = count_lines(path)
    size = path.stat().st_size

    # name -> (argv, stdin file or None)
    rows: dict[str, tuple[list[str], Path | None]] = {
        "maillog2json --emit lines": (ours + ["--emit", "lines", str(path)], None),
        "maillog2json --emit all": (ours + ["--emit", "all", str(path)], None),
    }
    skipped = {}
    if not a.only_ours:
        try:
            rows["pflogsumm"] = ([resolve_program("pflogsumm"), str(path)], None)
        except BenchError:
            log(f"note: {PFLOGSUMM_HINT}; skipping the pflogsumm row")
            skipped["pflogsumm"] = PFLOGSUMM_HINT
        rows["baseline python read loop"] = ([resolve_program("python3"), "-c", BASELINE_CODE], path)

    log(f"file {path}: {nlines:,} lines, {size / 1e6:.0f} MB; {a.rounds} round(s) of {len(rows)} command(s)")
    for name, (cmd, stdin) in rows.items():
        log(f"  {name:28s} {shlex.join(cmd)}" + (f" < {stdin}" if stdin else ""))
    warm_cache(path)

    names = list(rows)
    runs: dict[str, list] = {n: [] for n in names}
    for r in range(a.rounds):
        order = names[r % len(names):] + names[:r % len(names)]   # rotate so no row is always first
        for name in order:
            cmd, stdin = rows[name]
            res = run_child(cmd, stdin_path=stdin)
            check_ok(res, name)
            runs[name].append(res)
            log(f"  round {r + 1}/{a.rounds} {name:28s} {res.wall_s:7.2f} s  {res.maxrss_mib:7.1f} MiB")

    results = {}
    for name in names:
        walls = [x.wall_s for x in runs[name]]
        med = statistics.median(walls)
        results[name] = {
            "argv": runs[name][0].argv,
            "stdin": str(rows[name][1]) if rows[name][1] else None,
            "wall_s": walls,
            "median_wall_s": med,
            "min_wall_s": min(walls),
            "lines_per_s": nlines / med,
            "cpu_s": [x.utime_s + x.stime_s for x in runs[name]],
            "maxrss_mib": [round(x.maxrss_mib, 1) for x in runs[name]],
            "peak_rss_mib": max(x.maxrss_mib for x in runs[name]),
        }

    # Paired ratios: same round, so the same machine conditions. speed > 1 means maillog2json is faster.
    if "pflogsumm" in runs:
        for name in names[:2]:
            speed = [p.wall_s / o.wall_s for o, p in zip(runs[name], runs["pflogsumm"])]
            results[name]["speed_vs_pflogsumm"] = statistics.median(speed)
            results[name]["speed_vs_pflogsumm_per_round"] = speed
            results[name]["rss_vs_pflogsumm"] = (results[name]["peak_rss_mib"]
                                                 / results["pflogsumm"]["peak_rss_mib"])

    print_table(path, nlines, size, a.rounds, results)
    if a.json:
        doc = {"benchmark": "throughput", "machine": machine_info(), "file": str(path), "lines": nlines,
               "bytes": size, "seed": None if a.file else a.seed, "rounds": a.rounds, "cmd": a.cmd,
               "results": results, "skipped": skipped}
        Path(a.json).write_text(json.dumps(doc, indent=2) + "\n")
        log(f"wrote {a.json}")
    return 0


def print_table(path, nlines, size, rounds, results) -> None:
    print(f"\nthroughput: {path} ({nlines:,} lines, {size / 1e6:.0f} MB), {rounds} interleaved round(s), "
          f"whole-process figures (start-up included)")
    hdr = f"{'command':28s} {'median s':>9s} {'min s':>8s} {'lines/s':>11s} {'peak RSS':>10s} " \
          f"{'speed vs pflogsumm':>19s} {'RSS vs pflogsumm':>17s}"
    print(hdr)
    print("-" * len(hdr))
    for name, r in results.items():
        sp = f"{r['speed_vs_pflogsumm']:.2f}x" if "speed_vs_pflogsumm" in r else "-"
        rs = f"{r['rss_vs_pflogsumm']:.2f}x" if "rss_vs_pflogsumm" in r else "-"
        print(f"{name:28s} {r['median_wall_s']:9.2f} {r['min_wall_s']:8.2f} {r['lines_per_s']:11,.0f} "
              f"{r['peak_rss_mib']:7.1f} MiB {sp:>19s} {rs:>17s}")
    print("speed vs pflogsumm = median over rounds of (pflogsumm wall / maillog2json wall) "
          "in the same round; >1 means maillog2json is faster")


if __name__ == "__main__":
    main_wrapper(main)
