"""The node's own options in the golden recording: phase-1 configs, and the requests of every phase."""

from __future__ import annotations

import json
from typing import Any

import orjson

from tests.golden.material import Material

ISSUER = "https://idp.example.com"
CLAIMS: dict[str, Any] = {
    "issuer": ISSUER,
    "subject": "{{user.id}}",
    "custom": [{"key": "email", "value": "{{user.email}}", "type": "String"}],
}
STORE_ATTRS = {"variable": "jwt", "attributes": ["token", "kid", "exp"], "frontend": False}
ISSUED_AT = 1764355200


# ----------------------------------------------------------------------------- configs


def config(config_id: str, version: int = 1, **fields: Any) -> dict[str, Any]:
    value: dict[str, Any] = {"id": config_id, "version": version, "ttl": 600, "claims": CLAIMS, "store": STORE_ATTRS}
    value.update(fields)
    return value


def symmetric(alg: str, kid: str | None = None, **key: Any) -> dict[str, Any]:
    out = {"type": "symmetric", "alg": alg, **key}
    return {**out, "kid": kid} if kid else out


def asymmetric(key_type: str, alg: str, kid: str | None = None, **key: Any) -> dict[str, Any]:
    out = {"type": "asymmetric", "key_type": key_type, "alg": alg, **key}
    return {**out, "kid": kid} if kid else out


