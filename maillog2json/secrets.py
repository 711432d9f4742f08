"""Secrets (API keys, passwords) for the network sinks and ``es-setup``: from a file or the
environment, never from the command line (where ``ps``, shell history and audit logs see them).

A secret file holds the secret alone; one trailing newline (``\\n`` or ``\\r\\n``, as an editor
or ``echo`` leaves it) is removed, nothing else. An option naming a file wins over the
environment variable. Errors are :class:`maillog2json.delivery.ConfigError` with a message
that names the file or variable, never the secret.
"""

from __future__ import annotations

import os
from typing import Mapping, Optional

from maillog2json.delivery import ConfigError

# The environment variables that hold secrets: the Elasticsearch sink's and ``es-setup``'s,
# the Fluentd sink's.
ES_API_KEY_ENV = "MAILLOG2JSON_ES_API_KEY"
ES_PASSWORD_ENV = "MAILLOG2JSON_ES_PASSWORD"
FLUENTD_SHARED_KEY_ENV = "MAILLOG2JSON_FLUENTD_SHARED_KEY"
FLUENTD_PASSWORD_ENV = "MAILLOG2JSON_FLUENTD_PASSWORD"


def _strip_newline(text: str) -> str:
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith("\n"):
        return text[:-1]
    return text


def read_secret_file(path: str, what: str = "secret") -> str:
    """The secret in ``path``, without its trailing newline.

    Raises ConfigError when the file cannot be read, is not UTF-8, or is empty.
    """
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 16)
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} file {path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"the {what} file {path} is not UTF-8 text") from None
    secret = _strip_newline(text)
    if not secret:
        raise ConfigError(f"the {what} file {path} is empty")
    return secret


def read_secret_env(name: str, what: str = "secret",
                    environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The secret in the environment variable ``name`` (trailing newline removed), or None
    when it is not set. Set but empty is an error (a forgotten ``export X=$(cat file)``)."""
    env = os.environ if environ is None else environ
    value = env.get(name)
    if value is None:
        return None
    value = _strip_newline(value)
    if not value:
        raise ConfigError(f"the environment variable {name} ({what}) is set but empty")
    return value


def secret(file: Optional[str], env_name: str, what: str = "secret",
           environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The secret from ``file`` when given, else from the environment variable ``env_name``,
    else None."""
    if file is not None:
        return read_secret_file(file, what)
    return read_secret_env(env_name, what, environ)


def es_credentials(api_key_file: Optional[str] = None, username: Optional[str] = None,
                   password_file: Optional[str] = None,
                   environ: Optional[Mapping[str, str]] = None) -> dict[str, Optional[str]]:
    """Elasticsearch credentials as keywords for the client helpers: ``api_key``, ``username``,
    ``password`` (each None when not used).

    With ``username``: basic authentication, the password from ``password_file`` or
    $MAILLOG2JSON_ES_PASSWORD (one of them is required). Otherwise the API key from
    ``api_key_file`` or $MAILLOG2JSON_ES_API_KEY, if any. Options naming files win over the
    environment; an API key file and a user name together are an error.
    """
    if username is not None:
        if api_key_file is not None:
            raise ConfigError("give either an API key file or a user name, not both")
        password = secret(password_file, ES_PASSWORD_ENV, "password", environ)
        if password is None:
            raise ConfigError(f"a user name needs a password: set {ES_PASSWORD_ENV} or give a password file")
        return {"api_key": None, "username": username, "password": password}
    if password_file is not None:
        raise ConfigError("a password file needs a user name")
    return {"api_key": secret(api_key_file, ES_API_KEY_ENV, "API key", environ), "username": None,
            "password": None}
