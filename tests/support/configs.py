"""Node configs and node-execution events as the tests build them (docs/contract.md §2 and §3).

One config builder (`base_config`, the contract's example) and one event
builder (`request_for`); every variant is an override of them.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

IAT = 1764355200  # issued_at of the events the tests send (2025-11-29T00:00:00Z)

HS256_SECRET = "0123456789abcdef0123456789abcdef"  # 32 bytes: the shortest HS256 key
# 40 bytes: enough for HS256, too short for HS512. The integration worker
# fixture fails a module whose worker log shows "TOP-SECRET".
TOP_SECRET = "TOP-SECRET-hmac-key-for-tests-0123456789"

STORE: dict[str, Any] = {"user": {"id": "u-42", "email": "ada@example.com", "roles": ["admin", "ops"]}}

# A config's claims with a single custom claim, and the claims of a token made
# from them for STORE at IAT with ttl 600.
LEAN_CLAIMS: dict[str, Any] = {
    "issuer": "https://idp.example.com",
    "subject": "{{user.id}}",
    "custom": [{"key": "email", "value": "{{user.email}}", "type": "String"}],
}
LEAN_TOKEN_CLAIMS: dict[str, Any] = {
    "iat": IAT,
    "exp": IAT + 600,
    "iss": "https://idp.example.com",
    "sub": "u-42",
    "email": "ada@example.com",
}


def hs256(password: str, kid: str = "hs-1") -> dict[str, Any]:
    """A symmetric HS256 `signature` section."""
    return {"type": "symmetric", "kid": kid, "alg": "HS256", "password": password}


def base_config(**overrides: Any) -> dict[str, Any]:
    """The contract's example config (HS256, three custom claims); top-level keys in `overrides` replace its own."""
    config: dict[str, Any] = {
        "id": "login-token",
        "version": 3,
        "ttl": 3600,
        "claims": {
            "issuer": "https://idp.example.com",
            "subject": "{{user.id}}",
            "custom": [
                {"key": "email", "value": "{{user.email}}", "type": "String"},
                {"key": "roles", "value": "{{user.roles}}", "type": "Array"},
                {"key": "level", "value": "2", "type": "Number"},
            ],
        },
        "signature": hs256(HS256_SECRET),
        "encryption": None,
        "store": {"variable": "jwt", "attributes": ["token", "exp"], "frontend": False},
    }
    config.update(copy.deepcopy(overrides))
    return config


def hs256_config(config_id: str, version: int = 1, **overrides: Any) -> dict[str, Any]:
    """A config as the integration tests publish it: ttl 600, signed with TOP_SECRET, stored for the frontend."""
    defaults: dict[str, Any] = {
        "id": config_id,
        "version": version,
        "ttl": 600,
        "signature": hs256(TOP_SECRET),
        "store": {"variable": "jwt", "attributes": ["token", "exp"], "frontend": True},
    }
    return base_config(**{**defaults, **overrides})


def request_for(
    config_id: str,
    version: int | None = None,
    *,
    store: Any = None,
    execution_id: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A node-execution event for `config_id` (latest version unless given) over STORE, at IAT.

    A fresh execution id unless one is given; `fields` replace whole top-level fields.
    """
    event: dict[str, Any] = {
        "execution_id": execution_id or str(uuid.uuid4()),
        "flow": {"id": "checkout", "type": "Authentication", "run_id": "r-1"},
        "node": {"id": "jwt-1"},
        "config": {"id": config_id} if version is None else {"id": config_id, "version": version},
        "store": STORE if store is None else store,
        "issued_at": IAT,
    }
    event.update(fields)
    return event


def asymmetric_signature(private_key: Any, alg: str, key_type: str, kid: str | None = None) -> dict[str, Any]:
    """An asymmetric `signature` section (private_key as PEM or JWK); the thumbprint is the kid unless given."""
    signature: dict[str, Any] = {"type": "asymmetric", "key_type": key_type, "alg": alg, "private_key": private_key}
    if kid is not None:
        signature["kid"] = kid
    return signature
