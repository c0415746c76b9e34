"""The `signature` section: HMAC with an oct key, or RSA / EC / OKP with a private key."""

from __future__ import annotations

from typing import Any

from joserfc.jwk import Key

from worker.core import algorithms as jwa
from worker.core import keys as keyops
from worker.core.config.fields import FAILED, Problems, kind, obj, secret, shared, string, unused
from worker.core.config.headers import parse_headers
from worker.core.config.keyrules import jwk_fits, key_shape, key_type, oct_key
from worker.core.config.model import Signature
from worker.core.config.rotation import parse_rotation

_PATH = "signature"
_COMMON = ("type", "kid", "alg", "headers")
_SYMMETRIC = ("password", "jwk")
_ASYMMETRIC = ("key_type", "private_key", "private_key_password", "public_key", "key_size", "curve")
_ROTATION = ("next_key", "retired_keys")  # extension: keys published before and after they sign


def parse_signature(problems: Problems, raw: object, has_encryption: bool, kek: Key | None) -> Signature | None:
    if raw is None:
        if not has_encryption:
            problems.add(_PATH, "required unless encryption is set (unsigned, unencrypted tokens are never issued)")
        return None
    d = obj(problems, raw, _PATH, _COMMON + _SYMMETRIC + _ASYMMETRIC + _ROTATION)
    if d is None:
        return None
    alg = d.get("alg")
    kid = string(problems, d, f"{_PATH}.", "kid", required=False)
    if isinstance(alg, str) and alg.lower() == "none":
        problems.add(f"{_PATH}.alg", "'none' is never allowed: a signature needs a real algorithm")
        alg = None
    elif alg is None or not isinstance(alg, str):
        problems.add(f"{_PATH}.alg", "required")
        alg = None
    else:
        alg = shared(alg)
    sig_type = d.get("type")
    if sig_type == "symmetric":
        return _symmetric(problems, d, alg, kid, kek)
    if sig_type == "asymmetric":
        return _asymmetric(problems, d, alg, kid, kek)
    problems.add(f"{_PATH}.type", "must be 'symmetric' or 'asymmetric'")
    return None


def _symmetric(
    problems: Problems, d: dict[str, Any], alg: str | None, kid: str | None, kek: Key | None
) -> Signature | None:
    unused(problems, d, _PATH, _ASYMMETRIC + _ROTATION, "symmetric signatures")
    hmac_algs = jwa.signing_algs("oct")
    if alg is not None and alg not in hmac_algs:
        problems.add(f"{_PATH}.alg", f"'{alg}' is not a symmetric signing algorithm ({jwa.listed(hmac_algs)})")
        alg = None
    found = oct_key(problems, d, _PATH, kek)
    headers = parse_headers(problems, d.get("headers"), None, asymmetric=False)
    if found is None:
        return None
    key, source = found
    if alg is None:
        return None
    size = len(key.raw_value)
    need = jwa.SIGNING_BY_NAME[alg].min_key_bytes
    assert need is not None  # every oct signing alg has one
    if size < need:
        problems.add(
            f"{_PATH}.{source}",
            f"HMAC secret is {size} bytes, {alg} needs at least {need} (RFC 7518 §3.2)",
        )
        return None
    if not jwk_fits(problems, key, f"{_PATH}.{source}", alg, "sig"):
        return None
    return Signature(type="symmetric", alg=alg, key_type="oct", key=key, kid=kid, headers=headers)


def _asymmetric(
    problems: Problems, d: dict[str, Any], alg: str | None, kid: str | None, kek: Key | None
) -> Signature | None:
    unused(problems, d, _PATH, _SYMMETRIC, "asymmetric signatures")
    key_types = jwa.asymmetric_key_types(jwa.SIGNING)
    kty = key_type(problems, d, _PATH, key_types)
    if alg is not None and kty is not None and alg not in jwa.signing_algs(kty):
        known = jwa.SIGNING_BY_NAME.get(alg)
        if known is not None and known.key_type in key_types:
            problems.add(f"{_PATH}.alg", f"'{alg}' needs key_type {known.key_type}, not {kty}")
        else:
            algs = jwa.listed(jwa.signing_algs(kty))
            problems.add(f"{_PATH}.alg", f"'{alg}' is not a {kty} signing algorithm ({algs})")
        alg = None
    if d.get("private_key") is None:
        problems.add(f"{_PATH}.private_key", "required for asymmetric signatures")
        parse_headers(problems, d.get("headers"), None, asymmetric=True)
        return None
    private = _private_key(problems, d, kek)
    headers = parse_headers(problems, d.get("headers"), private, asymmetric=True)
    if private is None or kty is None:
        return None
    if private.key_type != kty:
        problems.add(f"{_PATH}.private_key", f"is an {private.key_type} key, key_type is {kty}")
        return None
    needed_curve = jwa.signing_curve(alg) if alg is not None else None
    ok = key_shape(problems, d, _PATH, "private_key", private, alg, needed_curve)
    public_ok, public = _public_half(problems, d, private)
    ok = ok and public_ok
    current = (kid or keyops.thumbprint(private), alg, private)
    next_key, retired_keys = parse_rotation(problems, d, _PATH, current, kek)
    if alg is None or not ok or not jwk_fits(problems, private, f"{_PATH}.private_key", alg, "sig"):
        return None
    return Signature(
        type="asymmetric",
        alg=alg,
        key_type=kty,
        key=private,
        kid=kid,
        key_size=d.get("key_size"),
        curve=d.get("curve"),
        public_key=public,
        next_key=next_key,
        retired_keys=retired_keys,
        headers=headers,
    )


def _private_key(problems: Problems, d: dict[str, Any], kek: Key | None) -> keyops.AsymmetricKey | None:
    """`private_key`, opened with `private_key_password` when it is an encrypted PEM (either may be sealed)."""
    material = secret(problems, d, _PATH, "private_key", kek)
    password: object = None
    if d.get("private_key_password") is not None:
        password = secret(problems, d, _PATH, "private_key_password", kek)
        if password is not FAILED and (not isinstance(password, str) or not password):
            problems.add(f"{_PATH}.private_key_password", f"must be a non-empty string, got {kind(password)}")
            password = FAILED
    if material is FAILED or password is FAILED:
        return None
    assert password is None or isinstance(password, str)
    try:
        return keyops.load_private(material, password)
    except keyops.PasswordProblem as exc:
        problems.add(f"{_PATH}.private_key_password", str(exc))
    except keyops.KeyProblem as exc:
        problems.add(f"{_PATH}.private_key", str(exc))
    return None


def _public_half(problems: Problems, d: dict[str, Any], private: Key) -> tuple[bool, Key | None]:
    """(fits, the optional `public_key`): it must be the public half of the private key."""
    if d.get("public_key") is None:
        return True, None
    try:
        public = keyops.load_public(d["public_key"])
    except keyops.KeyProblem as exc:
        problems.add(f"{_PATH}.public_key", str(exc))
        return False, None
    if not keyops.same_public_key(private, public):
        problems.add(f"{_PATH}.public_key", f"is not the public half of {_PATH}.private_key")
        return False, None
    return True, public
