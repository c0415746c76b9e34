"""JSON for the hot path: orjson, with the standard library where orjson gives up.

orjson refuses integers beyond 64 bits and nesting deeper than its limits; the
standard library handles both (up to Python's recursion limit). Either way
the callers get ValueError for what no JSON library can handle.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

# Larger integers cannot be read exactly by JSON consumers that use doubles.
MAX_SAFE_INT = 2**53 - 1


def is_int(value: object) -> bool:
    """A JSON integer: Python's bool is an int, JSON's true is not."""
    return isinstance(value, int) and not isinstance(value, bool)


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON."""
    try:
        return orjson.dumps(value)
    except TypeError:
        try:
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        except (TypeError, ValueError, RecursionError) as exc:
            raise ValueError(f"cannot be written as JSON ({type(exc).__name__})") from None


def loads(data: bytes | str) -> Any:
    """Parse JSON; ValueError when it is not JSON (or nests beyond any limit)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as first:
        # What orjson refuses but is JSON all the same: numbers beyond float
        # range (1e400), or nesting deeper than orjson's 1024 levels.
        try:
            return json.loads(data)
        except (ValueError, RecursionError):
            raise ValueError(str(first)) from None
