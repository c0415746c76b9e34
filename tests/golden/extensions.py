"""The options beyond the node's own in the golden recording: their configs and the requests that take their paths."""

from __future__ import annotations

import datetime
from typing import Any

from tests.golden.cases import (
    CLAIMS,
    ISSUED_AT,
    ISSUER,
    Outgoing,
    as_record,
    asymmetric,
    config,
    request,
    store,
    symmetric,
)
from tests.golden.material import Material
from tests.support.pki import key_usage

MISSING_POLICIES: dict[str, Any] = {
    "issuer": "https://{{tenant.region}}.idp.example.com",
    "issuer_on_missing": "default",
    "issuer_default": ISSUER,
    "subject": "{{user.nickname}}",
    "subject_on_missing": "omit",
    "custom": [
        {"key": "email", "value": "{{user.email}}", "type": "String", "on_missing": "fail"},
        {"key": "dept", "value": "{{user.dept}}", "type": "String", "on_missing": "omit"},
        {"key": "motto", "value": "{{user.motto}} (set)", "type": "String", "on_missing": "default", "default": "-"},
        {"key": "level", "value": "{{user.level}}", "type": "Number", "on_missing": "default", "default": 2},
        {"key": "beta", "value": "{{user.beta}}", "type": "Boolean", "on_missing": "default", "default": False},
        {"key": "groups", "value": "{{user.groups}}", "type": "Array", "on_missing": "default", "default": []},
        {"key": "plan", "value": "{{user.plan}}", "type": "Object", "on_missing": "default", "default": {"tier": 0}},
    ],
}
# What MISSING_POLICIES looks for; store(n) has none of it, so phase requests take every policy.
MISSING_FOUND = {
    "nickname": "ada",
    "dept": "ops",
    "motto": "ship it",
    "level": "7",
    "beta": "TRUE",
    "groups": ["g1"],
    "plan": {"tier": 3},
}


