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
from maillog2json.essetup import es_setup_command
from maillog2json.config import config_callback, set_envvars
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
  maillog2json locate     find the mail log on this host (maillog2json locate --help)
  maillog2json es-setup   install the Elasticsearch templates and ILM policy (es-setup --help)

\b
Examples:
  tail -F /var/log/mail.log | maillog2json | jq 'select(.type=="message")'
  maillog2json /var/log/mail.log.2.gz /var/log/mail.log.1 /var/log/mail.log --stats > mail.jsonl
  maillog2json --emit lines --tz Europe/Berlin --year 2025 samples/maillog-small.log
  maillog2json --follow /var/log/mail.log --state state.json --elasticsearch https://es:9200 --spool spool/
"""


def _with_unit(value: Any, units: dict[str, float], example: str) -> float:
    """A number with an optional one-letter unit suffix ('6d', '512M') times that unit."""
    v = str(value).strip().lower()
    try:
        if v and v[-1] in units:
            return float(v[:-1]) * units[v[-1]]
        return float(v)
    except ValueError:
        raise click.BadParameter(f"{example}") from None


def _duration(value: str) -> float:
    """'6d', '12h', '90m', '3600s' or plain seconds -> seconds."""
    return _with_unit(value, {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800},
                      f"{value!r} is not a duration (like 6d, 12h, 90m or 3600)")


def _size(value: Any) -> int:
    """'512M', '2G', '100k' (also 512MiB, 2GB) or plain bytes -> bytes."""
    if isinstance(value, int):
        return value
    v = str(value).strip().lower().removesuffix("b").removesuffix("i")
    return int(_with_unit(v, {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40},
                          f"{value!r} is not a size (like 512M, 2G or 1048576)"))


def _seconds(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    return value if value is None or isinstance(value, (int, float)) else _duration(str(value))


def _bytes(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    return value if value is None else _size(value)


# The network sinks' options, shared by ``run`` and documented in its --help in this order.
NETWORK_OPTIONS = [
    click.option("--elasticsearch", multiple=True, metavar="URL",
                 help="Ship to Elasticsearch (bulk API); repeat for several nodes of one cluster."),
    click.option("--es-schema", type=click.Choice(sorted(RENDERERS)), default="ecs", show_default=True,
                 help="Field names of the documents sent to Elasticsearch."),
    click.option("--es-lines-target", metavar="NAME",
                 help="Data stream (or index/alias) for line documents "
                      "[default: logs-maillog2json.lines-default, or maillog2json-lines with --es-schema native]."),
    click.option("--es-messages-target", metavar="NAME",
                 help="Data stream (or index/alias) for message documents [default: "
                      "logs-maillog2json.messages-default, or maillog2json-messages with --es-schema native]."),
    click.option("--es-username", metavar="USER",
                 help="Basic auth user; the password comes from $MAILLOG2JSON_ES_PASSWORD or --es-password-file."),
    click.option("--es-password-file", type=click.Path(dir_okay=False), help="File holding the password."),
    click.option("--es-api-key-file", type=click.Path(dir_okay=False),
                 help="File holding an API key (or set $MAILLOG2JSON_ES_API_KEY)."),
    click.option("--es-ca-file", type=click.Path(dir_okay=False), help="CA certificate(s) to verify the server."),
    click.option("--es-ca-fingerprint", metavar="SHA256", help="Pin the server certificate's SHA-256 fingerprint."),
    click.option("--es-insecure", is_flag=True, help="Do not verify the server's TLS certificate (tests only)."),
    click.option("--fluentd", metavar="HOST:PORT|unix:PATH",
                 help="Ship to Fluentd (forward protocol, PackedForward chunks, each acknowledged)."),
    click.option("--fluentd-tag-prefix", default="maillog2json", show_default=True, metavar="TAG",
                 help="Tags are TAG.lines and TAG.messages."),
    click.option("--fluentd-schema", type=click.Choice(sorted(RENDERERS)), default="ecs", show_default=True,
                 help="Field names of the records sent to Fluentd."),
    click.option("--fluentd-shared-key-file", type=click.Path(dir_okay=False),
                 help="File holding the shared key for the handshake (or $MAILLOG2JSON_FLUENTD_SHARED_KEY)."),
    click.option("--fluentd-username", metavar="USER",
                 help="User for the handshake; password from $MAILLOG2JSON_FLUENTD_PASSWORD or the file option."),
    click.option("--fluentd-password-file", type=click.Path(dir_okay=False), help="File holding that password."),
    click.option("--fluentd-tls", is_flag=True, help="Connect with TLS."),
    click.option("--fluentd-ca-file", type=click.Path(dir_okay=False), help="CA certificate(s) for --fluentd-tls."),
    click.option("--fluentd-insecure", is_flag=True, help="Do not verify Fluentd's TLS certificate (tests only)."),
    click.option("--fluentd-compress", is_flag=True, help="Send gzip-compressed chunks (CompressedPackedForward)."),
    click.option("--stdout", "also_stdout", is_flag=True,
                 help="Also write documents to stdout when shipping to Elasticsearch or Fluentd."),
    click.option("--spool", type=click.Path(file_okay=False), metavar="DIR",
                 help="Keep documents a sink cannot take yet on disk here (one folder per sink); "
                      "sent first on the next run. Without it, they wait in memory only."),
    click.option("--spool-max-bytes", default="1G", show_default=True, callback=_bytes, metavar="SIZE",
                 help="Size cap per sink's spool; when full, reading waits (nothing is dropped)."),
    click.option("--queue-size", type=click.IntRange(min=1), default=10_000, show_default=True, metavar="N",
                 help="Documents held in memory per sink before the spool (or backpressure)."),
    click.option("--batch-size", type=click.IntRange(min=1), default=1000, show_default=True, metavar="N",
                 help="Documents per bulk request or Fluentd chunk."),
    click.option("--flush-interval", default="1s", show_default=True, callback=_seconds, metavar="DURATION",
                 help="Send a partial batch after this long (a tail -F stream ships promptly)."),
    click.option("--dead-letter", type=click.Path(dir_okay=False), metavar="FILE",
                 help="Append documents a sink refuses for good (mapping errors) here, with the reason. "
                      "Default: <--spool>/dead-letter.jsonl, else stderr."),
    click.option("--shutdown-grace", default="10s", show_default=True, callback=_seconds, metavar="DURATION",
                 help="At exit or SIGTERM, how long to keep delivering before the rest goes to the spool."),
]


def network_options(f: Callable) -> Callable:
    for opt in reversed(NETWORK_OPTIONS):
        f = opt(f)
    return f


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
@network_options
@click.option("--config", type=click.Path(dir_okay=False), is_eager=True, expose_value=False,
              envvar="MAILLOG2JSON_CONFIG",
              callback=config_callback,
              help="Read settings from this TOML file (keys are the long option names). Precedence: "
                   "command line > environment (MAILLOG2JSON_<OPTION>) > config file > default.")
@click.option("--print-config", is_flag=True,
              help="Print the effective settings (as a config file, secrets masked) and exit.")
@click.version_option(__version__, "-V", "--version")
@click.pass_context
def run(ctx: click.Context, files: tuple[str, ...], emit: str, year: Optional[int], tz: Optional[str],
        expire_after: str, max_inflight: int, follow: Optional[str], output: Optional[str], omprog: bool,
        state_file: Optional[str], max_line_bytes: int, schema: str, show_stats: bool, print_config: bool,
        **net: Any) -> None:
    """Turn a mail server's syslog (Postfix, Dovecot, ...) into JSON documents.

    Reads FILES in the order given (plain, .gz, .bz2 or .xz; "-" or nothing for stdin)
    and writes one JSON document per input line and one per message to stdout, each
    flushed as soon as its line is read; or ships them to Elasticsearch and/or Fluentd.
    """
    if print_config:
        from maillog2json.config import render as render_config
        click.echo(render_config(ctx, ctx.params, dict(os.environ)), nl=False)
        return
    try:
        tzinfo = parse_tz(tz)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--tz") from None
    try:
        expire_seconds = _duration(expire_after)
    except click.BadParameter as exc:
        raise click.BadParameter(exc.message, param_hint="--expire-after") from None
    options = Options(emit_lines=emit in ("lines", "all"), emit_messages=emit in ("messages", "all"),
                      max_line=max_line_bytes, schema=schema)
    if follow and files:
        raise click.UsageError("give either FILES or --follow FILE, not both")
    if omprog and (files or follow):
        raise click.UsageError("--omprog reads rsyslog's messages on stdin: no FILES or --follow with it")
    if omprog and not (output or net["elasticsearch"] or net["fluentd"]):
        raise click.UsageError("--omprog needs --output FILE, --elasticsearch or --fluentd: stdout is the "
                               "confirmation channel to rsyslog")
    if omprog and net["also_stdout"]:
        raise click.UsageError("--omprog: stdout is the confirmation channel to rsyslog, --stdout cannot be used")
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
    shipping = bool(net["elasticsearch"] or net["fluentd"])
    sinks: list = []
    if output:
        try:
            sinks.append(FileSink(output))
        except OSError as exc:
            raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from None
    if (not output and not shipping) or net["also_stdout"]:
        if sys.stdout is None:             # started with standard output closed (``>&-``)
            raise click.ClickException("cannot write standard output: it is closed")
        sinks.append(StreamSink())
    shippers = _shippers(net)
    pipeline = Pipeline(sinks, options, TimeResolver(tzinfo, year), tracker, stats, shippers)

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
    interrupted = False

    def save_state() -> None:
        # the input position must not run ahead of what the network sinks hold safely
        for shipper in shippers:
            if not shipper.checkpoint(lambda: pipeline.stopping):
                return           # stopping with documents undelivered: keep the last state
        parts: dict = {"time": pipeline.time.state(), "ids": pipeline.id_state()}
        if tracker is not None:
            parts["tracker"] = tracker.snapshot()
        if follower is not None:
            parts["follow"] = follower.position()
        write_state(state_file, parts)  # type: ignore[arg-type]

    if follower is not None or omprog:
        pipeline.time.start_source(None)     # a live log: the year is this year's, carried on from the state
        if state.get("time"):
            pipeline.time.restore(state["time"])
    try:
        try:
            if follower is not None:
                _run_follow(pipeline, follower, save_state if state_file else None)
            elif omprog:
                from maillog2json.omprog import serve
                serve(pipeline, sys.stdin.buffer, sys.stdout.buffer,
                      lambda: _confirm(sinks, shippers, lambda: pipeline.stopping))
            else:
                errors = pipeline.run(paths)
        except KeyboardInterrupt:
            pass
        except InterruptedError:
            # SIGTERM while the delivery queue was full: the batch in hand was not all
            # enqueued, so the state is not saved (the next run reads that batch again)
            pipeline.stopping = True
            interrupted = True
        if state_file:
            pipeline.flush()
            if not interrupted:
                save_state()
        else:
            try:
                pipeline.finish()
            except InterruptedError:    # SIGTERM with the delivery queue full: what could
                pass                    # not be enqueued is made again by the next run
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
        grace = net["shutdown_grace"]
        for shipper in shippers:
            if not pipeline.stopping:      # end of input: deliver it all (retrying) unless told to stop
                try:
                    shipper.flush(None, lambda: pipeline.stopping)
                except KeyboardInterrupt:
                    pipeline.stopping = True
            shipper.close(grace)
            stats.extra[f"sink {shipper.name}"] = shipper.stats()
        if tracker is not None:
            stats.extra["messages"] = dict(tracker.counters)
        if show_stats:
            stats.report(sys.stderr)
    for err in errors:
        click.echo(f"maillog2json: {err}", err=True)
    if errors or any(s.counters.undelivered for s in shippers):
        sys.exit(1)


def _shippers(net: dict[str, Any]) -> list:
    """The Elasticsearch/Fluentd shippers chosen; usage errors for bad settings."""
    if not (net["elasticsearch"] or net["fluentd"]):
        return []
    from maillog2json.delivery import ConfigError
    from maillog2json.delivery.queue import SpoolError
    from maillog2json.sinks.network import build_shippers
    settings = dict(net)
    if settings.get("spool") and not settings.get("dead_letter"):
        settings["dead_letter"] = os.path.join(settings["spool"], "dead-letter.jsonl")
    try:
        return build_shippers(settings)
    except (ConfigError, SpoolError) as exc:
        raise click.ClickException(str(exc)) from None


def _confirm(sinks: list, shippers: list, stopping: Callable[[], bool]) -> None:
    """omprog: a message is confirmed once its documents are safe: synced to --output,
    and spooled (synced) or delivered by every network sink. Waiting for delivery ends
    at SIGTERM (``stopping``): the message is then not confirmed, and rsyslog keeps it."""
    for s in sinks:
        if isinstance(s, FileSink):
            s.sync()
    for shipper in shippers:
        if not shipper.checkpoint(stopping):
            raise OSError(f"{shipper.name}: not delivered")


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
        return Follower(path, position, max_line=max_line, stop=lambda: pipeline.stopping, idle_batches=True)
    except InputError as exc:
        raise click.ClickException(str(exc)) from None


def _run_follow(pipeline: Pipeline, follower: Any, save: Optional[Callable[[], None]]) -> None:
    """Feed the followed file's batches to the pipeline until SIGTERM; save the state
    now and then (a crash repeats at most the lines since the last save)."""
    import time
    last = time.monotonic()
    shown = 0
    for batch in follower.batches():
        if batch:
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


set_envvars(run)

# ``maillog2json FILE...`` reads logs; ``maillog2json <command> ...`` runs a subcommand.
SUBCOMMANDS: dict[str, click.Command] = {"locate": locate_command, "es-setup": es_setup_command}


def main(args: Optional[list[str]] = None) -> None:
    """Entry point of the ``maillog2json`` script and ``python -m maillog2json``."""
    argv = sys.argv[1:] if args is None else list(args)
    if argv and argv[0] in SUBCOMMANDS:
        SUBCOMMANDS[argv[0]].main(argv[1:], prog_name=f"maillog2json {argv[0]}")
    else:
        run.main(argv, prog_name="maillog2json")
