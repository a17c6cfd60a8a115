"""One JSON loader for everything that arrives from outside (webhook bodies, report files).

Python's ``json`` recurses once per nesting level: a body of 200,000 ``[`` raises
``RecursionError`` (a 500 wherever it is not caught), and a document a few hundred levels deep
still parses and then breaks whoever walks or re-serialises it. No document Fleetcore reads
needs more than a handful of levels, so :func:`load_json` refuses anything nested deeper than
:data:`MAX_JSON_DEPTH` with :class:`JsonTooDeep` — a ``ValueError``, like every other "this is
not acceptable JSON" error, so callers turn it into their own 400/422 problem.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["MAX_JSON_DEPTH", "JsonTooDeep", "load_json"]

MAX_JSON_DEPTH = 64
"""Containers (objects and arrays) nested inside one another, the outermost counting as 1."""


class JsonTooDeep(ValueError):  # noqa: N818 - reads as the condition
    """The document nests objects or arrays deeper than allowed."""

    def __init__(self, max_depth: int) -> None:
        super().__init__(f"the JSON nests objects or arrays more than {max_depth} levels deep")
        self.max_depth = max_depth


def load_json(data: str | bytes | bytearray, *, max_depth: int = MAX_JSON_DEPTH,
              **options: Any) -> Any:
    """``json.loads(data, **options)``, refusing nesting deeper than ``max_depth``.

    Raises ``json.JSONDecodeError`` for malformed JSON and :class:`JsonTooDeep` for a document
    nested too deep (both ``ValueError``).
    """
    try:
        document = json.loads(data, **options)
    except RecursionError as exc:  # deeper than the interpreter's own limit
        raise JsonTooDeep(max_depth) from exc
    _check_depth(document, max_depth)
    return document


def _check_depth(document: Any, max_depth: int) -> None:
    """Walk the containers (never the scalars' text) without recursion."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > max_depth:
            raise JsonTooDeep(max_depth)
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, dict | list))
