"""The node config (docs/contract.md §2): its model, and `parse_config`, which validates it.

`parse_config` collects every problem before giving up; each problem starts with
the dotted path of the field at fault and never quotes key material.

Interpretations of the contract made here:
- `ttl` absent means 3600 seconds (one hour).
- `claims` absent means `{}` (so the default `iss` / `sub` flags then require
  `issuer` / `subject`).
- a field known to the config but not used by the chosen type (e.g.
  `private_key` on a symmetric signature) must be absent or null.
- a sealed secret's plaintext is the field's value as text (a password, a JWK
  JSON string or a PEM).
- `max_token_bytes` absent means no size budget.

One module per concern: `model` (dataclasses), `fields` (JSON-shape readers),
`keyrules` (key sizes, curves, JWK members), and one per section.
"""

from __future__ import annotations

import orjson
from joserfc.jwk import Key

from worker.core.config.claims import parse_claims
from worker.core.config.encryption import parse_encryption
from worker.core.config.fields import Problems, obj, positive_int, string
from worker.core.config.model import (
    DEFAULT_ENC,
    DEFAULT_TTL,
    EXPOSED_ATTRIBUTES,
    FLAG_DEFAULTS,
    MISSING_POLICIES,
    Audience,
    Claims,
    ConfigInvalid,
    CustomClaim,
    Encryption,
    MissingPolicy,
    NodeConfig,
    Signature,
    Store,
)
from worker.core.config.signature import parse_signature
from worker.core.config.store import parse_store

__all__ = [
    "DEFAULT_ENC",
    "DEFAULT_TTL",
    "EXPOSED_ATTRIBUTES",
    "FLAG_DEFAULTS",
    "MISSING_POLICIES",
    "Audience",
    "Claims",
    "ConfigInvalid",
    "CustomClaim",
    "Encryption",
    "MissingPolicy",
    "NodeConfig",
    "Signature",
    "Store",
    "parse_config",
]

_TOP_FIELDS = ("id", "version", "ttl", "claims", "signature", "encryption", "store", "max_token_bytes")


def parse_config(raw: object, kek: Key | None = None) -> NodeConfig:
    """Validate a node config (a dict, or JSON text) and import its keys; raises ConfigInvalid."""
    problems = Problems()
    config = _parse(problems, raw, kek)
    if problems or config is None:
        raise ConfigInvalid(problems.items or ["config: invalid"])
    return config


def _parse(problems: Problems, raw: object, kek: Key | None) -> NodeConfig | None:
    if isinstance(raw, (str, bytes, bytearray)):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError:
            problems.add("config", "not valid JSON")
            return None
    d = obj(problems, raw, "config", _TOP_FIELDS)
    if d is None:
        return None
    config_id = string(problems, d, "", "id", required=True)
    version = positive_int(problems, d, "", "version", None)
    ttl = positive_int(problems, d, "", "ttl", DEFAULT_TTL)
    max_token_bytes = positive_int(problems, d, "", "max_token_bytes", 0) or None  # absent: no budget
    claims = parse_claims(problems, d.get("claims"))
    has_encryption = d.get("encryption") is not None
    encryption = parse_encryption(problems, d["encryption"], kek) if has_encryption else None
    signature = parse_signature(problems, d.get("signature"), has_encryption, kek)
    raw_signature = d.get("signature")
    asymmetric = isinstance(raw_signature, dict) and raw_signature.get("type") == "asymmetric"
    store = parse_store(problems, d.get("store"), asymmetric)
    if problems or config_id is None or version is None or ttl is None or claims is None:
        return None
    return NodeConfig(config_id, version, ttl, claims, signature, encryption, store, max_token_bytes)
