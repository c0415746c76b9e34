"""New key pairs as JWKs, for `jwtgen keys generate`."""

from __future__ import annotations

import warnings
from typing import Any

from joserfc.jwk import ECKey, Key, OctKey, OKPKey, RSAKey

from worker.core.config import (
    EC_ENCRYPTION,
    EC_SIGNING,
    ENC_KEY_BYTES,
    HMAC_MIN_BYTES,
    KEY_WRAP_BYTES,
    MIN_RSA_BITS,
    OKP_SIGNING,
    RSA_ENCRYPTION,
    RSA_SIGNING,
)

_SIGNING_ALGS = frozenset({*HMAC_MIN_BYTES, *RSA_SIGNING, *EC_SIGNING, *OKP_SIGNING})
_ENCRYPTION_ALGS = frozenset({*KEY_WRAP_BYTES, "dir", *RSA_ENCRYPTION, *EC_ENCRYPTION})
_ALGS_BY_KTY: dict[str, frozenset[str]] = {
    "oct": frozenset({*HMAC_MIN_BYTES, *KEY_WRAP_BYTES, "dir"}),
    "RSA": frozenset({*RSA_SIGNING, *RSA_ENCRYPTION}),
    "EC": frozenset({*EC_SIGNING, *EC_ENCRYPTION}),
    "OKP": frozenset(OKP_SIGNING),
}


def generate_keypair(
    kty: str,
    size: int | None = None,
    curve: str | None = None,
    alg: str | None = None,
    kid: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(private JWK, public JWK or None for oct); raises ValueError for impossible requests.

    Defaults: oct 256 bits, or what `alg` needs (HS384 -> 384, A128KW -> 128,
    `dir` -> 256, i.e. A256GCM); RSA 2048; EC P-256, or the curve of `alg`; OKP Ed25519.
    `kid` defaults to the RFC 7638 thumbprint; `alg` and `use` are set when `alg` is given.
    """
    if alg is not None:
        if alg.lower() == "none":
            raise ValueError("alg 'none' is never allowed")
        if alg not in _ALGS_BY_KTY.get(kty, frozenset()):
            raise ValueError(f"alg {alg} does not fit key type {kty}")
    key: Key
    if kty == "oct":
        if curve is not None:
            raise ValueError("--curve is only for EC / OKP keys")
        bits = size if size is not None else _oct_bits(alg)
        if bits <= 0 or bits % 8:
            raise ValueError("oct size must be a positive multiple of 8 bits")
        if alg in HMAC_MIN_BYTES and bits < HMAC_MIN_BYTES[alg] * 8:
            raise ValueError(f"{alg} needs at least {HMAC_MIN_BYTES[alg] * 8} bits")
        if alg in KEY_WRAP_BYTES and bits != KEY_WRAP_BYTES[alg] * 8:
            raise ValueError(f"{alg} needs exactly {KEY_WRAP_BYTES[alg] * 8} bits")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            key = OctKey.generate_key(bits)
    elif kty == "RSA":
        if curve is not None:
            raise ValueError("--curve is only for EC / OKP keys")
        bits = size if size is not None else MIN_RSA_BITS
        if bits < MIN_RSA_BITS:
            raise ValueError(f"RSA keys must have at least {MIN_RSA_BITS} bits")
        key = RSAKey.generate_key(bits)
    elif kty == "EC":
        if size is not None:
            raise ValueError("--size is only for oct / RSA keys")
        wanted = EC_SIGNING.get(alg or "", None)
        crv = curve or wanted or "P-256"
        if crv not in ("P-256", "P-384", "P-521"):
            raise ValueError("EC curve must be P-256, P-384 or P-521")
        if wanted is not None and crv != wanted:
            raise ValueError(f"{alg} needs curve {wanted}")
        key = ECKey.generate_key(crv)
    elif kty == "OKP":
        if size is not None:
            raise ValueError("--size is only for oct / RSA keys")
        if curve not in (None, "Ed25519"):
            raise ValueError("OKP keys are Ed25519 here")
        key = OKPKey.generate_key("Ed25519")
    else:
        raise ValueError("key type must be oct, RSA, EC or OKP")

    extra: dict[str, Any] = {"kid": kid or key.thumbprint()}
    if alg is not None:
        extra["alg"] = alg
        extra["use"] = "sig" if alg in _SIGNING_ALGS else "enc"
    private = dict(key.as_dict(private=True))
    private.update(extra)
    if kty == "oct":
        return private, None
    public = dict(key.as_dict(private=False))
    public.update(extra)
    return private, public


def _oct_bits(alg: str | None) -> int:
    if alg in HMAC_MIN_BYTES:
        return HMAC_MIN_BYTES[alg] * 8
    if alg in KEY_WRAP_BYTES:
        return KEY_WRAP_BYTES[alg] * 8
    if alg == "dir":
        return ENC_KEY_BYTES["A256GCM"] * 8  # the default enc
    return 256
