"""Settings from a TOML file and the environment, under the command line.

Precedence, highest first: command line > environment (``MAILLOG2JSON_<OPTION>``, e.g.
``MAILLOG2JSON_ELASTICSEARCH``) > config file (``--config FILE`` or
``MAILLOG2JSON_CONFIG``) > built-in default. click does the layering: the file becomes the
command's ``default_map`` and every option reads its environment variable; this module
only reads and checks the file and prints the result (``--print-config``).

The config file uses the long option names as keys (``spool = "/var/spool/maillog2json"``,
``elasticsearch = ["https://es1:9200"]``); dashes or underscores both work. Secrets are
not settings: they come from the environment variables or the ``*-file`` options that
:mod:`maillog2json.secrets` reads, and are never printed.
"""

from __future__ import annotations

import sys
from typing import Any, Optional

import click

from maillog2json import secrets

if sys.version_info >= (3, 11):
    import tomllib
else:                                 # pragma: no cover - Python 3.10
    import tomli as tomllib

ENV_PREFIX = "MAILLOG2JSON"

# environment variables that hold secrets, by what they are for (shown masked by --print-config)
SECRET_ENV = {
    secrets.ES_PASSWORD_ENV: "Elasticsearch basic-auth password",
    secrets.ES_API_KEY_ENV: "Elasticsearch API key",
    secrets.FLUENTD_SHARED_KEY_ENV: "Fluentd shared key",
    secrets.FLUENTD_PASSWORD_ENV: "Fluentd user password",
}

# options not settable from a config file: the file itself, and one-shot actions
NOT_IN_FILE = {"config", "print_config", "version", "help", "files"}


def load(path: str, command: click.Command) -> dict[str, Any]:
    """Read a TOML config file into a ``default_map`` for ``command``; usage errors for
    unreadable files, bad TOML and unknown keys (with the list of known ones)."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror or exc}", param_hint="--config") from None
    except tomllib.TOMLDecodeError as exc:
        raise click.BadParameter(f"{path} is not valid TOML: {exc}", param_hint="--config") from None
    names = {option_key(p): p.name for p in command.params
             if isinstance(p, click.Option) and p.name not in NOT_IN_FILE}
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = names.get(key.replace("_", "-"))
        if name is None:
            known = ", ".join(sorted(names))
            raise click.BadParameter(f"{path}: unknown setting {key!r} (known: {known})", param_hint="--config")
        out[name] = value
    return out


def option_key(p: click.Parameter) -> str:
    """The name of an option in a config file and its environment variable: its long
    option without the dashes (``--state`` -> ``state``, ``MAILLOG2JSON_STATE``)."""
    longs = [o for o in p.opts if o.startswith("--")]
    return longs[0][2:] if longs else str(p.name).replace("_", "-")


def set_envvars(command: click.Command) -> None:
    """Give every option its environment variable, named after the long option."""
    for p in command.params:
        if isinstance(p, click.Option) and p.name not in NOT_IN_FILE:
            p.envvar = f"{ENV_PREFIX}_{option_key(p).upper().replace('-', '_')}"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    s = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


SOURCE_NAMES = {"COMMANDLINE": "command line", "ENVIRONMENT": "environment", "DEFAULT_MAP": "config file",
                "DEFAULT": "default", "PROMPT": "prompt"}


def render(ctx: click.Context, params: dict[str, Any], environ: dict[str, str]) -> str:
    """The effective settings as a TOML config file (reusable with --config), each with
    where it came from; secrets only as set/unset."""
    lines = ["# maillog2json effective settings (command line > environment > config file > default)"]
    for p in ctx.command.params:
        if not isinstance(p, click.Option) or p.name in NOT_IN_FILE or p.name is None:
            continue
        value = params.get(p.name)
        source = ctx.get_parameter_source(p.name)
        where = SOURCE_NAMES.get(source.name, source.name.lower()) if source is not None else "default"
        key = option_key(p)
        if value is None or value == ():
            lines.append(f"# {key} = (not set)  [{where}]")
        else:
            lines.append(f"{key} = {_toml_value(value)}  # {where}")
    lines.append("")
    lines.append("# secrets (environment variables or *-file options only; never shown)")
    for env, what in SECRET_ENV.items():
        state = "set (masked)" if environ.get(env) else "not set"
        lines.append(f"# {env}: {state}  ({what})")
    return "\n".join(lines) + "\n"


def config_callback(ctx: click.Context, param: click.Parameter, value: Optional[str]) -> Optional[str]:
    """``--config FILE``: eager, so the file's values are defaults for the other options."""
    if value:
        ctx.default_map = {**(ctx.default_map or {}), **load(value, ctx.command)}
    return value
