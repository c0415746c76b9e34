"""The `claims` section: default-claim flags, issuer / subject / audience and custom claims, templates compiled once.

A templated claim may say what a variable missing from the flow store means
(`on_missing`: fail, the default; omit the claim; or use its `default`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from worker.core.config.fields import Problems, flag, got, kind, obj, string
from worker.core.config.model import FAIL, FLAG_DEFAULTS, MISSING_POLICIES, Audience, Claims, CustomClaim, MissingPolicy
from worker.core.errors import NodeError
from worker.core.templates import CLAIM_TYPES, Template, TemplateSyntaxError, compile_template, convert

# `<name>_on_missing` / `<name>_default` follow each of these value fields.
_TEXT_CLAIMS = ("issuer", "subject")
_POLICY_FIELDS = tuple(f"{name}_{part}" for name in (*_TEXT_CLAIMS, "aud") for part in ("on_missing", "default"))
_CLAIMS_FIELDS = ("iat", "iss", "sub", "exp", "nbf", "jti", "issuer", "subject", "aud", "custom", *_POLICY_FIELDS)
_CUSTOM_FIELDS = ("key", "value", "type", "on_missing", "default")

_INVALID = object()  # a `default` whose problem is recorded
# Checks a `default` (its value, its path): the value to use, or _INVALID.
DefaultCheck = Callable[[object, str], object]


def parse_claims(problems: Problems, raw: object) -> Claims | None:
    """`claims` absent means `{}` (so the default `iss` / `sub` flags then require `issuer` / `subject`)."""
    d = obj(problems, {} if raw is None else raw, "claims", _CLAIMS_FIELDS)
    if d is None:
        return None
    flags = {name: flag(problems, d, "claims.", name, default) for name, default in FLAG_DEFAULTS.items()}
    issuer, issuer_t = _claim_text(problems, d, "issuer", required=flags["iss"], flag_name="iss")
    subject, subject_t = _claim_text(problems, d, "subject", required=flags["sub"], flag_name="sub")
    issuer_missing = _text_policy(problems, d, "issuer", issuer_t)
    subject_missing = _text_policy(problems, d, "subject", subject_t)
    audience = _audience(problems, d)
    enabled = {name for name, on in flags.items() if on}
    if audience is not None:
        enabled.add("aud")
    custom = _custom(problems, d.get("custom"), enabled)
    return Claims(
        **flags,
        issuer=issuer,
        subject=subject,
        custom=custom,
        issuer_template=issuer_t,
        subject_template=subject_t,
        issuer_missing=issuer_missing,
        subject_missing=subject_missing,
        audience=audience,
    )


def _claim_text(
    problems: Problems, d: dict[str, Any], name: str, *, required: bool, flag_name: str
) -> tuple[str | None, Template | None]:
    value = d.get(name)
    path = f"claims.{name}"
    if value is None:
        if required:
            problems.add(path, f"required when '{flag_name}' is on")
        return None, None
    if not isinstance(value, str) or not value:
        problems.add(path, f"must be a non-empty string, got {kind(value)}")
        return None, None
    try:
        return value, compile_template(value)
    except TemplateSyntaxError as exc:
        problems.add(path, str(exc))
        return None, None


def _text_policy(problems: Problems, d: dict[str, Any], name: str, template: Template | None) -> MissingPolicy:
    """`<name>_on_missing` / `<name>_default` of the issuer or subject; the default is a non-empty string."""

    def check_default(value: object, path: str) -> object:
        if not isinstance(value, str) or not value:
            problems.add(path, f"must be a non-empty string (the claim is a string), got {kind(value)}")
            return _INVALID
        return value

    return _policy(problems, d, "claims.", name, template is not None and not template.is_static, check_default)


def _audience(problems: Problems, d: dict[str, Any]) -> Audience | None:
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
    missing = _policy(problems, d, "claims.", "aud", templated, _audience_default(problems))
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
        return _INVALID

    return check


def _policy(
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
        return MissingPolicy(on_missing)
    if default is None:
        problems.add(default_path, f"required when {prefix}on_missing is 'default'")
        return FAIL
    checked = check_default(default, default_path)
    if checked is _INVALID:
        return FAIL
    return MissingPolicy("default", checked)


def _custom(problems: Problems, raw: object, enabled: set[str]) -> tuple[CustomClaim, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.add("claims.custom", f"must be an array, got {kind(raw)}")
        return ()
    seen: set[str] = set()
    out: list[CustomClaim] = []
    for i, item in enumerate(raw):
        claim = _custom_claim(problems, item, f"claims.custom[{i}]", seen, enabled)
        if claim is not None:
            out.append(claim)
    return tuple(out)


def _custom_claim(problems: Problems, item: object, path: str, seen: set[str], enabled: set[str]) -> CustomClaim | None:
    """One custom claim; its key joins `seen` (used or not) so a later duplicate is reported."""
    d = obj(problems, item, path, _CUSTOM_FIELDS)
    if d is None:
        return None
    key = string(problems, d, f"{path}.", "key", required=True)
    if key is not None:
        if key in seen:
            problems.add(f"{path}.key", f"'{key}' is already used by another custom claim")
        elif key in enabled:
            problems.add(f"{path}.key", f"'{key}' collides with the enabled default claim '{key}'")
        seen.add(key)
    claim_type = d.get("type")
    if claim_type not in CLAIM_TYPES:
        problems.add(f"{path}.type", f"must be one of {', '.join(CLAIM_TYPES)}, got {got(claim_type)}")
        claim_type = None
    value = d.get("value")
    template = _value_template(problems, value, path, claim_type)
    templated = template is not None and not template.is_static
    missing = _policy(problems, d, f"{path}.", "", templated, _typed_default(problems, claim_type))
    if key is None or claim_type is None or template is None:
        return None
    return CustomClaim(key=key, type=claim_type, value=value, template=template, missing=missing)


def _typed_default(problems: Problems, claim_type: str | None) -> DefaultCheck:
    """A custom claim's `default` is converted like a static value of the claim's type, once, here."""

    def check(value: object, path: str) -> object:
        if claim_type is None:
            return _INVALID  # the type's own problem is recorded
        try:
            return convert(value, claim_type, path)
        except NodeError:
            problems.add(path, f"a {kind(value)} cannot be a {claim_type}")
            return _INVALID

    return check


def _value_template(problems: Problems, value: object, path: str, claim_type: str | None) -> Template | None:
    if value is None:
        problems.add(f"{path}.value", "required (a static JSON value or a string holding templates)")
        return None
    try:
        template = compile_template(value)
    except TemplateSyntaxError as exc:
        problems.add(f"{path}.value", str(exc))
        return None
    if claim_type is not None and template.is_static:
        # Static values are converted once here, so a wrong one fails the config, not each request.
        try:
            return Template(static=convert(template.static, claim_type, path), is_static=True)
        except NodeError:
            problems.add(f"{path}.value", f"static value of type {kind(value)} cannot be a {claim_type}")
            return None
    return template
