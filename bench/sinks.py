"""Documents per second to each sink, side by side on the same input.

Runs ``maillog2json --emit all FILE`` with its documents going to: stdout (/dev/null), an
--output file, and for each network sink two receivers: a null one (bench/_nullsinks.py:
acks every chunk or bulk request unread, so the row is maillog2json's own ceiling) and
the server the tests use (the strict forward receiver of tests/fluentd_receiver.py, which
decodes every event in Python; noida-db with the es-setup templates). Rounds are
interleaved; each row gives the median wall time, documents/s (documents / wall, process
start-up included) and the ratio to stdout in the same round.

    python bench/sinks.py --no-servers          # a 200k-line slice of the 1M-line bench log
    python bench/sinks.py --lines 20000         # with noida-db and the strict receiver too

The receivers run on the same 2-core machine as maillog2json: their CPU competes with it,
so these are lower bounds for a remote Fluentd or Elasticsearch.
"""
from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _benchlib import DEFAULT_CACHE, REPO, default_generator, ensure_log, log  # noqa: E402


def slice_log(src: Path, lines: int, cache: Path) -> Path:
    out = cache / f"{src.stem}-head{lines}.log"
    if not out.is_file():
        with open(src, "rb") as f, open(out, "wb") as g:
            g.writelines(itertools.islice(f, lines))
        os.utime(out, (src.stat().st_mtime, src.stat().st_mtime))
    return out


def count_docs(path: Path) -> int:
    out = subprocess.run([sys.executable, "-m", "maillog2json", "--emit", "all", str(path)], cwd=REPO,
                         capture_output=True, check=True).stdout
    return out.count(b"\n")


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"error: {' '.join(cmd)} exited {p.returncode}: {p.stderr.decode()[-2000:]}")
    return wall


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--file", type=Path, help="use this log instead of a slice of the generated one")
    ap.add_argument("--no-servers", action="store_true",
                    help="only the null receivers (noida-db indexes ~500-1000 documents/s on this machine)")
    args = ap.parse_args(argv)

    if args.file:
        path = args.file
    else:
        big = ensure_log(args.cache_dir, 1, 1_000_000, default_generator())
        path = slice_log(big, args.lines, args.cache_dir)
    docs = count_docs(path)
    log(f"input {path}: {docs} documents (--emit all)")

    from es_server import ESServer  # the test helpers: noida-db and the Fluentd receiver
    from fluentd_receiver import FluentdReceiver

    tmp = Path(tempfile.mkdtemp(prefix="m2j-bench-sinks-"))
    nulls = {k: subprocess.Popen([sys.executable, str(Path(__file__).parent / "_nullsinks.py"), k],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE) for k in ("es", "fluentd")}
    ports = {k: int(p.stdout.readline()) for k, p in nulls.items()}
    es = ESServer(str(tmp / "es"), None)
    es.start()
    rx = FluentdReceiver().start()
    try:
        subprocess.run([sys.executable, "-m", "maillog2json", "es-setup", "--no-ilm", es.url], cwd=REPO,
                       check=True, capture_output=True)
        base = [sys.executable, "-m", "maillog2json", "--emit", "all"]
        rows = {
            "stdout": lambda r: base + [str(path)],
            "stdout --schema ecs": lambda r: base + ["--schema", "ecs", str(path)],
            "--output file": lambda r: base + ["--output", str(tmp / f"out{r}.jsonl"), str(path)],
            "fluentd (null)": lambda r: base + ["--fluentd", f"127.0.0.1:{ports['fluentd']}", str(path)],
            "es (null)": lambda r: base + ["--elasticsearch", f"http://127.0.0.1:{ports['es']}", str(path)],
        }
        if not args.no_servers:
            rows["fluentd (test rx)"] = lambda r: base + ["--fluentd", rx.address, str(path)]
            rows["es (noida-db)"] = lambda r: base + ["--elasticsearch", es.url, "--es-lines-target",
                                                      f"logs-maillog2json.lines-b{r}", "--es-messages-target",
                                                      f"logs-maillog2json.messages-b{r}", str(path)]
        names = list(rows)
        walls: dict[str, list[float]] = {n: [] for n in names}
        for r in range(args.rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for n in order:
                walls[n].append(timed(rows[n](r)))
                log(f"round {r + 1} {n}: {walls[n][-1]:.2f} s")
        print(f"{docs} documents from {path.name}, {args.rounds} interleaved rounds")
        print(f"{'sink':<20} {'median s':>9} {'docs/s':>10} {'vs stdout':>10}")
        for n in names:
            med = statistics.median(walls[n])
            ratio = statistics.median(s / w for s, w in zip(walls["stdout"], walls[n]))
            print(f"{n:<20} {med:>9.2f} {docs / med:>10,.0f} {ratio:>9.2f}x")
    finally:
        rx.stop()
        es.stop()
        for p in nulls.values():
            p.stdin.close()
            p.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
