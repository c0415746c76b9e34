"""Sealed secrets: `{"sealed": "<JWE compact>"}` opened with the worker's key-encryption key."""

from __future__ import annotations

from typing import Any

import orjson
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import Key, import_key

from worker.core import algorithms as jwa


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
    # Explicit: joserfc otherwise only accepts its "recommended" set.
    algorithms = [*jwa.kek_algs(kek.key_type), *jwa.content_encs()]
    try:
        obj = jwe.decrypt_compact(value["sealed"], kek, algorithms=algorithms)
    except (JoseError, ValueError, TypeError):
        raise SealedError(f"{field}: sealed secret cannot be opened with the configured JWTGEN_KEK") from None
    try:
        return (obj.plaintext or b"").decode("utf-8")
    except UnicodeDecodeError:
        raise SealedError(f"{field}: sealed secret is not UTF-8 text") from None


def seal(secret: str, kek_public: Key) -> dict[str, Any]:
    """`{"sealed": jwe}` of `secret` for `kek_public`, with the alg its key type seals with and the default enc."""
    alg = jwa.SEAL_ALG_BY_KEY_TYPE.get(kek_public.key_type)
    if alg is None:  # pragma: no cover - joserfc has no other key types
        raise ValueError("unsupported key-encryption key type")
    header = {"alg": alg, "enc": jwa.DEFAULT_ENC}
    if kek_public.kid:
        header["kid"] = kek_public.kid
    token = jwe.encrypt_compact(header, secret.encode("utf-8"), kek_public, algorithms=[alg, jwa.DEFAULT_ENC])
    return {"sealed": token}
