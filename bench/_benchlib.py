"""Helpers shared by the benchmark scripts (standard library only).

Not a test module: nothing here is collected by pytest.
"""
from __future__ import annotations

import dataclasses
import datetime
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = Path("/tmp/maillog2json-bench")
DEFAULT_CMD = "python -m maillog2json"
PFLOGSUMM_HINT = "pflogsumm not found: install it with `apt-get install pflogsumm` (Debian package)"
BASELINE_CODE = "import sys\nfor l in sys.stdin.buffer: pass"


class BenchError(Exception):
    """A fatal problem: printed as 'error: ...' and the script exits with status 2."""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- log file cache

def default_generator() -> Path:
    # /work/main/bench -> /work/shared/tools/gen_maillog.py (shared/ sits beside the repo clone)
    for cand in (REPO.parent / "shared" / "tools" / "gen_maillog.py",
                 Path("/work/shared/tools/gen_maillog.py")):
        if cand.is_file():
            return cand
    return REPO.parent / "shared" / "tools" / "gen_maillog.py"


def check_cache_dir(cache_dir: Path) -> Path:
    cache_dir = cache_dir.expanduser().resolve()
    if cache_dir == REPO or REPO in cache_dir.parents:
        raise BenchError(f"cache dir {cache_dir} is inside the repository {REPO}; choose one outside it")
    cache_dir.mkdir(parents=True, exist_ok=True)
    return cache_dir


def ensure_log(cache_dir: Path, seed: int, lines: int, generator: Path) -> Path:
    """Return the cached synthetic log for (seed, lines), generating it first if needed."""
    cache_dir = check_cache_dir(cache_dir)
    path = cache_dir / f"maillog-seed{seed}-lines{lines}.log"
    if path.is_file() and path.stat().st_size > 0:
        pin_mtime(path)
        return path
    if not generator.is_file():
        raise BenchError(f"log generator not found: {generator} (pass --gen PATH)")
    log(f"generating {path} ({lines:,} lines, seed {seed}) with {generator} ...")
    t0 = time.perf_counter()
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".part", dir=cache_dir)
    try:
        with os.fdopen(fd, "wb") as out:
            rc = subprocess.call([sys.executable, str(generator), "--seed", str(seed), "--lines", str(lines)],
                                 stdout=out)
        if rc != 0:
            raise BenchError(f"log generator exited with status {rc}")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    log(f"  done in {time.perf_counter() - t0:.1f} s, {path.stat().st_size / 1e6:.0f} MB")
    pin_mtime(path)
    return path


GEN_YEAR = 2024   # gen_maillog.py's default --start is 2024-02-27


def pin_mtime(path: Path) -> None:
    """Give the generated log the mtime of the day after its last line, in the generator's year.

    Its timestamps are year-less (RFC 3164) and maillog2json takes the year from the file's mtime: with
    today's mtime, a year without Feb 29 would turn the generator's Feb 29 into Mar 1 and send time back a
    day at the real Mar 1, which is not what a real log looks like (and not what these benchmarks measure).
    """
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - 4096))
        last = f.read().rstrip(b"\n").rsplit(b"\n", 1)[-1][:6].decode("ascii", "replace")
    try:
        day = datetime.datetime.strptime(f"{GEN_YEAR} {last.split()[0]} {last.split()[1]}", "%Y %b %d")
    except (ValueError, IndexError):
        return
    ts = (day + datetime.timedelta(days=1, hours=12)).replace(tzinfo=datetime.timezone.utc).timestamp()
    if abs(path.stat().st_mtime - ts) > 1:
        os.utime(path, (ts, ts))


def count_lines(path: Path) -> int:
    n = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            n += chunk.count(b"\n")
    return n


def warm_cache(path: Path) -> None:
    """Read the file once so every timed run starts with it in the page cache."""
    with open(path, "rb") as f:
        while f.read(1 << 22):
            pass


# --------------------------------------------------------------------------- commands

def resolve_program(name: str) -> str:
    """Absolute path of a program; a pyenv shim (a bash script) is resolved to the real binary so that
    neither its start-up cost (~25 ms) nor its process is measured."""
    found = shutil.which(name)
    if found is None and os.sep not in name:
        for d in ("/usr/sbin", "/sbin", "/usr/local/sbin"):
            cand = os.path.join(d, name)
            if os.access(cand, os.X_OK):
                found = cand
                break
    if found is None:
        raise BenchError(f"command not found: {name}")
    if "/.pyenv/shims/" in found and shutil.which("pyenv"):
        try:
            real = subprocess.run(["pyenv", "which", os.path.basename(found)], capture_output=True,
                                  text=True, check=True).stdout.strip()
            if real and os.access(real, os.X_OK):
                return real
        except (OSError, subprocess.CalledProcessError):
            pass
    return found


def resolve_cmd(cmd: str) -> list[str]:
    argv = shlex.split(cmd)
    if not argv:
        raise BenchError("empty --cmd")
    argv[0] = resolve_program(argv[0])
    return argv


