"""Sealed secrets: `{"sealed": "<JWE compact>"}` opened with the worker's key-encryption key."""

from __future__ import annotations

from typing import Any

import orjson
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, Key, OctKey, OKPKey, RSAKey, import_key

_ENCS = ["A128GCM", "A192GCM", "A256GCM", "A128CBC-HS256", "A192CBC-HS384", "A256CBC-HS512"]
_ECDH = ["ECDH-ES", "ECDH-ES+A128KW", "ECDH-ES+A192KW", "ECDH-ES+A256KW"]
# Algorithms a kek of each type may have been used with (explicit: joserfc
# otherwise only accepts its "recommended" set). RSA1_5 is deliberately absent.
_ALGS_BY_KTY: dict[str, list[str]] = {
    "RSA": ["RSA-OAEP", "RSA-OAEP-256"],
    "EC": _ECDH,
    "OKP": _ECDH,
    "oct": ["A128KW", "A192KW", "A256KW", "A128GCMKW", "A192GCMKW", "A256GCMKW", "dir"],
}


def import_kek(text: str | None) -> Key | None:
    """The workers' key-encryption key from its JWK text (JWTGEN_KEK), or None when unset."""
    if not text:
        return None
    return import_key(orjson.loads(text))


class SealedError(ValueError):
    """A sealed value that cannot be opened; the text names the field, never the secret."""


def is_sealed(value: object) -> bool:
    return isinstance(value, dict) and set(value) == {"sealed"}


def open_sealed(value: object, kek: Key | None, field: str) -> str:
    """The plaintext secret inside `{"sealed": jwe}`, decrypted with `kek`."""
    if not isinstance(value, dict) or not isinstance(value.get("sealed"), str) or set(value) != {"sealed"}:
        raise SealedError(f'{field}: sealed secret must be {{"sealed": "<JWE compact>"}}')
    if kek is None:
        raise SealedError(f"{field}: sealed secret cannot be opened: no JWTGEN_KEK configured")
    algorithms = _ALGS_BY_KTY.get(kek.key_type, []) + _ENCS
    try:
        obj = jwe.decrypt_compact(value["sealed"], kek, algorithms=algorithms)
    except (JoseError, ValueError, TypeError):
        raise SealedError(f"{field}: sealed secret cannot be opened with the configured JWTGEN_KEK") from None
    try:
        return (obj.plaintext or b"").decode("utf-8")
    except UnicodeDecodeError:
        raise SealedError(f"{field}: sealed secret is not UTF-8 text") from None


def seal(secret: str, kek_public: Key) -> dict[str, Any]:
    """`{"sealed": jwe}` of `secret` for `kek_public` (RSA-OAEP-256, ECDH-ES+A256KW or A256KW; A256GCM)."""
    if isinstance(kek_public, RSAKey):
        alg = "RSA-OAEP-256"
    elif isinstance(kek_public, (ECKey, OKPKey)):
        alg = "ECDH-ES+A256KW"
    elif isinstance(kek_public, OctKey):
        alg = "A256KW"
    else:  # pragma: no cover - joserfc has no other key types
        raise ValueError("unsupported key-encryption key type")
    header = {"alg": alg, "enc": "A256GCM"}
    if kek_public.kid:
        header["kid"] = kek_public.kid
    token = jwe.encrypt_compact(header, secret.encode("utf-8"), kek_public, algorithms=[alg, "A256GCM"])
    return {"sealed": token}
