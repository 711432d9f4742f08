"""The ``maillog2json`` command: options in, a Pipeline run, an exit code out.

No parsing logic lives here: each option is adapted and handed to the library.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any, Callable, Optional

import click

from maillog2json import __version__
from maillog2json.inputs import waiting_for_input
from maillog2json.pipeline import Options, Pipeline
from maillog2json.render import RENDERERS
from maillog2json.sinks.file import FileSink
from maillog2json.sinks.stdout import StreamSink
from maillog2json.state import StateError, read_state, write_state
from maillog2json.stats import Stats
from maillog2json.syslog import TimeResolver, parse_tz

EPILOG = """\b
Other commands:
  maillog2json locate    find the mail log on this host (maillog2json locate --help)

\b
Examples:
  tail -F /var/log/mail.log | maillog2json | jq 'select(.type=="message")'
  maillog2json /var/log/mail.log.2.gz /var/log/mail.log.1 /var/log/mail.log --stats > mail.jsonl
  maillog2json --emit lines --tz Europe/Berlin --year 2025 samples/maillog-small.log
"""


def _duration(value: str) -> float:
    """'6d', '12h', '90m', '3600s' or plain seconds -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    v = value.strip().lower()
    try:
        if v and v[-1] in units:
            return float(v[:-1]) * units[v[-1]]
        return float(v)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a duration (like 6d, 12h, 90m or 3600)") from None


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
               epilog=EPILOG)
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--emit", type=click.Choice(["lines", "messages", "all"]), default="all", show_default=True,
              help="Which documents to write: one per input line, one per message, or both.")
@click.option("--year", type=click.IntRange(1970, 9999),
              help="Year for timestamps without one (RFC 3164). Default: from each file's mtime, else today.")
@click.option("--tz", "tz", metavar="ZONE",
              help="Time zone of timestamps without one: a name (Europe/Berlin), UTC or +02:00. Default: local.")
@click.option("--expire-after", default="7d", show_default=True, metavar="DURATION",
              help="Give up on a message whose last line is older than this, in log time (6d, 12h, 3600).")
@click.option("--max-inflight", type=click.IntRange(min=100), default=100_000, show_default=True,
              help="Most messages and SMTP sessions held at once; the oldest is emitted incomplete beyond it.")
@click.option("--follow", "follow", metavar="FILE|auto",
              help="Follow FILE like tail -F (through rename and copytruncate rotation); 'auto' "
                   "follows what 'maillog2json locate' finds first. With --state, resumes exactly.")
@click.option("--output", "-o", "output", type=click.Path(dir_okay=False, writable=True),
              help="Append documents to this file instead of stdout; reopened on SIGHUP (logrotate).")
@click.option("--omprog", is_flag=True,
              help="Run under rsyslog's omprog with confirmMessages=on: messages on stdin, OK on stdout "
                   "once a message's documents are synced to --output (which it requires).")
@click.option("--state", "state_file", type=click.Path(dir_okay=False),
              help="Keep in-flight messages (and the --follow position) in this file at exit and "
                   "restore them at start.")
@click.option("--max-line-bytes", type=click.IntRange(min=1024), default=8 << 20, show_default=True,
              help="Cut longer lines (the document is marked truncated, with the real length).")
@click.option("--schema", type=click.Choice(sorted(RENDERERS)), default="native", show_default=True,
              help="Field names: native (short, jq-friendly) or ecs (Elastic Common Schema).")
