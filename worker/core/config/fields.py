"""Readers of the config's JSON shape, recording what is wrong in a `Problems`.

Each reader returns the value, or None (or a default) once its problem is
recorded, so validation goes on and reports every problem in one pass.
"""

from __future__ import annotations

import sys
from typing import Any

from joserfc.jwk import Key

from worker.core.jsonio import MAX_SAFE_INT, is_int
from worker.core.sealed import SealedError, open_sealed
from worker.core.templates import json_type_name

FAILED = object()  # a field whose problem is already recorded

kind = json_type_name  # JSON type name for messages (never the value)


class Problems:
    """Problems in the order found; each starts with the dotted path of the field at fault."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def __bool__(self) -> bool:
        return bool(self.items)

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{path}: {message}")

    def add_text(self, text: str) -> None:
        """A problem whose text already starts with its path."""
        self.items.append(text)


def got(value: object) -> str:
    """A wrong value for a message: strings quoted (they name choices), anything else by JSON type."""
    return f"'{value}'" if isinstance(value, str) else kind(value)


def obj(problems: Problems, raw: object, path: str, allowed: tuple[str, ...]) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        problems.add(path, f"must be a JSON object, got {kind(raw)}")
        return None
    for name in raw:
        if name not in allowed:
            problems.add(f"{path}.{name}" if path != "config" else str(name), "unknown field")
    return raw


def string(problems: Problems, d: dict[str, Any], path: str, name: str, *, required: bool) -> str | None:
    value = d.get(name)
    if value is None:
        if required:
            problems.add(f"{path}{name}", "required (a non-empty string)")
        return None
    if not isinstance(value, str) or not value.strip():
        shown = "blank string" if isinstance(value, str) else kind(value)
        problems.add(f"{path}{name}", f"must be a non-empty string, got {shown}")
        return None
    return shared(value)


def shared(name: str) -> str:
    """One string object for a name many configs spell alike (claim keys, kids, algorithms): a
    config kept for a long time should not keep its own copy of every word of its record."""
    return sys.intern(name)


def flag(problems: Problems, d: dict[str, Any], path: str, name: str, default: bool) -> bool:
    value = d.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        problems.add(f"{path}{name}", f"must be a boolean, got {kind(value)}")
        return default
    return value


def positive_int(problems: Problems, d: dict[str, Any], path: str, name: str, default: int | None) -> int | None:
    value = d.get(name)
    if value is None:
        if default is None:
            problems.add(f"{path}{name}", "required (an integer >= 1)")
        return default
    if not is_int(value):
        problems.add(f"{path}{name}", f"must be an integer >= 1, got {kind(value)}")
        return None
    if not 1 <= value <= MAX_SAFE_INT:
        problems.add(f"{path}{name}", f"must be an integer from 1 to 2^53 - 1, got {value}")
        return None
    return int(value)


def unused(problems: Problems, d: dict[str, Any], path: str, names: tuple[str, ...], why: str) -> None:
    """Fields known to the config but not used by the chosen type must be absent or null."""
    for name in names:
        if d.get(name) is not None:
            problems.add(f"{path}.{name}", f"not used by {why}")


def secret(problems: Problems, d: dict[str, Any], path: str, name: str, kek: Key | None) -> object:
    """The field's value, a sealed one opened (its plaintext is the value as text); FAILED when that failed."""
    value = d.get(name)
    if isinstance(value, dict) and "sealed" in value:
        try:
            return open_sealed(value, kek, f"{path}.{name}")
        except SealedError as exc:
            problems.add_text(str(exc))
            return FAILED
    return value
