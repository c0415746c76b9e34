"""What a templated claim does when the flow store lacks its variable.

`on_missing` (or `<name>_on_missing` for the issuer, subject and audience):
`fail`, the default; `omit` the claim; or `default`, with `<...>default` checked here once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from worker.core.config.fields import Problems, got, kind
from worker.core.config.model import FAIL, MISSING_POLICIES, OMIT, MissingPolicy
from worker.core.errors import NodeError
from worker.core.templates import Template, convert

INVALID = object()  # a `default` whose problem is recorded
# Checks a `default` (its value, its path): the value to use, or INVALID.
DefaultCheck = Callable[[object, str], object]


def policy(
    problems: Problems, d: dict[str, Any], path: str, name: str, templated: bool, check_default: DefaultCheck
) -> MissingPolicy:
    """`<name>_on_missing` and `<name>_default` (or, for a custom claim, `on_missing` and `default`)."""
    prefix = f"{name}_" if name else ""
    on_missing_path, default_path = f"{path}{prefix}on_missing", f"{path}{prefix}default"
    on_missing = d.get(f"{prefix}on_missing")
    default = d.get(f"{prefix}default")
    if on_missing is None:
        on_missing = "fail"
    elif on_missing not in MISSING_POLICIES:
        problems.add(on_missing_path, f"must be one of {', '.join(MISSING_POLICIES)}, got {got(on_missing)}")
        return FAIL
    if on_missing != "fail" and not templated:
        problems.add(on_missing_path, f"'{on_missing}' needs a value with templates (nothing else can be missing)")
        return FAIL
    if on_missing != "default":
        if default is not None:
            problems.add(default_path, f"only used when {prefix}on_missing is 'default'")
        return FAIL if on_missing == "fail" else OMIT
    if default is None:
        problems.add(default_path, f"required when {prefix}on_missing is 'default'")
        return FAIL
    checked = check_default(default, default_path)
    if checked is INVALID:
        return FAIL
    return MissingPolicy("default", checked)


def text_policy(problems: Problems, d: dict[str, Any], name: str, template: Template | None) -> MissingPolicy:
    """`<name>_on_missing` / `<name>_default` of the issuer or subject; the default is a non-empty string."""

    def check_default(value: object, path: str) -> object:
        if not isinstance(value, str) or not value:
            problems.add(path, f"must be a non-empty string (the claim is a string), got {kind(value)}")
            return INVALID
        return value

    return policy(problems, d, "claims.", name, template is not None and not template.is_static, check_default)


def typed_default(problems: Problems, claim_type: str | None) -> DefaultCheck:
    """A custom claim's `default` is converted like a static value of the claim's type, once, here."""

    def check(value: object, path: str) -> object:
        if claim_type is None:
            return INVALID  # the type's own problem is recorded
        try:
            return convert(value, claim_type, path)
        except NodeError:
            problems.add(path, f"a {kind(value)} cannot be a {claim_type}")
            return INVALID

    return check