def preflight(argv: list[str], what: str, extra: list[str] | None = None) -> None:
    """Run `argv --help` (plus extra args) and fail clearly if the command does not work."""
    try:
        r = subprocess.run(argv + (extra or ["--help"]), check=False, cwd=REPO, capture_output=True,
                           text=True, stdin=subprocess.DEVNULL, timeout=60)
    except OSError as e:
        raise BenchError(f"cannot run {what} ({shlex.join(argv)}): {e}") from e
    if r.returncode != 0:
        tail = "\n".join((r.stderr or r.stdout).strip().splitlines()[-8:])
        raise BenchError(f"{what} does not work: `{shlex.join(argv + (extra or ['--help']))}` exited "
                         f"{r.returncode}\n{tail}\n(is the package importable from {REPO}? "
                         f"otherwise pass --cmd 'COMMAND')")


@dataclasses.dataclass
class RunResult:
    argv: list[str]
    wall_s: float
    returncode: int
    maxrss_kib: int       # ru_maxrss of this one child (Linux: KiB)
    utime_s: float
    stime_s: float
    stderr: str

    @property
    def maxrss_mib(self) -> float:
        return self.maxrss_kib / 1024


def _tail(text: str, n: int = 15) -> str:
    return "\n".join(text.rstrip().splitlines()[-n:])


# The measuring launcher. ru_maxrss is not reset by exec: a child forked (or vforked, as subprocess and
# posix_spawn do) from this script starts with this script's RSS counted in its peak. So each command is
# started by a tiny separate Python (-S -I, ~5 MiB) that forks, execs the command, reaps it with os.wait4 and
# writes "returncode maxrss_kib utime stime wall" to the result file. RSS below ~6 MiB is that floor.
_LAUNCHER = r"""
import os, signal, sys, time
out, argv = sys.argv[1], sys.argv[2:]
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    except OSError as e:
        os.write(2, ("cannot exec %s: %s\n" % (argv[0], e)).encode())
    os._exit(127)
def _stop(signum, frame):
    os.kill(pid, signal.SIGKILL)
signal.signal(signal.SIGTERM, _stop)
signal.signal(signal.SIGINT, signal.SIG_IGN)   # a Ctrl-C reaches the child through the process group
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - t0
with open(out, "w") as f:
    rc = os.waitstatus_to_exitcode(status)
    f.write("%d %d %r %r %r\n" % (rc, ru.ru_maxrss, ru.ru_utime, ru.ru_stime, wall))
"""


def run_child(argv: list[str], *, stdin_path: Path | None = None, consume=None) -> RunResult:
    """Run one command with stdout to /dev/null (or to a pipe read by `consume(fileobj)`), stderr captured.

    The launcher above reaps the command with os.wait4 on its own pid, so ru_maxrss is that one process's
    peak (not RUSAGE_CHILDREN, the maximum over every child so far), and times spawn..reap for the wall time.
    Only the process itself is measured: a --cmd that is a wrapper forking the real work would hide it
    (an `exec`ing wrapper is fine).
    """
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL  # noqa: SIM115 (closed below)
    err = tempfile.TemporaryFile()  # noqa: SIM115 (closed below)
    fd, result_path = tempfile.mkstemp(prefix="maillog2json-bench-", suffix=".rusage")
    os.close(fd)
    proc = None
    try:
        launcher = [sys.executable, "-S", "-I", "-c", _LAUNCHER, result_path, *argv]
        try:
            proc = subprocess.Popen(launcher, stdin=stdin, stderr=err, cwd=REPO,
                                    stdout=subprocess.PIPE if consume else subprocess.DEVNULL)
        except OSError as e:
            raise BenchError(f"cannot run {shlex.join(argv)}: {e}") from e
        if consume:
            try:
                consume(proc.stdout)
            finally:
                proc.stdout.close()
        lrc = proc.wait()
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
        fields = Path(result_path).read_text().split()
        if lrc != 0 or len(fields) != 5:
            raise BenchError(f"the measuring launcher failed (status {lrc}) for {shlex.join(argv)}\n"
                             f"{_tail(stderr)}")
        rc, maxrss = int(fields[0]), int(fields[1])
        utime, stime, wall = (float(x) for x in fields[2:])
        return RunResult(argv, wall, rc, maxrss, utime, stime, stderr)
    except BaseException:
        if proc is not None and proc.poll() is None:
            proc.terminate()    # the launcher kills the command, then exits
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        raise
    finally:
        err.close()
        os.unlink(result_path)
        if stdin_path:
            stdin.close()


def check_ok(res: RunResult, what: str) -> None:
    if res.returncode != 0:
        how = f"was killed by signal {-res.returncode}" if res.returncode < 0 else f"exited {res.returncode}"
        raise BenchError(f"{what} failed: `{shlex.join(res.argv)}` {how}\n{_tail(res.stderr)}")


def machine_info() -> dict:
    return {"host": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def main_wrapper(main) -> None:
    try:
        sys.exit(main())
    except BenchError as e:
        log(f"error: {e}")
        sys.exit(2)
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