@click.option("--stats", "show_stats", is_flag=True, help="Print counters to stderr at exit.")
@click.version_option(__version__, "-V", "--version")
def run(files: tuple[str, ...], emit: str, year: Optional[int], tz: Optional[str], expire_after: str,
        max_inflight: int, follow: Optional[str], output: Optional[str], omprog: bool, state_file: Optional[str],
        max_line_bytes: int, schema: str, show_stats: bool) -> None:
    """Turn a mail server's syslog (Postfix, Dovecot, ...) into JSON documents.

    Reads FILES in the order given (plain, .gz, .bz2 or .xz; "-" or nothing for stdin)
    and writes one JSON document per input line and one per message to stdout, each
    flushed as soon as its line is read.
    """
    try:
        tzinfo = parse_tz(tz)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--tz") from None
    expire_seconds = _duration(expire_after)
    options = Options(emit_lines=emit in ("lines", "all"), emit_messages=emit in ("messages", "all"),
                      max_line=max_line_bytes, schema=schema)
    if follow and files:
        raise click.UsageError("give either FILES or --follow FILE, not both")
    if omprog and (files or follow):
        raise click.UsageError("--omprog reads rsyslog's messages on stdin: no FILES or --follow with it")
    if omprog and not output:
        raise click.UsageError("--omprog needs --output FILE: stdout is the confirmation channel to rsyslog")
    state: dict = {}
    if state_file:
        try:
            state = read_state(state_file)
        except (OSError, StateError) as exc:
            raise click.ClickException(f"cannot restore state from {state_file}: {exc}") from None
    stats = Stats()
    tracker = None
    if options.emit_messages:
        from maillog2json.correlate import MessageTracker
        tracker = MessageTracker(expire_after=expire_seconds, max_inflight=max_inflight, stats=stats)
        if state.get("tracker"):
            tracker.restore(state["tracker"])
    if output:
        try:
            sinks: list = [FileSink(output)]
        except OSError as exc:
            raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from None
    elif sys.stdout is None:             # started with standard output closed (``>&-``)
        raise click.ClickException("cannot write standard output: it is closed")
    else:
        sinks = [StreamSink()]
    pipeline = Pipeline(sinks, options, TimeResolver(tzinfo, year), tracker, stats)

    def _hup(signum, frame):  # SIGHUP: reopen --output at the next flush (logrotate moved it)
        for sink in sinks:
            if isinstance(sink, FileSink):
                sink.request_reopen()
    signal.signal(signal.SIGHUP, _hup)
    if state.get("ids"):
        pipeline.restore_id_state(state["ids"])
    follower = None
    if follow:
        follower = _follower(follow, state.get("follow"), max_line_bytes, pipeline)

    def _stop(signum, frame):  # SIGTERM: stop reading, flush what we have, exit 0
        pipeline.stopping = True       # the pipeline stops after the batch in hand
        if waiting_for_input():        # blocked on a read with nothing in hand: interrupt it
            raise KeyboardInterrupt    # (raising elsewhere could lose a batch or cut a write in two)
    signal.signal(signal.SIGTERM, _stop)

    paths = list(files) or ["-"]
    errors: list[str] = []

    def save_state() -> None:
        parts: dict = {"time": pipeline.time.state(), "ids": pipeline.id_state()}
        if tracker is not None:
            parts["tracker"] = tracker.snapshot()
        if follower is not None:
            parts["follow"] = follower.position()
        write_state(state_file, parts)  # type: ignore[arg-type]

    try:
        try:
            if follower is not None:
                _run_follow(pipeline, follower, save_state if state_file else None, state.get("time"))
            elif omprog:
                from maillog2json.omprog import serve
                pipeline.time.start_source(None)
                if state.get("time"):
                    pipeline.time.restore(state["time"])
                serve(pipeline, sys.stdin.buffer, sys.stdout.buffer,
                      lambda: [s.sync() for s in sinks if isinstance(s, FileSink)])
            else:
                errors = pipeline.run(paths)
        except KeyboardInterrupt:
            pass
        if state_file:
            pipeline.flush()
            save_state()
        else:
            pipeline.finish()
    except BrokenPipeError:
        # the reader went away (``| head``): stop quietly, as a Unix filter does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
    except OSError as exc:
        # a write that failed (full disk, I/O error): one line, exit 1, no traceback
        click.echo(f"maillog2json: cannot write {exc.filename or 'standard output'}: {exc.strerror or exc}",
                   err=True)
        if exc.filename is None:     # what is still buffered for stdout cannot be written either
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)
    finally:
        if tracker is not None:
            stats.extra["messages"] = dict(tracker.counters)
        if show_stats:
            stats.report(sys.stderr)
    for err in errors:
        click.echo(f"maillog2json: {err}", err=True)
    if errors:
        sys.exit(1)


SAVE_EVERY = 5.0   # seconds between state saves while following (and at exit)


def _follower(spec: str, position: Optional[dict], max_line: int, pipeline: Pipeline):
    """The Follower for ``--follow FILE`` (or ``auto``: what locate finds first)."""
    from maillog2json.follow import Follower
    from maillog2json.inputs import InputError
    path = spec
    if spec == "auto":
        from maillog2json.locate import locate
        found = [f for f in locate() if f.source != "journald"]
        if not found:
            raise click.ClickException("--follow auto: no mail log file found (see 'maillog2json locate')")
        path = found[0].path
        click.echo(f"maillog2json: following {path} ({found[0].source})", err=True)
    try:
        return Follower(path, position, max_line=max_line, stop=lambda: pipeline.stopping)
    except InputError as exc:
        raise click.ClickException(str(exc)) from None


def _run_follow(pipeline: Pipeline, follower: Any, save: Optional[Callable[[], None]],
                time_state: Optional[dict]) -> None:
    """Feed the followed file's batches to the pipeline until SIGTERM; save the state
    now and then (a crash repeats at most the lines since the last save)."""
    import time
    pipeline.time.start_source(None)     # a live log: the year is this year's, carried on from the state
    if time_state:
        pipeline.time.restore(time_state)
    last = time.monotonic()
    shown = 0
    for batch in follower.batches():
        pipeline.process(batch)
        if follower.warnings[shown:]:
            for w in follower.warnings[shown:]:
                click.echo(f"maillog2json: {w}", err=True)
            shown = len(follower.warnings)
        if save is not None and time.monotonic() - last >= SAVE_EVERY:
            save()
            last = time.monotonic()
    for w in follower.warnings[shown:]:
        click.echo(f"maillog2json: {w}", err=True)


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
               epilog="""\b
Example:
  maillog2json locate
  tail -F "$(maillog2json locate --first)" | maillog2json
""")
@click.option("--root", default="/", show_default=True, type=click.Path(file_okay=False),
              help="Look below this directory instead of / (an image or a mounted system).")
@click.option("--first", is_flag=True, help="Print only the best path, nothing else (for scripts).")
def locate_command(root: str, first: bool) -> None:
    """Find the mail log on this host, as a mail admin would: Postfix's maillog_file,
    rsyslog's and syslog-ng's mail rules, the usual paths, else journald."""
    from maillog2json.locate import format_found, locate
    found = locate(root)
    if not found:
        raise click.ClickException("no mail log found (no maillog_file, no mail rule in rsyslog or syslog-ng, "
                                   "none of the usual paths, no journal)")
    if first:
        click.echo(found[0].path)
        return
    for f in found:
        click.echo(format_found(f))


# ``maillog2json FILE...`` reads logs; ``maillog2json <command> ...`` runs a subcommand.
SUBCOMMANDS: dict[str, click.Command] = {"locate": locate_command}


def main(args: Optional[list[str]] = None) -> None:
    """Entry point of the ``maillog2json`` script and ``python -m maillog2json``."""
    argv = sys.argv[1:] if args is None else list(args)
    if argv and argv[0] in SUBCOMMANDS:
        SUBCOMMANDS[argv[0]].main(argv[1:], prog_name=f"maillog2json {argv[0]}")
    else:
        run.main(argv, prog_name="maillog2json")
