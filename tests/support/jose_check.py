"""Token checks with jwcrypto, the independent JOSE implementation the tests trust."""

from __future__ import annotations

import json
from typing import Any

from jwcrypto import jwe, jwk, jws


def verify(token: str, key: jwk.JWK, alg: str, kid: str) -> dict[str, Any]:
    """The claims of a JWS compact token signed with `alg` by `key`, header exactly {alg, typ: JWT, kid}."""
    obj = jws.JWS()
    obj.allowed_algs = [alg]
    obj.deserialize(token)
    obj.verify(key, alg=alg)
    assert obj.jose_header == {"alg": alg, "typ": "JWT", "kid": kid}
    claims: dict[str, Any] = json.loads(obj.payload)
    return claims


def decrypt(token: str, key: jwk.JWK, alg: str, enc: str = "A256GCM") -> tuple[dict[str, Any], bytes]:
    """(header, plaintext) of a JWE compact token, allowing only `alg` and `enc`."""
    obj = jwe.JWE()
    obj.allowed_algs = [alg, enc]
    obj.deserialize(token, key=key)
    return dict(obj.jose_header), bytes(obj.plaintext)
