"""The `encryption` section: AES key wrap / `dir` with an oct key, or RSA / ECDH-ES to a public key."""

from __future__ import annotations

from typing import Any

from joserfc.jwk import Key

from worker.core import algorithms as jwa
from worker.core import keys as keyops
from worker.core.algorithms import DEFAULT_ENC
from worker.core.config.fields import Problems, got, obj, string, unused
from worker.core.config.keyrules import jwk_fits, key_shape, key_type, oct_key
from worker.core.config.model import Encryption

_PATH = "encryption"
_COMMON = ("type", "kid", "alg", "enc")
_SYMMETRIC = ("password", "jwk")
_ASYMMETRIC = ("key_type", "public_key", "public_jwk", "key_size", "curve")


def parse_encryption(problems: Problems, raw: object, kek: Key | None) -> Encryption | None:
    d = obj(problems, raw, _PATH, _COMMON + _SYMMETRIC + _ASYMMETRIC)
    if d is None:
        return None
    kid = string(problems, d, f"{_PATH}.", "kid", required=False)
    enc = d.get("enc") if d.get("enc") is not None else DEFAULT_ENC
    if not isinstance(enc, str) or enc not in jwa.CONTENT_ENCRYPTION_BY_NAME:
        problems.add(f"{_PATH}.enc", f"must be one of {jwa.listed(jwa.content_encs())}, got {got(enc)}")
        enc = None
    alg = d.get("alg")
    if not isinstance(alg, str):
        problems.add(f"{_PATH}.alg", "required")
        alg = None
    enc_type = d.get("type")
    if enc_type == "symmetric":
        return _symmetric(problems, d, alg, enc, kid, kek)
    if enc_type == "asymmetric":
        return _asymmetric(problems, d, alg, enc, kid)
    problems.add(f"{_PATH}.type", "must be 'symmetric' or 'asymmetric'")
    return None


def _symmetric(
    problems: Problems, d: dict[str, Any], alg: str | None, enc: str | None, kid: str | None, kek: Key | None
) -> Encryption | None:
    unused(problems, d, _PATH, _ASYMMETRIC, "symmetric encryption")
    oct_algs = jwa.key_management_algs("oct")
    if alg is not None and alg not in oct_algs:
        problems.add(f"{_PATH}.alg", f"'{alg}' is not a symmetric key management algorithm ({jwa.listed(oct_algs)})")
        alg = None
    found = oct_key(problems, d, _PATH, kek)
    if found is None or alg is None or enc is None:
        return None
    key, source = found
    size = len(key.raw_value)
    wrap_bytes = jwa.KEY_MANAGEMENT_BY_NAME[alg].key_bytes
    # `dir` uses the key as the content-encryption key itself.
    need = wrap_bytes if wrap_bytes is not None else jwa.CONTENT_ENCRYPTION_BY_NAME[enc].key_bytes
    if size != need:
        what = f"dir with {enc}" if alg == "dir" else alg
        problems.add(f"{_PATH}.{source}", f"{what} needs a key of exactly {need} bytes, got {size}")
        return None
    if not jwk_fits(problems, key, f"{_PATH}.{source}", alg, "enc"):
        return None
    return Encryption(type="symmetric", alg=alg, enc=enc, key_type="oct", key=key, kid=kid)


def _asymmetric(
    problems: Problems, d: dict[str, Any], alg: str | None, enc: str | None, kid: str | None
) -> Encryption | None:
    unused(problems, d, _PATH, _SYMMETRIC, "asymmetric encryption")
    kty = key_type(problems, d, _PATH, jwa.asymmetric_key_types(jwa.KEY_MANAGEMENT))
    if alg is not None and kty is not None and alg not in jwa.key_management_algs(kty):
        algs = jwa.listed(jwa.key_management_algs(kty))
        problems.add(f"{_PATH}.alg", f"'{alg}' is not an {kty} key management algorithm ({algs})")
        alg = None
    found = _recipient_key(problems, d)
    if found is None:
        return None
    key, source = found
    if kty is None:
        return None
    if key.key_type != kty:
        problems.add(f"{_PATH}.{source}", f"is an {key.key_type} key, key_type is {kty}")
        return None
    if not key_shape(problems, d, _PATH, source, key, alg, None):
        return None
    if alg is None or enc is None or not jwk_fits(problems, key, f"{_PATH}.{source}", alg, "enc"):
        return None
    return Encryption(
        type="asymmetric",
        alg=alg,
        enc=enc,
        key_type=kty,
        key=key,
        kid=kid,
        key_size=d.get("key_size"),
        curve=d.get("curve"),
    )


def _recipient_key(problems: Problems, d: dict[str, Any]) -> tuple[Key, str] | None:
    """The public key from `public_key` and / or `public_jwk` (the same key when both), with its field."""
    given = [name for name in ("public_key", "public_jwk") if d.get(name) is not None]
    if not given:
        problems.add(f"{_PATH}.public_key", "required for asymmetric encryption (or public_jwk)")
        return None
    loaded: list[Key] = []
    for name in given:
        try:
            if name == "public_jwk":
                loaded.append(keyops.load_public(keyops.parse_jwk(d[name])))
            else:
                loaded.append(keyops.load_public(d[name]))
        except keyops.KeyProblem as exc:
            problems.add(f"{_PATH}.{name}", str(exc))
    if len(loaded) != len(given):
        return None
    if len(loaded) == 2 and not keyops.same_public_key(loaded[0], loaded[1]):
        problems.add(f"{_PATH}.public_jwk", f"is not the same key as {_PATH}.public_key")
        return None
    return loaded[0], given[0]
