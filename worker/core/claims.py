"""The JWT claims set of one request: default claims, then custom claims in config order."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from worker.core.config import Audience, CustomClaim, MissingPolicy, NodeConfig
from worker.core.errors import ErrorCode, NodeError
from worker.core.templates import Template, convert, json_type_name

# Fixed project namespace for `jti`: uuid5(NAMESPACE_URL, "urn:jwt-generator:jti").
# Never change it: replays of recorded requests must reproduce the same jti.
JTI_NAMESPACE = uuid.UUID("bc0d842e-161b-5cdb-bb0b-d691e6d1c672")
_JTI_NAMESPACE_BYTES = JTI_NAMESPACE.bytes


def make_jti(config_id: str, version: int, execution_id: str) -> str:
    """Deterministic token id: a redelivered or replayed request gets the same one.

    `str(uuid.uuid5(JTI_NAMESPACE, name))`, spelled out (RFC 9562 §5.5): a third of the
    time of building a UUID object per request only to print it.
    """
    name = f"{config_id}:{version}:{execution_id}".encode()
    digest = bytearray(hashlib.sha1(_JTI_NAMESPACE_BYTES + name).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC's variant
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def build_claims(config: NodeConfig, store: Mapping[str, Any], iat: int, execution_id: str) -> dict[str, Any]:
    """iat, iss, sub, aud, exp, nbf, jti (as enabled), then the custom claims; raises NodeError."""
    spec = config.claims
    claims: dict[str, Any] = {}
    if spec.iat:
        claims["iat"] = iat
    if spec.iss and spec.issuer_template is not None:
        _put(claims, "iss", spec.issuer_missing, _text, spec.issuer_template, store, _WHERE_ISS)
    if spec.sub and spec.subject_template is not None:
        _put(claims, "sub", spec.subject_missing, _text, spec.subject_template, store, _WHERE_SUB)
    if spec.audience is not None:
        _put(claims, "aud", spec.audience.missing, _audience, spec.audience, store)
    if spec.exp:
        claims["exp"] = iat + config.ttl
    if spec.nbf:
        claims["nbf"] = iat
    if spec.jti:
        claims["jti"] = make_jti(config.id, config.version, execution_id)
    for item in spec.custom:
        template = item.template
        if template.is_static:
            claims[item.key] = template.static  # converted once at config time
        else:
            _put(claims, item.key, item.missing, _custom, item, store)
    return claims


_WHERE_ISS = "claim 'iss' (claims.issuer)"
_WHERE_SUB = "claim 'sub' (claims.subject)"


def _put(claims: dict[str, Any], name: str, policy: MissingPolicy, render: Callable[..., Any], *args: Any) -> None:
    """`claims[name] = render(*args)`; a variable missing from the flow store fails, omits or defaults as configured.

    Arguments rather than a closure per claim: this runs for every templated claim of every request.
    """
    try:
        claims[name] = render(*args)
    except NodeError as exc:
        if exc.code is not ErrorCode.VARIABLE_NOT_FOUND or policy.on_missing == "fail":
            raise
        if policy.on_missing != "omit":
            claims[name] = policy.default


def _custom(item: CustomClaim, store: Mapping[str, Any]) -> Any:
    where = f"custom claim '{item.key}'"
    return convert(item.template.render(store, where), item.type, where)


def _text(template: Template | None, store: Mapping[str, Any], where: str) -> Any:
    assert template is not None  # the caller checked
    if template.is_static:
        return template.static
    return convert(template.render(store, where), "String", where)


def _audience(audience: Audience, store: Mapping[str, Any]) -> str | list[str]:
    """A string, or an array of strings: a whole-value template may bring an array, flattened one level."""
    where = "claim 'aud' (claims.aud)"
    values: list[str] = []
    single: str | None = None
    for template in audience.templates:
        value = template.render(store, where)
        if isinstance(value, list):
            for item in value:
                if not isinstance(item, str) or not item:
                    raise NodeError(
                        ErrorCode.CLAIM_TYPE_MISMATCH,
                        f"{where}: expected an array of non-empty strings, got an array holding {json_type_name(item)}",
                    )
            values.extend(value)
        else:
            text = convert(value, "String", where)
            values.append(text)
            single = text
    if not values:  # an empty array from the store: no audience at all
        raise NodeError(ErrorCode.VARIABLE_NOT_FOUND, f"{where}: the flow store gives an empty audience")
    if not audience.as_list and single is not None:
        return single
    return values
