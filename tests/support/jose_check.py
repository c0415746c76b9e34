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


# Members that would make a published JWK a secret (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def assert_public_key_set(key_set: dict[str, Any]) -> list[dict[str, Any]]:
    """`key_set` is an RFC 7517 set of public signing keys: kid, alg, use "sig", nothing private or symmetric."""
    assert set(key_set) == {"keys"}, key_set.keys()
    keys: list[dict[str, Any]] = key_set["keys"]
    for key in keys:
        assert not PRIVATE_MEMBERS & set(key), f"private members published: {PRIVATE_MEMBERS & set(key)}"
        assert key["kty"] in {"RSA", "EC", "OKP"}, key["kty"]
        assert key["use"] == "sig" and "key_ops" not in key
        assert isinstance(key["kid"], str) and key["kid"] and isinstance(key["alg"], str)
    jwk.JWKSet.from_json(json.dumps(key_set))  # and jwcrypto reads it
    return keys


def verify_by_kid(token: str, key_set: dict[str, Any] | jwk.JWKSet) -> tuple[str, dict[str, Any]]:
    """(kid, claims) of a JWS verified with the key its header's kid picks from `key_set` (jwcrypto)."""
    keys = key_set if isinstance(key_set, jwk.JWKSet) else jwk.JWKSet.from_json(json.dumps(key_set))
    obj = jws.JWS()
    obj.deserialize(token)
    header = obj.jose_header
    key = keys.get_key(header["kid"])
    assert key is not None, f"no key with kid {header['kid']!r} in the set"
    obj.allowed_algs = [key.get("alg")]
    obj.verify(key, alg=key.get("alg"))
    claims: dict[str, Any] = json.loads(obj.payload)
    return header["kid"], claims