def extension_configs(m: Material) -> list[dict[str, Any]]:
    """Phase 1, the options beyond the node's own: headers, aud, on_missing, max_token_bytes, key sources, rotation."""
    rs256 = asymmetric("RSA", "RS256", "x5c-rs", private_key=m.pem("rsa-sign"))
    return [
        # signature.headers: typ, cty and any member; x5c with its thumbprints; on a nested token.
        config(
            "headers-typ-cty",
            signature={
                **symmetric("HS256", "hdr-hs", password=m.password(32)),
                "headers": {"typ": "at+jwt", "cty": "application/example", "tenant": "t-7", "ext": {"v": [1, True]}},
            },
            store={"variable": "jwt", "attributes": ["token", "header", "kid"], "frontend": False},
        ),
        config(
            "headers-x5c",
            signature={**rs256, "headers": m.x5c_headers("rsa-sign")},
            store={"variable": "jwt", "attributes": ["token", "header"], "frontend": False},
        ),
        config(
            "headers-x5c-nested",
            signature={
                **asymmetric("EC", "ES256", "x5c-es", private_key=m.pem("ec-sign-p256")),
                "headers": {"typ": "JWT", "x5c": m.x5c_headers("ec-sign-p256")["x5c"][:1]},
            },
            encryption=symmetric("A128KW", "x5c-kw", jwk=m.oct(16)),
        ),
        # claims.aud: static, a list with a template, an array from the store; on_missing omit and default.
        config(
            "aud-string",
            signature=symmetric("HS256", "aud-1", password=m.password(32)),
            claims={**CLAIMS, "aud": "https://api.example.com"},
        ),
        config(
            "aud-list",
            signature=symmetric("HS384", "aud-2", jwk=m.oct(48)),
            claims={
                **CLAIMS,
                "aud": ["https://api.example.com", "urn:tenant:{{tenant.host}}"],
                "aud_on_missing": "omit",
            },
        ),
        config(
            "aud-from-store",
            signature=asymmetric("OKP", "Ed25519", "aud-3", private_key=m.pem("ed25519")),
            claims={
                **CLAIMS,
                "aud": "{{user.roles}}",
                "aud_on_missing": "default",
                "aud_default": ["https://fallback.example.com", "urn:any"],
            },
        ),
        # A variable the store lacks: fail (the default), omit, or a default of the claim's type.
        config(
            "missing-policies",
            signature=symmetric("HS512", "miss", password=m.password(64)),
            claims=MISSING_POLICIES,
            store={"variable": "jwt", "attributes": ["token", "claims"], "frontend": False},
        ),
        # max_token_bytes: fits without the optional blob, TOKEN_TOO_LARGE with it.
        config(
            "token-budget",
            max_token_bytes=600,
            signature=symmetric("HS256", "budget", password=m.password(32)),
            claims={
                **CLAIMS,
                "custom": [
                    *CLAIMS["custom"],
                    {"key": "blob", "value": "{{blob}}", "type": "String", "on_missing": "omit"},
                ],
            },
        ),
        # Encrypted PEM private keys: PKCS#8 and traditional, the password plain or sealed (with the key).
        config(
            "pkcs8-encrypted-rs512",
            signature=asymmetric(
                "RSA",
                "RS512",
                "enc-pem-rs",
                private_key=m.pem("rsa-sign-2-encrypted-pkcs8"),
                private_key_password=m.text("pem-password"),
            ),
        ),
        config(
            "pkcs8-encrypted-ed25519-sealed",
            signature=asymmetric(
                "OKP",
                "Ed25519",
                None,
                private_key=m.sealed(m.pem("ed25519-encrypted-pkcs8")),
                private_key_password=m.sealed(m.text("pem-password")),
            ),
        ),
        config(
            "sec1-encrypted-es384",
            signature=asymmetric(
                "EC",
                "ES384",
                "enc-pem-es",
                private_key=m.pem("ec-sign-p384-encrypted-sec1"),
                private_key_password=m.text("pem-password"),
            ),
        ),
        # PBES2: a password or an oct JWK, iterations and salt bytes set or left to their defaults.
        config(
            "pbes2-hs256",
            signature=None,
            encryption={
                **symmetric("PBES2-HS256+A128KW", "pbes2-1", password=m.text("pbes2-password")),
                "iterations": 1000,
                "salt_bytes": 8,
            },
        ),
        config(
            "pbes2-hs384",
            signature=None,
            encryption=symmetric("PBES2-HS384+A192KW", None, password=m.text("pbes2-password"), enc="A192CBC-HS384"),
            store={"variable": "jwt", "attributes": ["token", "header", "alg", "enc"], "frontend": False},
        ),
        config(
            "pbes2-hs512-nested",
            signature=asymmetric("RSA", "RS256", "pbes2-rs", private_key=m.pem("rsa-sign")),
            encryption={
                **symmetric("PBES2-HS512+A256KW", "pbes2-3", jwk=m.oct(32), enc="A256GCM"),
                "iterations": 2000,
                "salt_bytes": 64,
            },
        ),
        # The recipient's key from a certificate (valid for a century), also given as public_key.
        config(
            "certificate-rsa",
            signature=None,
            encryption=asymmetric(
                "RSA", "RSA-OAEP-256", "cert-rsa", certificate=m.certificate("rsa-enc", key_usage(encipherment=True))
            ),
        ),
        config(
            "certificate-as-public-key",
            signature=None,
            encryption=asymmetric(
                "RSA",
                "RSA-OAEP",
                None,
                public_key=m.certificate("rsa-enc", key_usage(encipherment=True)),
                enc="A128GCM",
            ),
        ),
        config(
            "certificate-ec-nested",
            signature=asymmetric("OKP", "Ed25519", "cert-ed", private_key=m.pem("ed25519")),
            encryption=asymmetric(
                "EC", "ECDH-ES+A128KW", "cert-ec", certificate=m.certificate("ec-enc-p384", key_usage(agreement=True))
            ),
        ),
        # An inline JWK Set: the first key that fits, or the one the kid names.
        config(
            "jwks-inline",
            signature=None,
            encryption=asymmetric(
                "EC",
                "ECDH-ES",
                None,
                jwks={
                    "keys": [
                        m.public_jwk_of("rsa-enc", kid="set-rsa"),
                        m.public_jwk_of("ec-enc-p256", kid="set-ec-sig", use="sig"),
                        m.public_jwk_of("ec-enc-p521", kid="set-ec", use="enc"),
                    ]
                },
            ),
        ),
        config(
            "jwks-inline-kid",
            signature=symmetric("HS256", "jwks-hs", password=m.password(32)),
            encryption=asymmetric(
                "RSA",
                "RSA-OAEP",
                "set-rsa",
                jwks={
                    "keys": [m.public_jwk_of("ec-enc-p384", kid="set-ec"), m.public_jwk_of("rsa-enc", kid="set-rsa")]
                },
            ),
        ),
        # Rotation: a next key (private, or public only) and retired keys; tokens are signed with the current key.
        config(
            "rotation-rs256",
            signature={
                **asymmetric("RSA", "RS256", "rot-1", private_key=m.pem("rsa-sign")),
                "next_key": {"kid": "rot-2", "private_key": m.pem("rsa-sign-2"), "announced_at": ISSUED_AT - 600},
                "retired_keys": [
                    {"kid": "rot-0", "public_key": m.public_pem("rsa-sign-3"), "retired_at": ISSUED_AT - 86400}
                ],
            },
            store={"variable": "jwt", "attributes": ["token", "kid", "public_jwk"], "frontend": False},
        ),
        config(
            "rotation-es256",
            signature={
                **asymmetric("EC", "ES256", None, private_key=m.pem("ec-sign-p256")),
                "next_key": {"public_key": m.public_jwk_of("ec-sign-p256-2")},
                "retired_keys": [
                    {"alg": "ES256", "public_key": m.public_pem("ec-sign-p256-3"), "retired_at": ISSUED_AT}
                ],
            },
        ),
        # Configs that break a rule of an extension: CONFIG_INVALID on use.
        config(
            "invalid-header-alg",
            signature={**symmetric("HS256", "bad-hdr", password=m.password(32)), "headers": {"alg": "none"}},
        ),
        config(
            "expired-certificate",
            signature=None,
            encryption=asymmetric(
                "RSA",
                "RSA-OAEP",
                None,
                certificate=m.certificate(
                    "rsa-enc", key_usage(encipherment=True), datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
                ),
            ),
        ),
    ]


