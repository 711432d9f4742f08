"""Build the network sinks (Elasticsearch, Fluentd) from the command's settings.

Each becomes a :class:`~maillog2json.delivery.worker.Shipper`: the transport, its queue,
its spool directory (``<--spool>/<sink>``) and its worker thread. Secrets are read here,
from the environment or from files, never from the command line.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Optional

from maillog2json.delivery.worker import Shipper, ShipperOptions


def shipper_options(settings: dict[str, Any], name: str) -> ShipperOptions:
    spool = settings.get("spool")
    return ShipperOptions(
        batch_items=settings["batch_size"],
        flush_interval=settings["flush_interval"],
        memory_items=settings["queue_size"],
        spool_dir=os.path.join(spool, name) if spool else None,
        spool_max_bytes=settings["spool_max_bytes"],
        dead_letter=settings.get("dead_letter"),
    )


def elasticsearch_transport(settings: dict[str, Any]) -> Any:
    from maillog2json.sinks.elasticsearch import ElasticsearchTransport
    from maillog2json.secrets import es_credentials
    creds = es_credentials(settings.get("es_api_key_file"), settings.get("es_username"),
                           settings.get("es_password_file"))
    return ElasticsearchTransport(
        list(settings["elasticsearch"]),
        schema=settings["es_schema"],
        lines_target=settings["es_lines_target"],
        messages_target=settings["es_messages_target"],
        ca_file=settings.get("es_ca_file"),
        fingerprint=settings.get("es_ca_fingerprint"),
        verify=not settings.get("es_insecure"),
        api_key=creds["api_key"],
        username=creds["username"],
        password=creds["password"],
    )


def fluentd_transport(settings: dict[str, Any]) -> Any:
    from maillog2json.secrets import FLUENTD_PASSWORD_ENV, FLUENTD_SHARED_KEY_ENV, secret
    from maillog2json.sinks.fluentd import FluentdTransport
    return FluentdTransport(
        settings["fluentd"],
        tag_prefix=settings["fluentd_tag_prefix"],
        schema=settings["fluentd_schema"],
        shared_key=secret(settings.get("fluentd_shared_key_file"), FLUENTD_SHARED_KEY_ENV, "Fluentd shared key"),
        username=settings.get("fluentd_username"),
        password=secret(settings.get("fluentd_password_file"), FLUENTD_PASSWORD_ENV, "Fluentd password"),
        tls=bool(settings.get("fluentd_tls")),
        ca_file=settings.get("fluentd_ca_file"),
        tls_verify=not settings.get("fluentd_insecure"),
        compress=bool(settings.get("fluentd_compress")),
    )


def build_shippers(settings: dict[str, Any], log: Optional[Callable[[str], None]] = None) -> list[Shipper]:
    """One Shipper per network sink chosen; ConfigError (or SpoolError) for bad settings."""
    out: list[Shipper] = []
    try:
        if settings.get("elasticsearch"):
            out.append(Shipper(elasticsearch_transport(settings), shipper_options(settings, "elasticsearch"), log))
        if settings.get("fluentd"):
            out.append(Shipper(fluentd_transport(settings), shipper_options(settings, "fluentd"), log))
    except Exception:
        for s in out:
            s.close(0)
        raise
    return out

