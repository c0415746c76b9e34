"""JWS / JWE compact serialization with joserfc: signed, encrypted, or nested (sign then encrypt).

Signers and encrypters are built once per config, with their joserfc registry
restricted explicitly to the one configured algorithm (joserfc otherwise only
allows its "recommended" set), so `none` can never be selected.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson
from joserfc import jwe, jws
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwe import JWERegistry
from joserfc.jwk import Key, OctKey, guess_key
from joserfc.jws import CompactSignature, JWSAlgModel, JWSRegistry, is_rfc7797_enabled
from joserfc.registry import HeaderParameter
from joserfc.util import json_b64encode, urlsafe_b64encode

from worker.core import jsonio
from worker.core.errors import ErrorCode, NodeError

# "EdDSA" is accepted as a config alias of Ed25519 (RFC 8037 spelling that many
# verifiers still expect); joserfc would warn about it (RFC 9864) on every token.
warnings.filterwarnings("ignore", message="EdDSA is deprecated", category=SecurityWarning)


def _any_value(value: object) -> None:
    """Header members the config adds were checked when the config was (config/headers.py)."""


# Registries are read-only once built, and each copies joserfc's header
# registry: configs with the same algorithm (and extra header names) share one.
@lru_cache(maxsize=256)
def _jws_registry(alg: str, extra_names: frozenset[str]) -> JWSRegistry:
    known = JWSRegistry.default_header_registry
    members = {name: HeaderParameter(name, _any_value) for name in sorted(extra_names) if name not in known}
    return JWSRegistry(members, algorithms=[alg])


@lru_cache(maxsize=256)
def _jwe_registry(alg: str, enc: str) -> JWERegistry:
    return JWERegistry(algorithms=[alg, enc])


# The HMAC algorithms signed with `hmac.digest`, by the hash's name OpenSSL knows.
_HMAC_HASHES = {"HS256": "sha256", "HS384": "sha384", "HS512": "sha512"}


@dataclass(frozen=True, slots=True)
class Signer:
    alg: str
    kid: str
    key: Key = field(repr=False)
    registry: JWSRegistry = field(repr=False, compare=False)
    extra: dict[str, Any] = field(default_factory=dict)  # signature.headers; its `typ` overrides "JWT"
    # The encoded protected header and the algorithm, checked with the key once (see `build`),
    # and for HMAC the secret and the hash's name.
    prepared: tuple[bytes, JWSAlgModel, bytes | None, str] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def build(cls, alg: str, kid: str, key: Key, extra: dict[str, Any] | None = None) -> Signer:
        if alg.lower() == "none":
            raise ValueError("alg 'none' is never allowed")
        extra = dict(extra or {})
        # joserfc refuses header members it does not know unless they are registered.
        signer = cls(alg=alg, kid=kid, key=key, registry=_jws_registry(alg, frozenset(extra)), extra=extra)
        object.__setattr__(signer, "prepared", _prepare(signer.header(), key, signer.registry))
        return signer

    def header(self) -> dict[str, Any]:
        """The protected header of every token, built per call (not kept: 10,000 configs would hold 10,000)."""
        if not self.extra:  # most configs: 0.1 µs instead of 0.45
            return {"alg": self.alg, "typ": "JWT", "kid": self.kid}
        header = {"alg": self.alg, "typ": self.extra.get("typ", "JWT"), "kid": self.kid}
        header.update((name, value) for name, value in self.extra.items() if name != "typ")
        return header

    def sign(self, payload: bytes) -> str:
        """The JWS compact; SIGNING_FAILED on any error."""
        try:
            if self.prepared is None:
                return jws.serialize_compact(self.header(), payload, self.key, registry=self.registry)
            # What joserfc's serialize_compact does once the header and the key are checked.
            header_segment, algorithm, secret, hash_name = self.prepared
            signing_input = header_segment + b"." + urlsafe_b64encode(payload)
            if secret is not None:
                # joserfc's HMACAlgorithm.sign in OpenSSL's one-shot call: 1.7 µs instead of 2.2.
                signature = hmac.digest(secret, signing_input, hash_name)
            else:
                signature = algorithm.sign(signing_input, self.key)
            return (signing_input + b"." + urlsafe_b64encode(signature)).decode("ascii")
        except (JoseError, ValueError, TypeError) as exc:
            # joserfc messages name algorithms / key types, never key material.
            raise NodeError(ErrorCode.SIGNING_FAILED, f"signature: cannot sign with {self.alg}: {_why(exc)}") from None


def _prepare(
    header: dict[str, Any], key: Key, registry: JWSRegistry
) -> tuple[bytes, JWSAlgModel, bytes | None, str] | None:
    """joserfc's per-token checks of a JWS, done once: the header, the algorithm and the key.

    Header and key never change for a signer, so every token would repeat the
    same checks and encode the same header (a third of joserfc's signing time
    for HS256). None when a check fails or the header asks for an unencoded
    payload (RFC 7797): joserfc then signs each token, and says what is wrong.
    """
    try:
        registry.check_header(header)
        if is_rfc7797_enabled(header):
            return None
        algorithm: JWSAlgModel = registry.get_alg(header["alg"])
        # The key's `use` and `key_ops` allow signing, and it fits the algorithm.
        algorithm.check_key(guess_key(key, CompactSignature(header, b""), True, use="sig"))
    except (JoseError, ValueError, TypeError):
        return None
    hash_name = _HMAC_HASHES.get(algorithm.name, "")
    secret = key.get_op_key("sign") if hash_name and isinstance(key, OctKey) else None
    return json_b64encode(header), algorithm, secret or None, hash_name


@dataclass(frozen=True, slots=True)
class Encrypter:
    alg: str
    enc: str
    kid: str
    key: Key = field(repr=False)
    registry: JWERegistry = field(repr=False, compare=False)
    iterations: int | None = None  # PBES2: `p2c`
    salt_bytes: int | None = None  # PBES2: the length of the random `p2s` of each token

    @classmethod
    def build(
        cls, alg: str, enc: str, kid: str, key: Key, iterations: int | None = None, salt_bytes: int | None = None
    ) -> Encrypter:
        return cls(alg, enc, kid, key, _jwe_registry(alg, enc), iterations, salt_bytes)

    def encrypt(self, plaintext: bytes, *, nested: bool) -> str:
        """JWE compact; `nested` marks a JWS payload (`cty: JWT`), else the claims (`typ: JWT`)."""
        header: dict[str, Any] = {"alg": self.alg, "enc": self.enc, "kid": self.kid}
        if nested:
            header["cty"] = "JWT"
        else:
            header["typ"] = "JWT"
        if self.iterations is not None and self.salt_bytes is not None:
            # A fresh salt per token, of the length the config chose (joserfc would pick 16 bytes).
            header["p2s"] = base64.urlsafe_b64encode(secrets.token_bytes(self.salt_bytes)).decode().rstrip("=")
            header["p2c"] = self.iterations
        try:
            return jwe.encrypt_compact(header, plaintext, self.key, registry=self.registry)
        except (JoseError, ValueError, TypeError) as exc:
            raise NodeError(
                ErrorCode.ENCRYPTION_FAILED, f"encryption: cannot encrypt with {self.alg}/{self.enc}: {_why(exc)}"
            ) from None


def produce(claims: dict[str, Any], signer: Signer | None, encrypter: Encrypter | None) -> str:
    """The final compact token: JWS, JWE of the claims, or JWE of the JWS (nested)."""
    payload = _dumps(claims)
    if encrypter is None:
        if signer is None:
            raise NodeError(ErrorCode.INTERNAL, "config has neither signature nor encryption")
        return signer.sign(payload)
    if signer is not None:
        signed = signer.sign(payload)
        return encrypter.encrypt(signed.encode("ascii"), nested=True)
    return encrypter.encrypt(payload, nested=False)


def _dumps(claims: dict[str, Any]) -> bytes:
    return jsonio.dumps(claims)  # integers beyond 64 bits stay exact


def compact_header(token: str) -> dict[str, Any]:
    """The protected header of a compact JWS / JWE (its first segment)."""
    first = token.split(".", 1)[0]
    header: dict[str, Any] = orjson.loads(base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)))
    return header


def _why(exc: Exception) -> str:
    # JoseError carries a short `error` code and a description without material.
    description = getattr(exc, "description", None) or getattr(exc, "error", None)
    return str(description) if description else type(exc).__name__
