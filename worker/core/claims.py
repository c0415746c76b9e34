"""The JWT claims set of one request: default claims, then custom claims in config order."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from worker.core.config import NodeConfig
from worker.core.templates import Template, convert

# Fixed project namespace for `jti`: uuid5(NAMESPACE_URL, "urn:jwt-generator:jti").
# Never change it: replays of recorded requests must reproduce the same jti.
JTI_NAMESPACE = uuid.UUID("bc0d842e-161b-5cdb-bb0b-d691e6d1c672")


def make_jti(config_id: str, version: int, execution_id: str) -> str:
    """Deterministic token id: a redelivered or replayed request gets the same one."""
    return str(uuid.uuid5(JTI_NAMESPACE, f"{config_id}:{version}:{execution_id}"))


def build_claims(config: NodeConfig, store: Mapping[str, Any], iat: int, execution_id: str) -> dict[str, Any]:
    """iat, iss, sub, exp, nbf, jti (as enabled), then the custom claims; raises NodeError."""
    spec = config.claims
    claims: dict[str, Any] = {}
    if spec.iat:
        claims["iat"] = iat
    if spec.iss and spec.issuer_template is not None:
        claims["iss"] = _text(spec.issuer_template, store, "claim 'iss' (claims.issuer)")
    if spec.sub and spec.subject_template is not None:
        claims["sub"] = _text(spec.subject_template, store, "claim 'sub' (claims.subject)")
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
            where = f"custom claim '{item.key}'"
            claims[item.key] = convert(template.render(store, where), item.type, where)
    return claims


def _text(template: Template, store: Mapping[str, Any], where: str) -> Any:
    if template.is_static:
        return template.static
    return convert(template.render(store, where), "String", where)
