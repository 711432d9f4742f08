"""``maillog2json es-setup URL...``: install the Elasticsearch lifecycle policy and templates.

The files are the package's ``maillog2json/data/elasticsearch/*.json`` (the same bytes as
``deploy/elasticsearch/``, whose README explains every choice). They are installed in this
order, each with a ``PUT`` that replaces what is there (so running it again is harmless and
is how an upgrade installs new mappings; existing backing indices keep theirs until the
next rollover):

1. ``_ilm/policy/maillog2json``
2. ``_component_template/maillog2json-ecs`` and ``_component_template/maillog2json``
3. ``_index_template/logs-maillog2json.lines`` and ``_index_template/logs-maillog2json.messages``

``--no-ilm`` skips the policy and leaves ``index.lifecycle`` out of the index templates, for
servers without ILM (serverless projects, test servers) or where retention is managed another way.

Secrets never come from the command line: the API key from $MAILLOG2JSON_ES_API_KEY or
``--api-key-file``, the password of ``--username`` from $MAILLOG2JSON_ES_PASSWORD or
``--password-file``.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any, Callable, Optional

import click

from maillog2json.delivery import ConfigError
from maillog2json.secrets import ES_API_KEY_ENV, ES_PASSWORD_ENV, es_credentials

# (what, name, file, API path), in installation order
STEPS: list[tuple[str, str, str, str]] = [
    ("ILM policy", "maillog2json", "ilm-policy.json", "_ilm/policy/maillog2json"),
    ("component template", "maillog2json-ecs", "component-template-ecs.json",
     "_component_template/maillog2json-ecs"),
    ("component template", "maillog2json", "component-template-maillog2json.json",
     "_component_template/maillog2json"),
    ("index template", "logs-maillog2json.lines", "index-template-lines.json",
     "_index_template/logs-maillog2json.lines"),
    ("index template", "logs-maillog2json.messages", "index-template-messages.json",
     "_index_template/logs-maillog2json.messages"),
]


def data_dir() -> Any:
    """The package folder holding the JSON files (a Traversable)."""
    return files("maillog2json").joinpath("data").joinpath("elasticsearch")


def load(filename: str) -> dict[str, Any]:
    """One of the JSON files, parsed."""
    return json.loads(data_dir().joinpath(filename).read_text(encoding="utf-8"))


def setup_requests(ilm: bool = True) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(what, name, path, body) of each PUT, in order."""
    out = []
    for what, name, filename, path in STEPS:
        body = load(filename)
        if not ilm:
            if what == "ILM policy":
                continue
            if what == "index template":
                index = body.get("template", {}).get("settings", {}).get("index", {})
                index.pop("lifecycle", None)
        out.append((what, name, path, body))
    return out


class SetupError(Exception):
    """A request of the setup failed; the message is one line."""


def install(client: Any, ilm: bool = True, echo: Callable[[str], None] = print,
            where: str = "Elasticsearch") -> list[str]:
    """PUT every file in order with ``client``; returns the API paths installed.
    Raises SetupError at the first failure (``where`` names the server in its message)."""
    from elastic_transport import ApiError

    from maillog2json.sinks.elasticsearch import REQUEST_ERRORS, describe_error

    done = []
    for what, name, path, body in setup_requests(ilm):
        try:
            client.perform_request("PUT", "/" + path, body=body,
                                   headers={"content-type": "application/json", "accept": "application/json"})
        except ApiError as exc:
            reason = describe_error(exc)
            hint = ""
            if what == "ILM policy" and ("no handler found" in reason or "HTTP 410" in reason):
                hint = " (this server has no ILM API: run again with --no-ilm)"
            raise SetupError(f"{where} refused the {what} {name}: {reason}{hint}") from None
        except REQUEST_ERRORS as exc:
            raise SetupError(f"cannot reach {where}: {describe_error(exc)}") from None
        echo(f"installed {what} {name} (PUT {path})")
        done.append(path)
    if not ilm:
        echo("no ILM policy installed (--no-ilm): the data streams keep their documents until deleted")
    return done


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
               epilog=f"""\b
Secrets are read from the environment or a file, never from the command line:
  {ES_API_KEY_ENV}    API key (the "encoded" value, or id:key)
  {ES_PASSWORD_ENV}   password of --username
\b
Example:
  read -rs {ES_API_KEY_ENV} && export {ES_API_KEY_ENV}
  maillog2json es-setup https://es1.example.net:9200
""")
@click.argument("urls", nargs=-1, required=True, metavar="URL...")
@click.option("--api-key-file", type=click.Path(dir_okay=False),
              help=f"Read the API key from this file (default: ${ES_API_KEY_ENV}).")
@click.option("--username", help="Basic authentication as this user (instead of an API key).")
@click.option("--password-file", type=click.Path(dir_okay=False),
              help=f"Read the password of --username from this file (default: ${ES_PASSWORD_ENV}).")
@click.option("--ca-file", type=click.Path(dir_okay=False),
              help="Trust the server certificate signed by the CA in this PEM file.")
@click.option("--ca-fingerprint", metavar="SHA256",
              help="Trust the server certificate whose CA has this SHA-256 fingerprint (hex).")
@click.option("--insecure", is_flag=True, help="Do not verify the server certificate (tests only).")
@click.option("--no-ilm", "no_ilm", is_flag=True,
              help="Skip the ILM policy and leave the lifecycle out of the index templates "
                   "(servers without ILM).")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="Seconds to wait for each answer.")
def es_setup_command(urls: tuple[str, ...], api_key_file: Optional[str], username: Optional[str],
                     password_file: Optional[str], ca_file: Optional[str], ca_fingerprint: Optional[str],
                     insecure: bool, no_ilm: bool, timeout: float) -> None:
    """Install the ILM policy, component templates and index templates for the ECS
    documents of the Elasticsearch sink (data streams logs-maillog2json.lines-* and
    logs-maillog2json.messages-*). Running it again replaces them with the same."""
    from maillog2json.sinks.elasticsearch import make_client

    try:
        creds = es_credentials(api_key_file, username, password_file)
        client = make_client(list(urls), ca_file=ca_file, fingerprint=ca_fingerprint, verify=not insecure,
                             timeout=timeout, **creds)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        install(client, ilm=not no_ilm, echo=click.echo, where=f"Elasticsearch at {', '.join(urls)}")
    except SetupError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        client.close()