# Compiled, but never asked for in the phase requests: they fail on use, each once per failure phase.
NOT_PHASE_REQUESTED = ("weak-hmac", "big-claims", "invalid-header-alg", "expired-certificate")


def rotated(c: dict[str, Any], m: Material) -> dict[str, Any]:
    """rotation-rs256 switched to its next key (`jwtgen keys rotate`, step 2): version 2 signs with rot-2."""
    signature = {
        **asymmetric("RSA", "RS256", "rot-2", private_key=m.pem("rsa-sign-2")),
        "retired_keys": [
            {"kid": "rot-1", "public_key": m.public_pem("rsa-sign"), "retired_at": ISSUED_AT + 3600},
            *c["signature"]["retired_keys"],
        ],
    }
    return {**c, "version": 2, "signature": signature}


def extension_requests(phase: int) -> list[Outgoing]:
    """The paths of the extensions that the phase requests do not take: variables found or missing, over budget."""
    p = f"p{phase}"
    user = store(9)["user"]
    found = {
        **store(8),
        "user": {**store(8)["user"], **MISSING_FOUND},
        "tenant": {"host": "t2.example.com", "region": "eu"},
    }
    no_roles = {k: v for k, v in user.items() if k != "roles"}
    return [
        as_record(request(f"missing-found-{p}", "missing-policies", 8, store=found)),
        as_record(request(f"missing-fails-{p}", "missing-policies", 9, store={"user": {"id": "u-9"}})),
        as_record(request(f"aud-omitted-{p}", "aud-list", 9, store={"user": user})),
        as_record(request(f"aud-default-{p}", "aud-from-store", 9, store={"user": no_roles})),
        as_record(request(f"aud-empty-{p}", "aud-from-store", 9, store={"user": {**user, "roles": []}})),
        as_record(request(f"over-budget-{p}", "token-budget", 9, store={**store(9), "blob": "z" * 400})),
        as_record(request(f"fits-budget-{p}", "token-budget", 9, store={**store(9), "blob": "z" * 40})),
        as_record(request(f"invalid-header-{p}", "invalid-header-alg", 1)),
        as_record(request(f"expired-certificate-{p}", "expired-certificate", 1)),
    ]
