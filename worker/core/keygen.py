"""New key pairs as JWKs, for `jwtgen keys generate`."""

from __future__ import annotations

import warnings
from typing import Any

from joserfc.jwk import ECKey, Key, OctKey, OKPKey, RSAKey

from worker.core import algorithms as jwa
from worker.core.algorithms import MIN_RSA_BITS

_CURVED_KEY_TYPES = tuple(dict.fromkeys(curve.key_type for curve in jwa.CURVES))  # EC, OKP
_SIZED_KEY_TYPES = tuple(kty for kty in jwa.KEY_TYPES if kty not in _CURVED_KEY_TYPES)  # oct, RSA
_CURVE_ONLY = f"--curve is only for {' / '.join(_CURVED_KEY_TYPES)} keys"
_SIZE_ONLY = f"--size is only for {' / '.join(_SIZED_KEY_TYPES)} keys"


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
        if alg not in (*jwa.signing_algs(kty), *jwa.key_management_algs(kty)):
            raise ValueError(f"alg {alg} does not fit key type {kty}")
    key: Key
    if kty == "oct":
        if curve is not None:
            raise ValueError(_CURVE_ONLY)
        bits = size if size is not None else _oct_bits(alg)
        if bits <= 0 or bits % 8:
            raise ValueError("oct size must be a positive multiple of 8 bits")
        min_bytes = _hmac_min_bytes(alg)
        if min_bytes is not None and bits < min_bytes * 8:
            raise ValueError(f"{alg} needs at least {min_bytes * 8} bits")
        wrap_bytes = _wrap_bytes(alg)
        if wrap_bytes is not None and bits != wrap_bytes * 8:
            raise ValueError(f"{alg} needs exactly {wrap_bytes * 8} bits")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            key = OctKey.generate_key(bits)
    elif kty == "RSA":
        if curve is not None:
            raise ValueError(_CURVE_ONLY)
        bits = size if size is not None else MIN_RSA_BITS
        if bits < MIN_RSA_BITS:
            raise ValueError(f"RSA keys must have at least {MIN_RSA_BITS} bits")
        key = RSAKey.generate_key(bits)
    elif kty == "EC":
        if size is not None:
            raise ValueError(_SIZE_ONLY)
        wanted = jwa.signing_curve(alg) if alg is not None else None
        crv = curve or wanted or "P-256"
        if crv not in jwa.curves("EC"):
            raise ValueError(f"EC curve must be {jwa.either(jwa.curves('EC'))}")
        if wanted is not None and crv != wanted:
            raise ValueError(f"{alg} needs curve {wanted}")
        key = ECKey.generate_key(crv)
    elif kty == "OKP":
        if size is not None:
            raise ValueError(_SIZE_ONLY)
        okp_curves = jwa.curves("OKP")
        if curve is not None and curve not in okp_curves:
            raise ValueError(f"OKP keys are {jwa.either(okp_curves)} here")
        key = OKPKey.generate_key("Ed25519")  # the one OKP curve the table lists
    else:
        raise ValueError(f"key type must be {jwa.either(jwa.KEY_TYPES)}")

    extra: dict[str, Any] = {"kid": kid or key.thumbprint()}
    if alg is not None:
        extra["alg"] = alg
        extra["use"] = "sig" if alg in jwa.SIGNING_BY_NAME else "enc"
    private = dict(key.as_dict(private=True))
    private.update(extra)
    if kty == "oct":
        return private, None
    public = dict(key.as_dict(private=False))
    public.update(extra)
    return private, public


def _oct_bits(alg: str | None) -> int:
    min_bytes = _hmac_min_bytes(alg)
    if min_bytes is not None:
        return min_bytes * 8
    wrap_bytes = _wrap_bytes(alg)
    if wrap_bytes is not None:
        return wrap_bytes * 8
    if alg == "dir":
        return jwa.CONTENT_ENCRYPTION_BY_NAME[jwa.DEFAULT_ENC].key_bytes * 8
    return 256


def _hmac_min_bytes(alg: str | None) -> int | None:
    signing = jwa.SIGNING_BY_NAME.get(alg or "")
    return signing.min_key_bytes if signing is not None else None


def _wrap_bytes(alg: str | None) -> int | None:
    wrap = jwa.KEY_MANAGEMENT_BY_NAME.get(alg or "")
    return wrap.key_bytes if wrap is not None else None