def configs(m: Material) -> list[dict[str, Any]]:
    """Phase 1: every signature, key form, JWE mode, nested token, claim type and store attribute."""
    out = [
        # Signatures, deterministic: HS*, RS*, Ed25519.
        config("hs256-password", signature=symmetric("HS256", "hs-1", password=m.password(32))),
        config("hs384-jwk", signature=symmetric("HS384", "hs-2", jwk=m.oct(48))),
        config("hs512-sealed", signature=symmetric("HS512", None, password=m.sealed(m.password(64)))),
        config("hs256-sealed-jwk", signature=symmetric("HS256", "hs-3", jwk=m.sealed(json.dumps(m.oct(32))))),
        config(
            "rs256-pkcs8",
            signature=asymmetric(
                "RSA", "RS256", "rs-1", private_key=m.pem("rsa-sign"), public_key=m.public_pem("rsa-sign")
            ),
        ),
        config("rs384-pkcs1", signature=asymmetric("RSA", "RS384", None, private_key=m.traditional("rsa-sign"))),
        config("rs512-jwk", signature=asymmetric("RSA", "RS512", "rs-3", private_key=m.jwk("rsa-sign"), key_size=2048)),
        config("ed25519-pkcs8", signature=asymmetric("OKP", "Ed25519", "ed-1", private_key=m.pem("ed25519"))),
        config("eddsa-jwk", signature=asymmetric("OKP", "EdDSA", None, private_key=m.jwk("ed25519"))),
        # Signatures, randomized: PS*, ES*.
        config("ps256-pkcs8", signature=asymmetric("RSA", "PS256", "ps-1", private_key=m.pem("rsa-sign"))),
        config("ps384-jwk", signature=asymmetric("RSA", "PS384", None, private_key=m.jwk("rsa-sign"))),
        config(
            "ps512-sealed",
            signature=asymmetric("RSA", "PS512", "ps-3", private_key=m.sealed(m.pem("rsa-sign"))),
        ),
        config(
            "es256-sec1",
            signature=asymmetric("EC", "ES256", "es-1", private_key=m.traditional("ec-sign-p256"), curve="P-256"),
        ),
        config("es384-pkcs8", signature=asymmetric("EC", "ES384", None, private_key=m.pem("ec-sign-p384"))),
        config(
            "es512-jwk",
            signature=asymmetric(
                "EC", "ES512", "es-3", private_key=m.jwk("ec-sign-p521"), public_key=m.jwk("ec-sign-p521", False)
            ),
        ),
        # Encryption only: every key-management mode, each `enc`.
        config("a128kw", signature=None, encryption=symmetric("A128KW", "kw-1", password=m.keys["password-32"][:16])),
        config("a192kw", signature=None, encryption=symmetric("A192KW", None, jwk=m.oct(24), enc="A192GCM")),
        config("a256kw", signature=None, encryption=symmetric("A256KW", "kw-3", jwk=m.oct(32), enc="A128GCM")),
        config(
            "a128gcmkw", signature=None, encryption=symmetric("A128GCMKW", "gk-1", jwk=m.oct(16), enc="A128CBC-HS256")
        ),
        config(
            "a192gcmkw", signature=None, encryption=symmetric("A192GCMKW", "gk-2", jwk=m.oct(24), enc="A192CBC-HS384")
        ),
        config(
            "a256gcmkw",
            signature=None,
            encryption=symmetric("A256GCMKW", "gk-3", jwk=m.sealed(json.dumps(m.oct(32))), enc="A256CBC-HS512"),
        ),
        config("dir-a256gcm", signature=None, encryption=symmetric("dir", "dir-1", jwk=m.oct(32))),
        config("dir-cbc", signature=None, encryption=symmetric("dir", "dir-2", jwk=m.oct(64), enc="A256CBC-HS512")),
        config(
            "rsa-oaep",
            signature=None,
            encryption=asymmetric("RSA", "RSA-OAEP", "ro-1", public_key=m.public_pem("rsa-enc")),
        ),
        config(
            "rsa-oaep-256",
            signature=None,
            encryption=asymmetric("RSA", "RSA-OAEP-256", None, public_jwk=m.jwk("rsa-enc", False), enc="A128GCM"),
        ),
        config(
            "ecdh-es",
            signature=None,
            encryption=asymmetric("EC", "ECDH-ES", "ecdh-1", public_key=m.public_pem("ec-enc-p256"), curve="P-256"),
        ),
        config(
            "ecdh-es-a128kw",
            signature=None,
            encryption=asymmetric("EC", "ECDH-ES+A128KW", "ecdh-2", public_jwk=m.jwk("ec-enc-p384", False)),
        ),
        config(
            "ecdh-es-a192kw",
            signature=None,
            encryption=asymmetric("EC", "ECDH-ES+A192KW", None, public_key=m.public_pem("ec-enc-p521"), enc="A192GCM"),
        ),
        config(
            "ecdh-es-a256kw",
            signature=None,
            encryption=asymmetric("EC", "ECDH-ES+A256KW", "ecdh-4", public_key=m.public_pem("ec-enc-p256")),
        ),
        # Nested: signed, then encrypted.
        config(
            "nested-hs256-a256kw",
            signature=symmetric("HS256", "n-hs", password=m.password(32)),
            encryption=symmetric("A256KW", "n-kw", jwk=m.oct(32)),
            store={"variable": "jwt", "attributes": ["token", "header", "alg", "enc", "kid"], "frontend": True},
        ),
        config(
            "nested-rs256-rsa-oaep-256",
            signature=asymmetric("RSA", "RS256", "n-rs", private_key=m.pem("rsa-sign")),
            encryption=asymmetric("RSA", "RSA-OAEP-256", "n-ro", public_key=m.public_pem("rsa-enc")),
        ),
        config(
            "nested-es256-ecdh",
            signature=asymmetric("EC", "ES256", "n-es", private_key=m.pem("ec-sign-p256")),
            encryption=asymmetric("EC", "ECDH-ES+A256KW", "n-ecdh", public_key=m.public_pem("ec-enc-p256")),
        ),
        config(
            "nested-ed25519-dir",
            signature=asymmetric("OKP", "Ed25519", "n-ed", private_key=m.pem("ed25519")),
            encryption=symmetric("dir", "n-dir", jwk=m.oct(32), enc="A256GCM"),
        ),
        config(
            "nested-ps256-gcmkw",
            signature=asymmetric("RSA", "PS256", "n-ps", private_key=m.pem("rsa-sign")),
            encryption=symmetric("A128GCMKW", "n-gk", jwk=m.oct(16)),
            store={"variable": "jwt", "attributes": ["token", "header", "claims"], "frontend": False},
        ),
        # Claims of every type, nbf and jti, and every store attribute.
        config(
            "claims-all-types",
            signature=asymmetric("RSA", "RS256", "claims-rs", private_key=m.pem("rsa-sign")),
            claims={
                "iat": True,
                "iss": True,
                "sub": True,
                "exp": True,
                "nbf": True,
                "jti": True,
                "issuer": "https://{{tenant.host}}/idp",
                "subject": "{{user.id}}",
                "custom": [
                    {"key": "email", "value": "{{user.email}}", "type": "String"},
                    {"key": "greeting", "value": "Hello {{user.name}}, {{user.roles}}", "type": "String"},
                    {"key": "age_text", "value": "{{user.age}}", "type": "String"},
                    {"key": "age", "value": "{{user.age}}", "type": "Number"},
                    {"key": "score", "value": "{{user.score_text}}", "type": "Number"},
                    {"key": "level", "value": "2", "type": "Number"},
                    {"key": "admin", "value": "{{user.admin}}", "type": "Boolean"},
                    {"key": "verified", "value": "{{user.verified_text}}", "type": "Boolean"},
                    {"key": "static_flag", "value": True, "type": "Boolean"},
                    {"key": "roles", "value": "{{user.roles}}", "type": "Array"},
                    {"key": "first_role", "value": "{{user.roles.0}}", "type": "String"},
                    {"key": "groups", "value": "{{user.groups_json}}", "type": "Array"},
                    {"key": "static_list", "value": ["a", 1, None], "type": "Array"},
                    {"key": "address", "value": "{{user.address}}", "type": "Object"},
                    {"key": "city", "value": "{{user.address.city}}", "type": "String"},
                    {"key": "prefs", "value": "{{user.prefs_json}}", "type": "Object"},
                    {"key": "static_obj", "value": {"plan": "gold", "seats": 3}, "type": "Object"},
                    {"key": "big", "value": "{{user.big}}", "type": "Number"},
                ],
            },
            store={
                "variable": "session",
                "attributes": ["token", "header", "claims", "kid", "alg", "enc", "iat", "exp", "jti", "public_jwk"],
                "frontend": True,
            },
        ),
        config(
            "minimal-claims",
            ttl=60,
            signature=symmetric("HS256", "min", password=m.password(32)),
            claims={"iat": False, "iss": False, "sub": False, "exp": False, "custom": []},
            store=None,
        ),
        config(
            "jwe-store-all",
            signature=None,
            encryption=asymmetric("EC", "ECDH-ES", "store-ecdh", public_key=m.public_pem("ec-enc-p384")),
            claims={**CLAIMS, "jti": True},
            store={
                "variable": "jwt",
                "attributes": ["token", "header", "claims", "kid", "alg", "enc", "iat", "exp", "jti"],
            },
        ),
        config(
            "big-claims",
            signature=symmetric("HS256", "big", password=m.password(32)),
            store={"variable": "jwt", "attributes": ["token", "claims"], "frontend": False},
            claims={**CLAIMS, "custom": [{"key": "blob", "value": "{{blob}}", "type": "String"}]},
        ),
        # Configs that break a rule: CONFIG_INVALID on use.
        config("weak-hmac", signature=symmetric("HS256", "weak", password="short")),
        config("to-delete", signature=symmetric("HS384", "del", password=m.password(48))),
    ]
    return out


