"""Config problems as the unit tests check them: every problem starts with the field at fault."""

from __future__ import annotations

from worker.core.config import ConfigInvalid, parse_config
from worker.core.engine import validate_config


def problems(raw: object) -> list[str]:
    """Every problem `parse_config` finds in `raw` ([] when valid)."""
    try:
        parse_config(raw)
    except ConfigInvalid as exc:
        return exc.problems
    return []


def assert_problem(raw: object, field: str, *needles: str) -> list[str]:
    """`raw` has a problem for `field` that mentions every needle; returns that field's problems."""
    found = validate_config(raw)
    matching = [p for p in found if p.startswith(field + ":")]
    assert matching, f"no problem for {field!r} in {found}"
    for needle in needles:
        assert any(needle in p for p in matching), f"{needle!r} not in {matching}"
    return matching
