"""`claims.aud`: the audience, one string or an array of them, templates allowed."""

from __future__ import annotations

from typing import Any

from worker.core.config.fields import Problems, got
from worker.core.config.missing import INVALID, DefaultCheck, policy
from worker.core.config.model import Audience
from worker.core.templates import Template, TemplateSyntaxError, compile_template


def parse_audience(problems: Problems, d: dict[str, Any]) -> Audience | None:
    """`claims.aud`: one non-empty string or a non-empty array of them, each of which may hold templates."""
    value = d.get("aud")
    path = "claims.aud"
    if value is None:
        for name in ("aud_on_missing", "aud_default"):
            if d.get(name) is not None:
                problems.add(f"claims.{name}", "not used without claims.aud")
        return None
    if isinstance(value, str):
        items, as_list = [value], False
    elif isinstance(value, list) and value:
        items, as_list = value, True
    else:
        problems.add(path, f"must be a non-empty string or a non-empty array of them, got {got(value)}")
        return None
    templates: list[Template] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        where = f"{path}[{i}]" if as_list else path
        if not isinstance(item, str) or not item:
            problems.add(where, f"must be a non-empty string, got {got(item)}")
            continue
        if item in seen:
            problems.add(where, f"'{item}' is listed twice")
            continue
        seen.add(item)
        try:
            templates.append(compile_template(item))
        except TemplateSyntaxError as exc:
            problems.add(where, str(exc))
    templated = any(not t.is_static for t in templates)
    missing = policy(problems, d, "claims.", "aud", templated, _audience_default(problems))
    if len(templates) != len(items):
        return None
    return Audience(templates=tuple(templates), as_list=as_list, missing=missing)


def _audience_default(problems: Problems) -> DefaultCheck:
    def check(value: object, path: str) -> object:
        if isinstance(value, str) and value:
            return value
        if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
            return list(value)
        problems.add(path, f"must be a non-empty string or a non-empty array of them, got {got(value)}")
        return INVALID

    return check
