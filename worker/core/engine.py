"""The token engine's facade: compile a config once, then generate tokens per request.

Pure and synchronous; the Kafka layer calls `compile_config` when a config
record arrives and `generate` per request. A `CompiledConfig` is immutable and
can be shared between threads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from joserfc.jwk import Key

from worker.core import keys as keyops
from worker.core.claims import build_claims
from worker.core.config import ConfigInvalid, NodeConfig, parse_config
from worker.core.errors import ErrorCode, NodeError
from worker.core.tokens import Encrypter, Signer, compact_header, produce

__all__ = ["CompiledConfig", "ConfigInvalid", "Generated", "compile_config", "generate", "validate_config"]

# A tiny payload to prove, at compile time, that joserfc accepts key + algorithm.
_PROBE = b'{"probe":true}'


@dataclass(frozen=True)
class CompiledConfig:
    """A validated config with keys parsed once; immutable, shareable."""

    id: str
    version: int
    config: NodeConfig = field(repr=False)
    signer: Signer | None = field(repr=False)
    encrypter: Encrypter | None = field(repr=False)
    alg: str  # signing alg, or the JWE alg when encryption-only
    enc: str | None
    kid: str  # signing kid, or the encryption kid when encryption-only
    public_jwk: dict[str, Any] | None = field(repr=False)  # of an asymmetric signing key


@dataclass(frozen=True)
class Generated:
    token: str
    token_info: dict[str, Any]
    store_delta: list[dict[str, Any]]


def compile_config(raw: object, *, kek: Key | None = None) -> CompiledConfig:
    """Validate `raw` (dict or JSON text) and prepare its keys; raises ConfigInvalid."""
    try:
        config = parse_config(raw, kek)
    except ConfigInvalid:
        raise
    except Exception as exc:  # a validator bug must not take the worker down with the record
        raise ConfigInvalid([f"config: cannot be validated (unexpected {type(exc).__name__})"]) from exc
    problems: list[str] = []
    signer: Signer | None = None
    encrypter: Encrypter | None = None
    public_jwk: dict[str, Any] | None = None
    sig = config.signature
    if sig is not None:
        kid = sig.kid or keyops.thumbprint(sig.key)
        signer = Signer.build(sig.alg, kid, sig.key)
        try:
            signer.sign(_PROBE)
        except NodeError as exc:
            problems.append(f"signature.alg: {sig.alg} cannot be used with this key ({exc.message})")
        if sig.type == "asymmetric":
            assert isinstance(sig.key, (keyops.RSAKey, keyops.ECKey, keyops.OKPKey))
            public_jwk = keyops.public_jwk(sig.key, kid)
    enc = config.encryption
    if enc is not None:
        kid = enc.kid or keyops.thumbprint(enc.key)
        encrypter = Encrypter.build(enc.alg, enc.enc, kid, enc.key)
        try:
            encrypter.encrypt(_PROBE, nested=False)
        except NodeError as exc:
            problems.append(f"encryption.alg: {enc.alg}/{enc.enc} cannot be used with this key ({exc.message})")
    if problems:
        raise ConfigInvalid(problems)
    if signer is not None:
        alg, kid = signer.alg, signer.kid
    else:
        assert encrypter is not None  # parse_config guarantees one of the two
        alg, kid = encrypter.alg, encrypter.kid
    return CompiledConfig(
        id=config.id,
        version=config.version,
        config=config,
        signer=signer,
        encrypter=encrypter,
        alg=alg,
        enc=encrypter.enc if encrypter is not None else None,
        kid=kid,
        public_jwk=public_jwk,
    )


def validate_config(raw: object, *, kek: Key | None = None) -> list[str]:
    """Every problem of `raw`, or [] when it is valid."""
    try:
        compile_config(raw, kek=kek)
    except ConfigInvalid as exc:
        return list(exc.problems)
    return []


def generate(compiled: CompiledConfig, *, store: Mapping[str, Any], iat: int, execution_id: str) -> Generated:
    """One token for one request; raises NodeError (VARIABLE_NOT_FOUND, CLAIM_TYPE_MISMATCH, ...)."""
    config = compiled.config
    try:
        claims = build_claims(config, store, iat, execution_id)
        token = produce(claims, compiled.signer, compiled.encrypter)
    except NodeError:
        raise
    except Exception as exc:  # a bug, not a request problem: never echo values
        raise NodeError(ErrorCode.INTERNAL, f"token engine: unexpected {type(exc).__name__}") from exc
    exp = iat + config.ttl if config.claims.exp else None
    token_info: dict[str, Any] = {
        "alg": compiled.alg,
        "enc": compiled.enc,
        "kid": compiled.kid,
        "iat": iat,
        "exp": exp,
    }
    jti = claims.get("jti") if config.claims.jti else None
    if config.claims.jti:
        token_info["jti"] = jti
    spec = config.store
    if spec is None:
        return Generated(token=token, token_info=token_info, store_delta=[])
    values: dict[str, Any] = {}
    for name in spec.attributes:
        values[name] = _attribute(name, compiled, token, claims, token_info, jti)
    delta = [{"variable": spec.variable, "values": values, "frontend": spec.frontend}]
    return Generated(token=token, token_info=token_info, store_delta=delta)


def _attribute(
    name: str,
    compiled: CompiledConfig,
    token: str,
    claims: dict[str, Any],
    token_info: dict[str, Any],
    jti: str | None,
) -> Any:
    if name == "token":
        return token
    if name == "header":
        if compiled.encrypter is None:
            assert compiled.signer is not None
            return compiled.signer.header()
        return compact_header(token)  # JWE headers gain members (epk, iv, tag) per token
    if name == "claims":
        return dict(claims)
    if name == "jti":
        return jti
    if name == "public_jwk":
        return dict(compiled.public_jwk) if compiled.public_jwk is not None else None
    return token_info[name]  # kid, alg, enc, iat, exp