# ----------------------------------------------------------------------------- requests


def store(n: int) -> dict[str, Any]:
    return {
        "user": {
            "id": f"u-{n}",
            "email": f"user{n}@example.com",
            "name": f"User {n}",
            "roles": ["admin", "ops"] if n % 2 else ["viewer"],
            "age": 20 + n,
            "score_text": f"{n}.5",
            "admin": n % 2 == 0,
            "verified_text": "TRUE" if n % 3 else "false",
            "groups_json": json.dumps([f"g{n}", "all"]),
            "address": {"city": f"City {n}", "zip": f"{10000 + n}"},
            "prefs_json": json.dumps({"theme": "dark", "n": n}),
            "big": 2**70 + n,
        },
        "tenant": {"host": f"t{n % 3}.example.com"},
    }


def request(execution_id: str, config_id: str, n: int, **fields: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "execution_id": execution_id,
        "flow": {"id": "checkout", "type": "Authentication", "run_id": f"r-{n}"},
        "node": {"id": "jwt-1"},
        "config": {"id": config_id},
        "store": store(n),
    }
    value.update(fields)
    return value


Outgoing = tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]] | None]


def as_record(value: dict[str, Any], headers: list[tuple[str, bytes | None]] | None = None) -> Outgoing:
    # The standard library: orjson cannot write the integers beyond 64 bits of the flow store.
    return value["execution_id"].encode(), json.dumps(value, separators=(",", ":")).encode(), headers


