"""The `claims` section: default-claim flags, issuer / subject / audience and custom claims, templates compiled once.

A templated claim may say what a variable missing from the flow store means
(`on_missing`: fail, the default; omit the claim; or use its `default`).
"""

from __future__ import annotations

from typing import Any

from worker.core.config.audience import parse_audience
from worker.core.config.fields import Problems, flag, got, kind, obj, shared, string
from worker.core.config.missing import policy, text_policy, typed_default
from worker.core.config.model import FLAG_DEFAULTS, Claims, CustomClaim
from worker.core.errors import NodeError
from worker.core.templates import CLAIM_TYPES, Template, TemplateSyntaxError, compile_template, convert

# `<name>_on_missing` / `<name>_default` follow each of these value fields.
_TEXT_CLAIMS = ("issuer", "subject")
_POLICY_FIELDS = tuple(f"{name}_{part}" for name in (*_TEXT_CLAIMS, "aud") for part in ("on_missing", "default"))
_CLAIMS_FIELDS = ("iat", "iss", "sub", "exp", "nbf", "jti", "issuer", "subject", "aud", "custom", *_POLICY_FIELDS)
_CUSTOM_FIELDS = ("key", "value", "type", "on_missing", "default")


def parse_claims(problems: Problems, raw: object) -> Claims | None:
    """`claims` absent means `{}` (so the default `iss` / `sub` flags then require `issuer` / `subject`)."""
    d = obj(problems, {} if raw is None else raw, "claims", _CLAIMS_FIELDS)
    if d is None:
        return None
    flags = {name: flag(problems, d, "claims.", name, default) for name, default in FLAG_DEFAULTS.items()}
    issuer_t = _claim_text(problems, d, "issuer", required=flags["iss"], flag_name="iss")
    subject_t = _claim_text(problems, d, "subject", required=flags["sub"], flag_name="sub")
    issuer_missing = text_policy(problems, d, "issuer", issuer_t)
    subject_missing = text_policy(problems, d, "subject", subject_t)
    audience = parse_audience(problems, d)
    enabled = {name for name, on in flags.items() if on}
    if audience is not None:
        enabled.add("aud")
    custom = _custom(problems, d.get("custom"), enabled)
    return Claims(
        **flags,
        custom=custom,
        issuer_template=issuer_t,
        subject_template=subject_t,
        issuer_missing=issuer_missing,
        subject_missing=subject_missing,
        audience=audience,
    )


def _claim_text(problems: Problems, d: dict[str, Any], name: str, *, required: bool, flag_name: str) -> Template | None:
    value = d.get(name)
    path = f"claims.{name}"
    if value is None:
        if required:
            problems.add(path, f"required when '{flag_name}' is on")
        return None
    if not isinstance(value, str) or not value:
        problems.add(path, f"must be a non-empty string, got {kind(value)}")
        return None
    try:
        return compile_template(value)
    except TemplateSyntaxError as exc:
        problems.add(path, str(exc))
        return None


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
    else:
        claim_type = shared(claim_type)
    value = d.get("value")
    template = _value_template(problems, value, path, claim_type)
    templated = template is not None and not template.is_static
    missing = policy(problems, d, f"{path}.", "", templated, typed_default(problems, claim_type))
    if key is None or claim_type is None or template is None:
        return None
    return CustomClaim(key=key, type=claim_type, template=template, missing=missing)


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
