"""Where an asymmetric `encryption` finds its recipient's public key.

`public_key` (PEM, or a PEM certificate) and / or `public_jwk`, an X.509
`certificate`, or an inline `jwks` (a `jwks_url` is fetched by the worker and
chosen per request, see worker/core/keysets.py).
"""

from __future__ import annotations

import datetime
from typing import Any

from joserfc.jwk import Key

from worker.core import algorithms as jwa
from worker.core import certs, keysets
from worker.core import keys as keyops
from worker.core.config.fields import Problems

PATH = "encryption"


def recipient_key(
    problems: Problems, d: dict[str, Any], sources: list[str], kid: str | None, kty: str | None, alg: str | None
) -> tuple[Key, str, str | None] | None:
    """(the public key, the field it came from, the kid a key set gives it).

    `public_key` and `public_jwk` may both be given (the same key); every other source stands alone.
    """
    if not sources:
        problems.add(
            f"{PATH}.public_key", "required for asymmetric encryption (or public_jwk, certificate, jwks, jwks_url)"
        )
        return None
    alone = [name for name in sources if name not in ("public_key", "public_jwk")]
    if alone and len(sources) > 1:
        others = jwa.either(name for name in sources if name != alone[0])
        problems.add(f"{PATH}.{alone[0]}", f"give one key source, not also {others}")
        return None
    if alone == ["certificate"]:
        return _certificate(problems, d["certificate"], "certificate")
    if alone == ["jwks"]:
        return _inline_jwks(problems, d["jwks"], kid, kty, alg)
    if alone:  # jwks_url alongside another source
        return None
    return _public_key(problems, d, sources)


def _public_key(problems: Problems, d: dict[str, Any], given: list[str]) -> tuple[Key, str, str | None] | None:
    """`public_key` (PEM, or a PEM certificate checked like `certificate`) and / or `public_jwk`."""
    loaded: list[Key] = []
    for name in given:
        if name == "public_key" and certs.is_pem_certificate(d[name]):
            found = _certificate(problems, d[name], name)
            if found is not None:
                loaded.append(found[0])
            continue
        try:
            if name == "public_jwk":
                loaded.append(keyops.load_public(keyops.parse_jwk(d[name])))
            else:
                loaded.append(keyops.load_public(d[name]))
        except keyops.KeyProblem as exc:
            problems.add(f"{PATH}.{name}", str(exc))
    if len(loaded) != len(given):
        return None
    if len(loaded) == 2 and not keyops.same_public_key(loaded[0], loaded[1]):
        problems.add(f"{PATH}.public_jwk", f"is not the same key as {PATH}.public_key")
        return None
    return loaded[0], given[0], None


def _certificate(problems: Problems, value: object, field: str) -> tuple[Key, str, str | None] | None:
    """The subject public key of a PEM certificate that is valid now and may carry a content key."""
    path = f"{PATH}.{field}"
    try:
        cert = certs.from_pem(value)
    except keyops.KeyProblem as exc:
        problems.add(path, str(exc))
        return None
    if cert.expired(datetime.datetime.now(datetime.UTC)):
        problems.add(path, f"certificate expired on {cert.not_after()}")
        return None
    if not cert.allows_key_transport():
        problems.add(path, "certificate's key usage allows neither key encipherment (RSA) nor key agreement (EC)")
        return None
    return cert.public_key, field, None


def _inline_jwks(
    problems: Problems, value: object, kid: str | None, kty: str | None, alg: str | None
) -> tuple[Key, str, str | None] | None:
    path = f"{PATH}.jwks"
    try:
        entries = keysets.parse_jwks(value)
        if kty is None or alg is None:
            return None
        key, key_kid = keysets.select(entries, keysets.Wanted(kty, alg, kid))
    except keyops.KeyProblem as exc:
        problems.add(path, str(exc))
        return None
    return key, "jwks", key_kid
