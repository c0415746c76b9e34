"""The node config (docs/contract.md §2) as frozen dataclasses, and its defaults.

Fields that hold secrets are `repr=False`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from joserfc.jwk import Key

from worker.core.algorithms import DEFAULT_ENC
from worker.core.templates import Template

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
    "NextKey",
    "NodeConfig",
    "PublishedKey",
    "RetiredKey",
    "Signature",
    "Store",
]

DEFAULT_TTL = 3600

FLAG_DEFAULTS: dict[str, bool] = {"iat": True, "iss": True, "sub": True, "exp": True, "nbf": False, "jti": False}

# What a claim whose template finds nothing in the flow store does (docs/contract.md §2.2).
MISSING_POLICIES = ("fail", "omit", "default")

EXPOSED_ATTRIBUTES = ("token", "header", "claims", "kid", "alg", "enc", "iat", "exp", "jti", "public_jwk")


class ConfigInvalid(ValueError):
    """A config that breaks one or more rules; `problems` lists every one."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class MissingPolicy:
    """`on_missing` of a templated claim, with its `default` (already converted to the claim's type)."""

    on_missing: str = "fail"  # one of MISSING_POLICIES
    default: Any = field(default=None, repr=False)


# Shared by every claim without a default: a config holds policies by reference, not by copy.
FAIL = MissingPolicy()
OMIT = MissingPolicy("omit")


@dataclass(frozen=True, slots=True)
class CustomClaim:
    key: str
    type: str
    # Compiled once (static values converted to `type`); static values may be secrets.
    template: Template = field(repr=False)
    missing: MissingPolicy = FAIL


@dataclass(frozen=True, slots=True)
class Audience:
    """`claims.aud`: one template (its result may be a string or an array) or an array of them."""

    templates: tuple[Template, ...] = field(repr=False)
    as_list: bool
    missing: MissingPolicy = FAIL


@dataclass(frozen=True, slots=True)
class Claims:
    iat: bool = True
    iss: bool = True
    sub: bool = True
    exp: bool = True
    nbf: bool = False
    jti: bool = False
    custom: tuple[CustomClaim, ...] = ()
    issuer_template: Template | None = field(default=None, repr=False)  # a static issuer is its text
    subject_template: Template | None = field(default=None, repr=False)
    issuer_missing: MissingPolicy = FAIL
    subject_missing: MissingPolicy = FAIL
    audience: Audience | None = None


@dataclass(frozen=True, slots=True)
class PublishedKey:
    """A public signing key verifiers may fetch besides the current one (extension, docs/contract.md §2.10)."""

    kid: str
    alg: str
    public_key: Key = field(repr=False)  # public half only


@dataclass(frozen=True, slots=True)
class NextKey(PublishedKey):
    """The key the config announces before signing with it."""

    private_key: Key | None = field(default=None, repr=False)  # absent when held outside the config
    announced_at: int | None = None  # epoch seconds, written by `jwtgen keys rotate`


@dataclass(frozen=True, slots=True)
class RetiredKey(PublishedKey):
    """A key the config signed with before; published until its tokens have expired."""

    retired_at: int = 0  # epoch seconds of its last use


@dataclass(frozen=True, slots=True)
class Signature:
    type: str  # "symmetric" | "asymmetric"
    alg: str
    key_type: str  # "oct", "RSA", "EC" or "OKP"
    key: Key = field(repr=False)  # the signing key (oct or private)
    kid: str | None = None
    key_size: int | None = None
    curve: str | None = None
    public_key: Key | None = field(default=None, repr=False)
    next_key: NextKey | None = None
    retired_keys: tuple[RetiredKey, ...] = ()
    # Protected header members besides alg / typ / kid (`typ` here overrides "JWT").
    headers: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Encryption:
    type: str
    alg: str
    enc: str
    key_type: str  # "oct", "RSA" or "EC"
    key: Key | None = field(repr=False)  # oct key, or the recipient's public key; None for a jwks_url
    kid: str | None = None
    key_size: int | None = None
    curve: str | None = None
    iterations: int | None = None  # PBES2 only: the PBKDF2 iteration count (`p2c`)
    salt_bytes: int | None = None  # PBES2 only: random salt input (`p2s`) per token
    jwks_url: str | None = None  # the recipient's key comes from this key set, chosen per request
    jwks_refresh_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class Store:
    variable: str
    attributes: tuple[str, ...]
    frontend: bool = False


@dataclass(frozen=True, slots=True)
class NodeConfig:
    id: str
    version: int
    ttl: int
    claims: Claims
    signature: Signature | None
    encryption: Encryption | None
    store: Store | None
    max_token_bytes: int | None = None