def phase_requests(config_ids: list[str], phase: int) -> list[Outgoing]:
    """Per config: two with issued_at, two taking iat from the record timestamp, one with headers."""
    out: list[Outgoing] = []
    for config_id in config_ids:
        for n in range(4):
            fields = {"issued_at": ISSUED_AT + 60 * n} if n < 2 else {}
            out.append(as_record(request(f"{config_id}-p{phase}-{n}", config_id, n, **fields)))
        headers: list[tuple[str, bytes | None]] = [
            ("traceparent", f"00-{phase:032x}-{len(out):016x}-01".encode()),
            ("tenant", b"acme"),
        ]
        out.append(as_record(request(f"{config_id}-p{phase}-h", config_id, 7), headers))
    return out


def failure_requests(phase: int) -> list[Outgoing]:
    """Every failure code a request can reach, and the dead letters."""
    p = f"p{phase}"
    out = []
    if phase == 1:  # once: the recording holds the whole request
        # An answer over the size limit (JWTGEN_MAX_ANSWER_BYTES, 1 000 000): ANSWER_TOO_LARGE.
        out.append(as_record(request("too-big", "big-claims", 1, store={**store(1), "blob": "x" * 450_000})))
    out += [
        as_record(request(f"malformed-flow-{p}", "hs256-password", 1, flow="checkout")),
        as_record(
            request(f"malformed-version-{p}", "hs256-password", 1, config={"id": "hs256-password", "version": "2"})
        ),
        as_record(request(f"malformed-store-{p}", "hs256-password", 1, store=[1, 2])),
        as_record(request(f"malformed-issued-at-{p}", "hs256-password", 1, issued_at=-5)),
        as_record(request(f"flow-type-{p}", "hs256-password", 1, flow={"id": "x", "type": "Bogus", "run_id": "r"})),
        as_record(request(f"not-found-{p}", "no-such-config", 1)),
        as_record(request(f"invalid-{p}", "weak-hmac", 1)),
        as_record(request(f"invalid-json-{p}", "not-json-config", 1)),
        as_record(request(f"var-missing-{p}", "hs256-password", 1, store={"user": {"id": "u-1"}})),
        as_record(request(f"var-null-{p}", "hs256-password", 1, store={"user": {"id": "u-1", "email": None}})),
        # A value that does not convert to its claim's type: one per type.
        *(
            as_record(
                request(
                    f"type-{kind}-{p}",
                    "claims-all-types",
                    i,
                    store={**store(i), "user": {**store(i)["user"], variable: value}},
                )
            )
            for i, (kind, variable, value) in enumerate(
                [
                    ("number", "age", "old"),
                    ("bool", "admin", "yes"),
                    ("array", "groups_json", "{}"),
                    ("object", "prefs_json", "[1]"),
                ],
                start=1,
            )
        ),
        as_record(request(f"fits-{p}", "big-claims", 2, store={**store(2), "blob": "y" * 1000})),
        # No key: answered under its execution id.
        (None, as_record(request(f"no-key-{p}", "hs384-jwk", 5, issued_at=ISSUED_AT))[1], None),
        # Headers of every kind are copied onto the answer.
        as_record(
            request(f"headers-{p}", "es256-sec1", 6),
            [
                ("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
                ("bin", b"\xff\x00\xfe"),
                ("empty", b""),
                ("none", None),
                ("dup", b"1"),
                ("dup", b"2"),
            ],
        ),
        # Dead letters: no usable execution id.
        (f"dl-not-json-{p}".encode(), b"{not json", None),
        (f"dl-array-{p}".encode(), b"[1, 2, 3]", None),
        (f"dl-no-id-{p}".encode(), orjson.dumps({"flow": {"type": "API"}, "config": {"id": "x"}}), None),
        (f"dl-tombstone-{p}".encode(), None, None),
        (None, b"\xff\xfe binary \x00 payload", [("source", b"\x80\x81")]),
        (b"\xc3\x28-bad-utf8-key-" + p.encode(), b'{"execution_id": ""}', None),
    ]
    return out
