"""JSON for the hot path: orjson, with the standard library where orjson gives up.

orjson refuses integers beyond 64 bits and nesting deeper than 1024 levels;
the standard library handles the first (and nesting up to Python's recursion
limit). Either way the callers get ValueError for what no JSON library can
handle. Two things only the fallback lets through are caught here: a lone
surrogate escape (`"\\ud800"`, JSON text that is not Unicode and cannot be
written back as UTF-8) raises `NotUnicode`, which still carries what was read;
and `prune` lets a caller read what it needs from a document nested too deep.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

# Larger integers cannot be read exactly by JSON consumers that use doubles.
MAX_SAFE_INT = 2**53 - 1


def is_int(value: object) -> bool:
    """A JSON integer: Python's bool is an int, JSON's true is not."""
    return isinstance(value, int) and not isinstance(value, bool)


# What orjson accepts; deeper documents are refused by every parser we have.
MAX_DEPTH = 1024


class NotUnicode(ValueError):
    """JSON that parses but holds a lone surrogate: `path` names the first such string, `value` is what was read."""

    def __init__(self, path: str, value: Any) -> None:
        super().__init__(f"{path}: not valid Unicode (a lone surrogate escape)")
        self.path = path
        self.value = value


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
    """Parse JSON; ValueError when it is not JSON (or nests beyond any limit), NotUnicode for lone surrogates."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as first:
        # What orjson refuses but is JSON all the same: numbers beyond float
        # range (1e400), and strings with lone surrogates (caught below).
        try:
            value = json.loads(data)
        except (ValueError, RecursionError):
            raise ValueError(str(first)) from None
        path = lone_surrogate(value)
        if path is not None:
            raise NotUnicode(path, value) from None
        return value


def is_unicode(text: str) -> bool:
    """False when `text` holds a lone surrogate (it cannot be encoded as UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def lone_surrogate(value: Any) -> str | None:
    """The path of the first key or string holding a lone surrogate, or None. Iterative: any depth."""
    stack: list[tuple[str, Any]] = [("value", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if not is_unicode(item):
                return path
        elif isinstance(item, dict):
            for key, child in item.items():
                name = f"{path}.{_printable(key)}" if path != "value" else _printable(key)
                if not is_unicode(key):
                    return name
                stack.append((name, child))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", child) for i, child in enumerate(item))
    return None


def _printable(key: str) -> str:
    return key.encode("utf-8", "backslashreplace").decode("utf-8")


# A string token (escapes included), or a run of opening or of closing
# brackets; brackets inside strings are skipped as part of their string. Runs
# and the unrolled string pattern keep the scan linear and mostly in C.
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[{]+|[\]}]+', re.DOTALL)
# What stands in for a pruned array or object: a string no sender would write.
PRUNED = "\x00pruned"
_PRUNED_JSON = b'"\\u0000pruned"'


def prune(data: bytes, max_depth: int) -> bytes | None:
    """`data` with every array or object nested deeper than `max_depth` replaced by the string PRUNED.

    None when nothing nests that deep. The top-level value is depth 1. This only
    counts brackets, so garbage in gives garbage out: the caller parses the result.
    """
    parts: list[bytes] = []
    depth = 0
    start = -1  # where the subtree being pruned opened
    copied = 0
    for match in _TOKEN.finditer(data):
        run = match.group()
        if run[:1] == b'"':
            continue
        if run[:1] in (b"[", b"{"):
            if depth <= max_depth < depth + len(run):
                start = match.start() + (max_depth - depth)
            depth += len(run)
        else:
            if start >= 0 and depth - len(run) <= max_depth < depth:
                parts += [data[copied:start], _PRUNED_JSON]
                copied = match.start() + (depth - max_depth)
                start = -1
            depth -= len(run)
    if not parts:
        return None
    parts.append(data[copied:])
    return b"".join(parts)


def holds_pruned(value: Any) -> bool:
    """True when `value` (read from `prune`'s output) contains a pruned subtree. Iterative."""
    stack = [value]
    while stack:
        item = stack.pop()
        if item == PRUNED:
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False
