"""The token engine's facade: compile a config once, then generate tokens per request.

Pure and synchronous; the Kafka layer calls `compile_config` when a config
record arrives and `generate` per request. A `CompiledConfig` is immutable and
can be shared between threads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from joserfc.jwk import Key

from worker.core import keys as keyops
from worker.core.claims import build_claims
from worker.core.config import ConfigInvalid, Encryption, NodeConfig, parse_config
from worker.core.errors import ErrorCode, NodeError
from worker.core.keysets import KeySets, Wanted
from worker.core.tokens import Encrypter, Signer, compact_header, produce

__all__ = ["CompiledConfig", "ConfigInvalid", "Generated", "compile_config", "generate", "validate_config"]

# A tiny payload to prove, at compile time, that joserfc accepts key + algorithm.
_PROBE = b'{"probe":true}'


@dataclass(frozen=True, slots=True)
class RemoteEncryption:
    """Encryption to a key chosen per request from a key set the worker fetches (`encryption.jwks_url`)."""

    url: str
    wanted: Wanted
    enc: str
    kid: str | None  # the config's kid; else the chosen key's kid member, else its thumbprint
    keysets: KeySets | None = field(repr=False, compare=False)
    # Encrypters by (key-set generation, key kid): rebuilt only when a refresh brings new keys.
    _built: dict[tuple[int, str | None], Encrypter] = field(default_factory=dict, repr=False, compare=False)

    @property
    def alg(self) -> str:
        return self.wanted.alg

    def encrypter(self) -> Encrypter:
        """KEY_UNAVAILABLE (retryable) when no fitting key is cached."""
        if self.keysets is None:
            raise NodeError(ErrorCode.KEY_UNAVAILABLE, "encryption.jwks_url: this process fetches no key sets")
        resolved = self.keysets.resolve(self.url, self.wanted)
        built = self._built.get((resolved.generation, resolved.kid))
        if built is None or built.key is not resolved.key:
            if len(self._built) > 16:  # older generations are never asked for again
                self._built.clear()
            kid = self.kid or resolved.kid or keyops.thumbprint(resolved.key)
            built = self._built[(resolved.generation, resolved.kid)] = Encrypter.build(
                self.alg, self.enc, kid, resolved.key
            )
        return built


@dataclass(frozen=True, slots=True)
class CompiledConfig:
    """A validated config with keys parsed once; immutable, shareable."""

    id: str
    version: int
    config: NodeConfig = field(repr=False)
    signer: Signer | None = field(repr=False)
    encrypter: Encrypter | None = field(repr=False)
    alg: str  # signing alg, or the JWE alg when encryption-only
    enc: str | None
    kid: str | None  # signing kid, or the encryption kid when encryption-only (None: chosen per request)
    # Of an asymmetric signing key, when the config stores it (an RSA one is 600 bytes per config).
    public_jwk: dict[str, Any] | None = field(repr=False)
    remote: RemoteEncryption | None = field(default=None, repr=False)  # instead of `encrypter`

    def encrypter_for_request(self) -> Encrypter | None:
        return self.remote.encrypter() if self.remote is not None else self.encrypter


class Generated(NamedTuple):
    token: str
    token_info: dict[str, Any]
    store_delta: list[dict[str, Any]]
    header: dict[str, Any]  # the outermost protected header
    claims: dict[str, Any]


def compile_config(raw: object, *, kek: Key | None = None, keysets: KeySets | None = None) -> CompiledConfig:
    """Validate `raw` (dict or JSON text) and prepare its keys; raises ConfigInvalid.

    A config whose encryption key comes from a `jwks_url` reads it from `keysets`
    (and asks it to fetch that URL); without one, its requests fail KEY_UNAVAILABLE.
    """
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
        signer = Signer.build(sig.alg, kid, sig.key, sig.headers)
        try:
            signer.sign(_PROBE)
        except NodeError as exc:
            problems.append(f"signature.alg: {sig.alg} cannot be used with this key ({exc.message})")
        if sig.type == "asymmetric" and config.store is not None and "public_jwk" in config.store.attributes:
            assert isinstance(sig.key, (keyops.RSAKey, keyops.ECKey, keyops.OKPKey))
            public_jwk = keyops.public_jwk(sig.key, kid)
    enc = config.encryption
    remote: RemoteEncryption | None = None
    if enc is not None and enc.jwks_url is not None:
        remote = _remote(config.id, enc, keysets)
    elif enc is not None:
        assert enc.key is not None  # parse_config guarantees a key without a jwks_url
        kid = enc.kid or keyops.thumbprint(enc.key)
        encrypter = Encrypter.build(enc.alg, enc.enc, kid, enc.key, enc.iterations, enc.salt_bytes)
        try:
            encrypter.encrypt(_PROBE, nested=False)
        except NodeError as exc:
            problems.append(f"encryption.alg: {enc.alg}/{enc.enc} cannot be used with this key ({exc.message})")
    if problems:
        raise ConfigInvalid(problems)
    kid_or_none: str | None
    if signer is not None:
        alg, kid_or_none = signer.alg, signer.kid
    elif remote is not None:
        alg, kid_or_none = remote.alg, remote.kid
    else:
        assert encrypter is not None  # parse_config guarantees one of the two
        alg, kid_or_none = encrypter.alg, encrypter.kid
    return CompiledConfig(
        id=config.id,
        version=config.version,
        config=config,
        signer=signer,
        encrypter=encrypter,
        alg=alg,
        enc=enc.enc if enc is not None else None,
        kid=kid_or_none,
        public_jwk=public_jwk,
        remote=remote,
    )


def _remote(config_id: str, enc: Encryption, keysets: KeySets | None) -> RemoteEncryption:
    assert enc.jwks_url is not None and enc.jwks_refresh_seconds is not None
    if keysets is not None:
        keysets.track(config_id, enc.jwks_url, enc.jwks_refresh_seconds)
    wanted = Wanted(enc.key_type, enc.alg, enc.kid, enc.key_size, enc.curve)
    return RemoteEncryption(enc.jwks_url, wanted, enc.enc, enc.kid, keysets)


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
    signer = compiled.signer
    try:
        claims = build_claims(config, store, iat, execution_id)
        encrypter = compiled.encrypter_for_request()
        token = produce(claims, signer, encrypter)
    except NodeError:
        raise
    except Exception as exc:  # a bug, not a request problem: never echo values
        raise NodeError(ErrorCode.INTERNAL, f"token engine: unexpected {type(exc).__name__}") from exc
    _check_size(token, config.max_token_bytes)
    if encrypter is None:
        assert signer is not None
        header = signer.header()
    else:
        header = compact_header(token)  # JWE headers gain members (epk, iv, tag, p2s) per token
    alg, kid = (signer.alg, signer.kid) if signer is not None else (encrypter.alg, encrypter.kid)  # type: ignore[union-attr]
    exp = iat + config.ttl if config.claims.exp else None
    token_info: dict[str, Any] = {
        "alg": alg,
        "enc": compiled.enc,
        "kid": kid,
        "iat": iat,
        "exp": exp,
    }
    jti = claims.get("jti") if config.claims.jti else None
    if config.claims.jti:
        token_info["jti"] = jti
    spec = config.store
    if spec is None:
        return Generated(token=token, token_info=token_info, store_delta=[], header=header, claims=claims)
    values: dict[str, Any] = {}
    for name in spec.attributes:
        values[name] = _attribute(name, compiled, token, header, claims, token_info, jti)
    delta = [{"variable": spec.variable, "values": values, "frontend": spec.frontend}]
    return Generated(token=token, token_info=token_info, store_delta=delta, header=header, claims=claims)


def _check_size(token: str, limit: int | None) -> None:
    """TOKEN_TOO_LARGE, saying by how much, when the token is over the config's `max_token_bytes`."""
    size = len(token)  # compact serializations are ASCII: one byte per character
    if limit is not None and size > limit:
        raise NodeError(
            ErrorCode.TOKEN_TOO_LARGE,
            f"max_token_bytes: the token is {size} bytes, {size - limit} over the limit of {limit}",
        )


def _attribute(
    name: str,
    compiled: CompiledConfig,
    token: str,
    header: dict[str, Any],
    claims: dict[str, Any],
    token_info: dict[str, Any],
    jti: str | None,
) -> Any:
    if name == "token":
        return token
    if name == "header":
        return dict(header)
    if name == "claims":
        return dict(claims)
    if name == "jti":
        return jti
    if name == "public_jwk":
        return dict(compiled.public_jwk) if compiled.public_jwk is not None else None
    return token_info[name]  # kid, alg, enc, iat, exp
