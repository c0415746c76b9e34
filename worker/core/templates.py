"""`{{variable.attribute}}` templates (docs/contract.md) and claim type conversion.

Templates are compiled once per config into literal / path parts, so rendering
a request does no regex work. Rules:

- a string that is exactly one template keeps the referenced value (any JSON type);
- a string mixing text and templates renders to a string (objects / arrays as
  compact JSON, numbers / booleans in JSON spelling, strings as they are);
- static non-string values (numbers, booleans, lists, objects) pass through
  unchanged; strings nested inside static lists / objects are NOT templated.
- a path walks objects by key and arrays by decimal index: `{{user.roles.0}}`;
  whitespace inside the braces is ignored: `{{ user.id }}`.
"""

from __future__ import annotations

import json
import math
import re
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from worker.core import jsonio
from worker.core.errors import ErrorCode, NodeError

CLAIM_TYPES = ("String", "Number", "Boolean", "Array", "Object")

_TEMPLATE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_MISSING = object()


class TemplateSyntaxError(ValueError):
    """A template that cannot be compiled (the text says why; safe to show)."""


@dataclass(frozen=True, slots=True)
class Path:
    """A store path such as `user.roles.0`, pre-split into segments."""

    segments: tuple[str, ...]

    @property
    def dotted(self) -> str:
        return ".".join(self.segments)


@dataclass(frozen=True, slots=True, weakref_slot=True)
class Template:
    """A compiled config value.

    `whole` is set when the value is exactly one template; otherwise `parts`
    (literals and paths) render to a string, or `static` holds a value with no templates.
    """

    parts: tuple[str | Path, ...] = ()
    whole: Path | None = None
    static: Any = None
    is_static: bool = False

    @property
    def paths(self) -> tuple[Path, ...]:
        if self.whole is not None:
            return (self.whole,)
        return tuple(p for p in self.parts if isinstance(p, Path))

    def render(self, store: Mapping[str, Any], where: str) -> Any:
        """The value for one request; `where` names the claim for error messages."""
        if self.is_static:
            return self.static
        if self.whole is not None:
            return lookup(store, self.whole, where)
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            else:
                out.append(to_text(lookup(store, part, where)))
        return "".join(out)


# Compiled templates by their text, shared by every config that spells one the same way
# (thousands of configs say "{{user.id}}") and let go with the last config holding it.
_COMPILED: weakref.WeakValueDictionary[str, Template] = weakref.WeakValueDictionary()


def compile_template(value: Any) -> Template:
    """Compile a config value; raises TemplateSyntaxError for `{{}}` or `{{a..b}}`."""
    if not isinstance(value, str):
        return Template(static=value, is_static=True)
    compiled = _COMPILED.get(value)
    if compiled is None:
        compiled = _COMPILED.setdefault(value, _compile_text(value))
    return compiled


def _compile_text(value: str) -> Template:
    parts: list[str | Path] = []
    pos = 0
    for match in _TEMPLATE.finditer(value):
        if match.start() > pos:
            parts.append(value[pos : match.start()])
        parts.append(_compile_path(match.group(1)))
        pos = match.end()
    if pos < len(value):
        parts.append(value[pos:])
    if not any(isinstance(p, Path) for p in parts):
        return Template(static=value, is_static=True)
    if len(parts) == 1 and isinstance(parts[0], Path):
        return Template(whole=parts[0])
    return Template(parts=tuple(parts))


def _compile_path(inner: str) -> Path:
    text = inner.strip()
    if not text:
        raise TemplateSyntaxError("empty template '{{}}'")
    if "{" in text or "}" in text:
        raise TemplateSyntaxError("unbalanced braces in template")
    segments = tuple(s.strip() for s in text.split("."))
    if any(not s for s in segments):
        raise TemplateSyntaxError(f"template path '{text}' has an empty segment")
    return Path(segments)


def lookup(store: Mapping[str, Any], path: Path, where: str) -> Any:
    """Walk the store; a missing segment or a null value is VARIABLE_NOT_FOUND."""
    node: Any = store
    for segment in path.segments:
        # Parsed JSON holds plain dicts: `type(...) is dict` first spares the ABC check (~0.3 µs).
        if type(node) is dict or isinstance(node, Mapping):
            node = node.get(segment, _MISSING)
        elif isinstance(node, list) and segment.isascii() and segment.isdigit():
            index = int(segment)
            node = node[index] if index < len(node) else _MISSING
        else:
            node = _MISSING
        if node is _MISSING or node is None:
            raise NodeError(ErrorCode.VARIABLE_NOT_FOUND, f"{where}: flow store has no '{path.dotted}'")
    return node


def to_text(value: Any) -> str:
    """JSON spelling for non-strings (compact), strings as they are."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)  # also beyond 64 bits, where orjson gives up
    return dumps_compact(value)


def dumps_compact(value: Any) -> str:
    return jsonio.dumps(value).decode("utf-8")


def json_type_name(value: Any) -> str:
    """The JSON name of a value's type (used in messages instead of the value)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def convert(value: Any, claim_type: str, where: str) -> Any:
    """Convert a rendered value to the claim's type (docs/contract.md), else CLAIM_TYPE_MISMATCH."""
    if claim_type == "String":
        return to_text(value) if value is not None else _mismatch(value, claim_type, where)
    if claim_type == "Number":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            parsed = _parse_json(value)
            if isinstance(parsed, (int, float)) and not isinstance(parsed, bool) and math.isfinite(parsed):
                return parsed
            return _mismatch(value, claim_type, where, "a string that is not a JSON number")
        return _mismatch(value, claim_type, where)
    if claim_type == "Boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            lowered = value.lower()
            if lowered == "true":
                return True
            if lowered == "false":
                return False
            return _mismatch(value, claim_type, where, "a string that is not true/false")
        return _mismatch(value, claim_type, where)
    if claim_type in ("Array", "Object"):
        kind: type = list if claim_type == "Array" else dict
        if isinstance(value, kind):
            return value
        if isinstance(value, str):
            parsed = _parse_json(value)
            if isinstance(parsed, kind):
                return parsed
            return _mismatch(value, claim_type, where, f"a string that is not a JSON {claim_type.lower()}")
        return _mismatch(value, claim_type, where)
    raise ValueError(f"unknown claim type {claim_type!r}")  # config validation prevents this


def _parse_json(text: str) -> Any:
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        try:  # e.g. NaN / Infinity spellings, refused below by the finiteness check
            return json.loads(text)
        except (ValueError, RecursionError):  # deeper than any parser goes: not JSON to us
            return _MISSING
    if isinstance(parsed, float) and not any(c in text for c in ".eE"):
        # orjson turns integers beyond 64 bits into floats; keep them exact.
        return json.loads(text)
    return parsed


def _mismatch(value: Any, claim_type: str, where: str, got: str | None = None) -> Any:
    # The value itself may be a secret from the flow store: name its type only.
    described = got or json_type_name(value)
    raise NodeError(ErrorCode.CLAIM_TYPE_MISMATCH, f"{where}: expected {claim_type}, got {described}")
