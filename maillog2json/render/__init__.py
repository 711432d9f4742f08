"""Render documents to JSON bytes in one of two spellings of the same event model:
``native`` (short, jq-friendly names) and ``ecs`` (Elastic Common Schema)."""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import orjson

Renderer = Callable[[dict[str, Any]], bytes]

# The native spelling is the document as built: one JSON object and a newline. A partial,
# not a def: it is called once per document, and a partial calls orjson without a Python frame.
native: Renderer = partial(orjson.dumps, option=orjson.OPT_APPEND_NEWLINE)


# the module, not its function, is bound to the name here: ``maillog2json.render.ecs``
# stays the module (ecs.ecs is the renderer, ecs.ecs_id the id for the sinks)
from maillog2json.render import ecs  # noqa: E402  (after native: ecs imports nothing from here, but reads best so)

RENDERERS: dict[str, Renderer] = {"native": native, "ecs": ecs.ecs}
