"""The `encryption` section: AES key wrap, `dir` or PBES2 with an oct key, or RSA / ECDH-ES to a public key.

The recipient's public key comes from `public_key` and / or `public_jwk`, an
X.509 `certificate`, an inline `jwks`, or a `jwks_url` fetched by the worker
(chosen per request from what it has cached, see worker/core/keysets.py).
"""

from __future__ import annotations

from typing import Any

from joserfc.jwk import Key

from worker.core import algorithms as jwa
from worker.core import keysets
from worker.core.algorithms import DEFAULT_ENC
from worker.core.config.fields import Problems, got, obj, shared, string, unused
from worker.core.config.keyrules import jwk_fits, key_shape, key_type, oct_key
from worker.core.config.model import Encryption
from worker.core.config.recipients import recipient_key
from worker.core.jsonio import is_int

_PATH = "encryption"
_COMMON = ("type", "kid", "alg", "enc")
_SYMMETRIC = ("password", "jwk", "iterations", "salt_bytes")
_PBES2 = ("iterations", "salt_bytes")
_KEY_SOURCES = ("public_key", "public_jwk", "certificate", "jwks", "jwks_url")
_ASYMMETRIC = ("key_type", *_KEY_SOURCES, "jwks_refresh_seconds", "key_size", "curve")


def parse_encryption(problems: Problems, raw: object, kek: Key | None) -> Encryption | None:
    d = obj(problems, raw, _PATH, _COMMON + _SYMMETRIC + _ASYMMETRIC)
    if d is None:
        return None
    kid = string(problems, d, f"{_PATH}.", "kid", required=False)
    enc = d.get("enc") if d.get("enc") is not None else DEFAULT_ENC
    if not isinstance(enc, str) or enc not in jwa.CONTENT_ENCRYPTION_BY_NAME:
        problems.add(f"{_PATH}.enc", f"must be one of {jwa.listed(jwa.content_encs())}, got {got(enc)}")
        enc = None
    else:
        enc = shared(enc)
    alg = d.get("alg")
    if not isinstance(alg, str):
        problems.add(f"{_PATH}.alg", "required")
        alg = None
    else:
        alg = shared(alg)
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
    pbes2 = jwa.password_based(alg) if alg is not None else None
    if pbes2 is None:
        if alg is not None:
            unused(problems, d, _PATH, _PBES2, f"{alg} (only PBES2 algorithms derive a key)")
        iterations = salt_bytes = None
    else:
        low, high = pbes2.min_iterations, pbes2.max_iterations
        iterations = _bounded(problems, d, "iterations", pbes2.default_iterations, low, high, "PBKDF2 iterations")
        low, high = pbes2.min_salt_bytes, pbes2.max_salt_bytes
        salt_bytes = _bounded(problems, d, "salt_bytes", pbes2.default_salt_bytes, low, high, "salt bytes per token")
    found = oct_key(problems, d, _PATH, kek)
    if found is None or alg is None or enc is None:
        return None
    key, source = found
    size = len(key.raw_value)
    if pbes2 is not None:
        if size < pbes2.min_password_bytes:
            problems.add(f"{_PATH}.{source}", f"{alg} needs a password of at least {pbes2.min_password_bytes} bytes")
            return None
    else:
        wrap_bytes = jwa.KEY_MANAGEMENT_BY_NAME[alg].key_bytes
        # `dir` uses the key as the content-encryption key itself.
        need = wrap_bytes if wrap_bytes is not None else jwa.CONTENT_ENCRYPTION_BY_NAME[enc].key_bytes
        if size != need:
            what = f"dir with {enc}" if alg == "dir" else alg
            problems.add(f"{_PATH}.{source}", f"{what} needs a key of exactly {need} bytes, got {size}")
            return None
    if not jwk_fits(problems, key, f"{_PATH}.{source}", alg, "enc"):
        return None
    if iterations is None and pbes2 is not None:
        return None
    return Encryption(
        type="symmetric",
        alg=alg,
        enc=enc,
        key_type="oct",
        key=key,
        kid=kid,
        iterations=iterations,
        salt_bytes=salt_bytes,
    )


def _bounded(
    problems: Problems, d: dict[str, Any], name: str, default: int, low: int, high: int, what: str
) -> int | None:
    value = d.get(name)
    if value is None:
        return default
    if not is_int(value) or not low <= value <= high:
        shown = value if is_int(value) else got(value)
        problems.add(f"{_PATH}.{name}", f"must be an integer from {low} to {high} ({what}), got {shown}")
        return None
    return int(value)


def _asymmetric(
    problems: Problems, d: dict[str, Any], alg: str | None, enc: str | None, kid: str | None
) -> Encryption | None:
    unused(problems, d, _PATH, _SYMMETRIC, "asymmetric encryption")
    kty = key_type(problems, d, _PATH, jwa.asymmetric_key_types(jwa.KEY_MANAGEMENT))
    if alg is not None and kty is not None and alg not in jwa.key_management_algs(kty):
        algs = jwa.listed(jwa.key_management_algs(kty))
        problems.add(f"{_PATH}.alg", f"'{alg}' is not an {kty} key management algorithm ({algs})")
        alg = None
    sources = [name for name in _KEY_SOURCES if d.get(name) is not None]
    if "jwks_url" in sources and len(sources) == 1:
        return _remote(problems, d, alg, enc, kid, kty)
    if d.get("jwks_refresh_seconds") is not None:
        problems.add(f"{_PATH}.jwks_refresh_seconds", "only used with encryption.jwks_url")
    found = recipient_key(problems, d, sources, kid, kty, alg)
    if found is None:
        return None
    key, source, key_kid = found
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
        kid=kid or key_kid,
        key_size=d.get("key_size"),
        curve=d.get("curve"),
    )


def _remote(
    problems: Problems, d: dict[str, Any], alg: str | None, enc: str | None, kid: str | None, kty: str | None
) -> Encryption | None:
    """A `jwks_url`: checked here, fetched by the worker, its key chosen per request."""
    url = d["jwks_url"]
    problem = keysets.check_url(url)
    if problem is not None:
        problems.add(f"{_PATH}.jwks_url", problem)
        url = None
    refresh = _bounded(
        problems,
        d,
        "jwks_refresh_seconds",
        keysets.DEFAULT_REFRESH_SECONDS,
        keysets.MIN_REFRESH_SECONDS,
        keysets.MAX_REFRESH_SECONDS,
        "seconds between fetches",
    )
    if url is None or refresh is None or alg is None or enc is None or kty is None:
        return None
    return Encryption(
        type="asymmetric",
        alg=alg,
        enc=enc,
        key_type=kty,
        key=None,
        kid=kid,
        key_size=d.get("key_size"),
        curve=d.get("curve"),
        jwks_url=url,
        jwks_refresh_seconds=refresh,
    )
