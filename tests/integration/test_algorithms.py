"""Every algorithm and key-management combination through Kafka, checked by jwcrypto.

One module-scoped worker. The `run` fixture publishes one config per case
and sends every request in bulk; each parametrized test then asserts on its own
answer: the token is verified (and decrypted) by jwcrypto, an independent JOSE
implementation, with the keys this module holds, never with joserfc.
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from jwcrypto import jwk, jws

from tests.support.configs import IAT, STORE, base_config, request_for
from tests.support.jose_check import decrypt, verify
from tests.support.kafkaio import KafkaIO, check_answer
from tests.support.keys import (
    ENC_BYTES,
    ENCS,
    HMAC_BYTES,
    WRAP_BYTES,
    KeyForms,
    b64url,
    oct_jwk,
    pem_body_lines,
    secret_text,
)

pytestmark = pytest.mark.integration

TTL = 600
ISSUER = "https://idp.example.com"
EXPECTED_CLAIMS: dict[str, Any] = {
    "iat": IAT,
    "iss": ISSUER,
    "sub": "u-42",
    "exp": IAT + TTL,
    "email": "ada@example.com",
    "roles": ["admin", "ops"],
}
CLAIMS_CONFIG: dict[str, Any] = {
    "issuer": ISSUER,
    "subject": "{{user.id}}",
    "custom": [
        {"key": "email", "value": "{{user.email}}", "type": "String"},
        {"key": "roles", "value": "{{user.roles}}", "type": "Array"},
    ],
}

RSA_SIGNING = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]
EC_SIGNING = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
EC_CURVES = ["P-256", "P-384", "P-521"]
ECDH = ["ECDH-ES", "ECDH-ES+A128KW", "ECDH-ES+A192KW", "ECDH-ES+A256KW"]
ALL_ATTRIBUTES = ["token", "header", "claims", "kid", "alg", "enc", "iat", "exp", "jti", "public_jwk"]


@pytest.fixture(scope="module")
def keys(
    rsa2048: KeyForms, rsa2048_other: KeyForms, rsa1024: KeyForms, ec_keys: dict[str, KeyForms], ed25519_key: KeyForms
) -> dict[str, KeyForms]:
    """The session's keys by the names the cases use."""
    return {"RSA": rsa2048, "RSA-other": rsa2048_other, "RSA-1024": rsa1024, **ec_keys, "Ed25519": ed25519_key}


# ----------------------------------------------------------------------------- cases


@dataclass
class Case:
    id: str
    config: dict[str, Any]
    store: dict[str, Any] = field(default_factory=lambda: STORE)
    sig_alg: str | None = None
    sig_kid: str | None = None
    verify_key: jwk.JWK | None = None
    enc_alg: str | None = None
    enc: str | None = None
    enc_kid: str | None = None
    decrypt_key: jwk.JWK | None = None
    public_thumbprint: str | None = None  # of an asymmetric signing key
    secrets: list[str] = field(default_factory=list)  # material that must never show in an answer
    extra_requests: int = 0  # redeliveries / sibling requests sent besides the main one
    execution_id: str = field(default_factory=lambda: str(uuid.uuid4()))


def make_config(
    case_id: str,
    signature: dict[str, Any] | None,
    encryption: dict[str, Any] | None = None,
    *,
    claims: dict[str, Any] | None = None,
    store: dict[str, Any] | None = None,
    ttl: int | None = TTL,
) -> dict[str, Any]:
    """The case's config; `ttl` or `store` None leaves that field out."""
    config = base_config(
        id=case_id,
        version=1,
        ttl=ttl,
        claims=CLAIMS_CONFIG if claims is None else claims,
        signature=signature,
        encryption=encryption,
        store=store,
    )
    return {name: value for name, value in config.items() if name not in ("ttl", "store") or value is not None}


def key_pair_for(alg: str) -> str:
    if alg in EC_SIGNING:
        return EC_SIGNING[alg]
    if alg in ("Ed25519", "EdDSA"):
        return "Ed25519"
    return "RSA"


def key_type_of(alg: str) -> str:
    if alg in EC_SIGNING or alg.startswith("ECDH"):
        return "EC"
    if alg in ("Ed25519", "EdDSA"):
        return "OKP"
    return "RSA"


@dataclass(frozen=True)
class SignSpec:
    alg: str
    form: str  # password | jwk | jwkstr | pkcs8 | pkcs1 | sec1
    pub: str = "none"  # none | pem | pkcs1pem | jwk | jwkstr
    kid: bool = True

    @property
    def id(self) -> str:
        pub = "" if self.alg in HMAC_BYTES else f"-pub_{self.pub}"
        return f"{self.alg}-{self.form}{pub}-{'kid' if self.kid else 'thumbprint'}"


def _sign_specs() -> list[SignSpec]:
    specs: list[SignSpec] = []
    for i, (alg, form) in enumerate(itertools.product(HMAC_BYTES, ("password", "jwk", "jwkstr"))):
        specs.append(SignSpec(alg, form, kid=i % 2 == 0))
    groups = [
        (RSA_SIGNING, ("pkcs8", "pkcs1", "jwk", "jwkstr")),
        (list(EC_SIGNING), ("pkcs8", "sec1", "jwk", "jwkstr")),
        (["Ed25519"], ("pkcs8", "jwk", "jwkstr")),
    ]
    for algs, forms in groups:
        for i, (alg, form, pub) in enumerate(itertools.product(algs, forms, ("none", "pem", "jwk"))):
            specs.append(SignSpec(alg, form, pub, kid=i % 2 == 0))
    specs += [
        SignSpec("RS256", "pkcs8", "pkcs1pem", kid=True),
        SignSpec("PS512", "jwk", "jwkstr", kid=False),
        SignSpec("ES384", "sec1", "jwkstr", kid=True),
        SignSpec("EdDSA", "pkcs8", "pem", kid=False),  # the RFC 8037 spelling, accepted as an alias
    ]
    return specs


SIGN_SPECS = _sign_specs()


def signing_part(spec: SignSpec, keys: dict[str, KeyForms]) -> tuple[dict[str, Any], jwk.JWK, str, list[str]]:
    """(signature config, jwcrypto verification key, expected kid, secrets)."""
    kid = f"kid-{spec.id}"
    if spec.alg in HMAC_BYTES:
        raw = secret_text(HMAC_BYTES[spec.alg] + 8).encode()
        key = oct_jwk(raw)
        sig: dict[str, Any] = {"type": "symmetric", "alg": spec.alg}
        if spec.form == "password":
            sig["password"] = raw.decode()
            leaked = [raw.decode()]
        else:
            as_jwk = {"kty": "oct", "k": b64url(raw)}
            sig["jwk"] = as_jwk if spec.form == "jwk" else json.dumps(as_jwk)
            leaked = [raw.decode(), b64url(raw)]
        if spec.kid:
            sig["kid"] = kid
        return sig, key, kid if spec.kid else str(key.thumbprint()), leaked
    forms = keys[key_pair_for(spec.alg)]
    sig = {
        "type": "asymmetric",
        "key_type": key_type_of(spec.alg),
        "alg": spec.alg,
        "private_key": forms.private_form(spec.form),
    }
    if spec.pub != "none":
        sig["public_key"] = forms.public_form(spec.pub)
    if spec.kid:
        sig["kid"] = kid
    return sig, forms.public, kid if spec.kid else forms.thumbprint(), [forms.jwk["d"]]


def signing_case(
    spec: SignSpec,
    keys: dict[str, KeyForms],
    *,
    case_id: str | None = None,
    claims: dict[str, Any] | None = None,
    store: dict[str, Any] | None = None,
) -> Case:
    """A signed-only case; the store cases give their own id, claims and store."""
    sig, verify_key, kid, leaked = signing_part(spec, keys)
    asymmetric = spec.alg not in HMAC_BYTES
    if store is None:
        store = {"variable": "jwt", "attributes": ["token", "kid", "alg"] + (["public_jwk"] if asymmetric else [])}
    case_id = case_id or spec.id
    return Case(
        case_id,
        make_config(case_id, sig, claims=claims, store=store),
        sig_alg=spec.alg,
        sig_kid=kid,
        verify_key=verify_key,
        public_thumbprint=keys[key_pair_for(spec.alg)].thumbprint() if asymmetric else None,
        secrets=leaked,
    )


@dataclass(frozen=True)
class EncSpec:
    alg: str
    source: str  # password | jwk | public_key:<form> | public_jwk:<form>
    enc: str | None  # None: the default (A256GCM)
    curve: str | None = None
    kid: bool = True

    @property
    def id(self) -> str:
        parts = [self.alg, self.curve or "", self.source.replace(":", "_"), self.enc or "default_enc"]
        return "-".join(p for p in parts if p) + ("-kid" if self.kid else "-thumbprint")


def _enc_specs() -> list[EncSpec]:
    specs: list[EncSpec] = []
    rotation = itertools.cycle(ENCS)
    toggle = itertools.cycle([True, False, False])
    for alg in [*WRAP_BYTES, "dir"]:
        for source in ("password", "jwk"):
            specs.append(EncSpec(alg, source, next(rotation), kid=next(toggle)))
    specs += [EncSpec("A256KW", "password", None), EncSpec("dir", "jwk", None, kid=False)]
    for alg in ("RSA-OAEP", "RSA-OAEP-256"):
        for source in ("public_key:pem", "public_jwk:jwk"):
            specs.append(EncSpec(alg, source, next(rotation), kid=next(toggle)))
    specs += [EncSpec("RSA-OAEP", "public_key:pkcs1pem", None), EncSpec("RSA-OAEP-256", "public_jwk:jwkstr", None)]
    for alg, curve in itertools.product(ECDH, EC_CURVES):
        source = "public_jwk:jwk" if len(specs) % 2 else "public_key:pem"
        specs.append(EncSpec(alg, source, next(rotation), curve, kid=next(toggle)))
    return specs


ENC_SPECS = _enc_specs()


def encryption_part(
    alg: str, source: str, enc: str | None, curve: str | None, kid: str | None, keys: dict[str, KeyForms]
) -> tuple[dict[str, Any], jwk.JWK, str, list[str]]:
    """(encryption config, jwcrypto decryption key, expected kid, secrets)."""
    config: dict[str, Any] = {"alg": alg}
    if enc is not None:
        config["enc"] = enc
    if kid is not None:
        config["kid"] = kid
    if alg in WRAP_BYTES or alg == "dir":
        size = ENC_BYTES[enc or "A256GCM"] if alg == "dir" else WRAP_BYTES[alg]
        raw = secret_text(size).encode()
        key = oct_jwk(raw)
        config["type"] = "symmetric"
        if source == "password":
            config["password"] = raw.decode()
        else:
            config["jwk"] = {"kty": "oct", "k": b64url(raw)}
        return config, key, kid or str(key.thumbprint()), [raw.decode(), b64url(raw)]
    forms = keys[curve or "RSA"]
    field_name, form = source.split(":")
    config.update(type="asymmetric", key_type=key_type_of(alg))
    config[field_name] = forms.public_form(form)
    return config, forms.private, kid or forms.thumbprint(), [forms.jwk["d"]]


def encryption_case(
    spec: EncSpec, keys: dict[str, KeyForms], *, case_id: str | None = None, store: dict[str, Any] | None = None
) -> Case:
    """An encrypted-only case; the store cases give their own id and store."""
    kid = f"kid-{spec.id}" if spec.kid else None
    encryption, key, expected_kid, leaked = encryption_part(spec.alg, spec.source, spec.enc, spec.curve, kid, keys)
    case_id = case_id or spec.id
    store = store or {"variable": "jwt", "attributes": ["token", "enc"]}
    return Case(
        case_id,
        make_config(case_id, None, encryption, store=store),
        enc_alg=spec.alg,
        enc=spec.enc or "A256GCM",
        enc_kid=expected_kid,
        decrypt_key=key,
        secrets=leaked,
    )


# (signing spec, encryption alg, enc, curve of an EC recipient)
NESTED_SPECS = [
    (SignSpec("HS256", "password"), "A256KW", None, None),
    (SignSpec("RS256", "pkcs8", kid=False), "RSA-OAEP-256", "A128CBC-HS256", None),
    (SignSpec("ES256", "sec1"), "ECDH-ES+A128KW", "A128GCM", "P-256"),
    (SignSpec("PS384", "jwk"), "dir", "A256CBC-HS512", None),
    (SignSpec("Ed25519", "pkcs8"), "ECDH-ES", "A192GCM", "P-384"),
    (SignSpec("ES512", "jwkstr", kid=False), "RSA-OAEP", "A192CBC-HS384", None),
    (SignSpec("HS512", "jwk", kid=False), "A128GCMKW", "A256GCM", None),
]


def nested_id(spec: tuple[SignSpec, str, str | None, str | None]) -> str:
    sign, alg, enc, curve = spec
    return f"{sign.alg}+{alg}" + (f"-{curve}" if curve else "") + f"-{enc or 'default_enc'}"


def nested_case(
    spec: tuple[SignSpec, str, str | None, str | None],
    keys: dict[str, KeyForms],
    *,
    case_id: str | None = None,
    store: dict[str, Any] | None = None,
) -> Case:
    """A signed-then-encrypted case; the store cases give their own id and store."""
    sign, alg, enc, curve = spec
    case_id = case_id or nested_id(spec)
    sig, verify_key, sig_kid, leaked = signing_part(sign, keys)
    source = "password" if alg in WRAP_BYTES or alg == "dir" else "public_jwk:jwk"
    encryption, key, enc_kid, leaked2 = encryption_part(alg, source, enc, curve, f"enc-{case_id}", keys)
    store = store or {"variable": "jwt", "attributes": ["token", "header", "alg", "enc", "kid"]}
    asymmetric = sign.alg not in HMAC_BYTES
    return Case(
        case_id,
        make_config(case_id, sig, encryption, store=store),
        sig_alg=sign.alg,
        sig_kid=sig_kid,
        verify_key=verify_key,
        enc_alg=alg,
        enc=enc or "A256GCM",
        enc_kid=enc_kid,
        decrypt_key=key,
        public_thumbprint=keys[key_pair_for(sign.alg)].thumbprint() if asymmetric else None,
        secrets=leaked + leaked2,
    )


# -- claims through Kafka --------------------------------------------------------

CLAIMS_STORE: dict[str, Any] = {
    "tenant": {"id": "t-7"},
    "user": {
        "id": "u-42",
        "name": "Ada",
        "email": "ada@example.com",
        "roles": ["admin", "ops"],
        "address": {"city": "Lyon", "zip": "69001", "geo": {"lat": 45.76, "lon": 4.83}},
        "orgs": [{"name": "acme", "teams": [{"name": "red"}, {"name": "blue"}]}],
        "age": 37,
        "score": 9.5,
        "verified": "TRUE",
        "active": False,
        "tags_json": '["a","b"]',
        "prefs_json": '{"lang":"fr","dark":true}',
    },
}
CUSTOM_CLAIMS: list[tuple[str, Any, str, Any]] = [
    # key, value, type, expected claim
    ("city", "{{user.address.city}}", "String", "Lyon"),
    ("first_role", "{{user.roles.0}}", "String", "admin"),
    ("second_role", "{{ user.roles.1 }}", "String", "ops"),
    ("team", "{{user.orgs.0.teams.1.name}}", "String", "blue"),
    ("lat", "{{user.address.geo.lat}}", "Number", 45.76),
    ("age", "{{user.age}}", "Number", 37),
    ("zip", "{{user.address.zip}}", "Number", 69001),
    ("score", "{{user.score}}", "Number", 9.5),
    ("verified", "{{user.verified}}", "Boolean", True),
    ("active", "{{user.active}}", "Boolean", False),
    ("roles", "{{user.roles}}", "Array", ["admin", "ops"]),
    ("tags", "{{user.tags_json}}", "Array", ["a", "b"]),
    ("address", "{{user.address}}", "Object", {"city": "Lyon", "zip": "69001", "geo": {"lat": 45.76, "lon": 4.83}}),
    ("prefs", "{{user.prefs_json}}", "Object", {"lang": "fr", "dark": True}),
    ("org", "{{user.orgs.0}}", "Object", {"name": "acme", "teams": [{"name": "red"}, {"name": "blue"}]}),
    ("age_text", "{{user.age}}", "String", "37"),
    ("active_text", "{{user.active}}", "String", "false"),
    ("roles_text", "{{user.roles}}", "String", '["admin","ops"]'),
    ("geo_text", "{{user.address.geo}}", "String", '{"lat":45.76,"lon":4.83}'),
    ("greeting", "Hello {{user.name}} from {{user.address.city}}!", "String", "Hello Ada from Lyon!"),
    (
        "mixed",
        "roles={{user.roles}};geo={{user.address.geo}};age={{user.age}};active={{user.active}}",
        "String",
        'roles=["admin","ops"];geo={"lat":45.76,"lon":4.83};age=37;active=false',
    ),
    ("mixed_number", "{{user.age}}0", "Number", 370),
    ("mixed_boolean", "{{user.verified}}", "Boolean", True),
    ("mixed_array", '["{{user.roles.0}}",{{user.age}}]', "Array", ["admin", 37]),
    ("mixed_object", '{"who":"{{user.id}}","n":{{user.age}}}', "Object", {"who": "u-42", "n": 37}),
    ("level", "2", "Number", 2),
    ("flag", "false", "Boolean", False),
    ("static_number", 7, "Number", 7),
    ("static_boolean", True, "Boolean", True),
    ("static_array", ["x", 1, {"{{user.id}}": "{{user.id}}"}], "Array", ["x", 1, {"{{user.id}}": "{{user.id}}"}]),
    ("static_object", {"a": {"b": [1, 2]}}, "Object", {"a": {"b": [1, 2]}}),
    ("static_string", "plain text", "String", "plain text"),
]
HS_CLAIMS_SECRET = secret_text(48)


def claims_case(case_id: str, claims: dict[str, Any], *, ttl: int | None = TTL) -> Case:
    sig = {"type": "symmetric", "alg": "HS256", "kid": "hs-claims", "password": HS_CLAIMS_SECRET}
    store = {"variable": "jwt", "attributes": ["token", "claims", "jti"]}
    config = make_config(case_id, sig, claims=claims, ttl=ttl, store=store)
    return Case(
        case_id,
        config,
        store=CLAIMS_STORE,
        sig_alg="HS256",
        sig_kid="hs-claims",
        verify_key=oct_jwk(HS_CLAIMS_SECRET.encode()),
        secrets=[HS_CLAIMS_SECRET],
    )


def claim_cases() -> list[Case]:
    custom = [{"key": k, "value": v, "type": t} for k, v, t, _ in CUSTOM_CLAIMS]
    all_flags = {
        "iat": True,
        "iss": True,
        "sub": True,
        "exp": True,
        "nbf": True,
        "jti": True,
        "issuer": "https://idp.example.com/tenants/{{tenant.id}}",
        "subject": "{{user.id}}",
        "custom": custom,
    }
    cases = [
        claims_case("claims-all", all_flags),
        claims_case("claims-defaults", {"issuer": ISSUER, "subject": "user:{{user.id}}"}),
        claims_case("claims-ttl", {"issuer": ISSUER, "subject": "{{user.id}}"}, ttl=7),
        claims_case(
            "claims-excluded",
            {"iat": False, "iss": False, "sub": False, "exp": False, "custom": [custom[0]]},
        ),
        claims_case("claims-no-exp", {"exp": False, "iss": False, "subject": "{{user.id}}", "nbf": True}, ttl=None),
    ]
    cases[0].extra_requests = 2  # a redelivery of the same execution id, and another execution
    return cases


# -- store attributes ------------------------------------------------------------


def store_cases(keys: dict[str, KeyForms]) -> list[Case]:
    attributes_but_public_jwk = [a for a in ALL_ATTRIBUTES if a != "public_jwk"]
    out = [
        # signed only, asymmetric: every attribute, frontend on, jti on
        signing_case(
            SignSpec("RS256", "pkcs8", kid=True),
            keys,
            case_id="store-signed-all",
            claims={**CLAIMS_CONFIG, "jti": True},
            store={"variable": "token_out", "attributes": ALL_ATTRIBUTES, "frontend": True},
        ),
        # nested: every attribute, frontend off, jti off
        nested_case(
            (SignSpec("ES256", "pkcs8", kid=False), "A256KW", "A128GCM", None),
            keys,
            case_id="store-nested-all",
            store={"variable": "nested_out", "attributes": list(reversed(ALL_ATTRIBUTES)), "frontend": False},
        ),
        # encrypted only: everything but public_jwk, frontend absent (false)
        encryption_case(
            EncSpec("ECDH-ES", "public_jwk:jwk", None, "P-521", kid=False),
            keys,
            case_id="store-encrypted-all",
            store={"variable": "enc_out", "attributes": attributes_but_public_jwk},
        ),
    ]
    # one attribute only; and no store at all
    sig, verify_key, kid, leaked = signing_part(SignSpec("HS384", "password"), keys)
    config = make_config("store-one", sig, store={"variable": "x", "attributes": ["exp"], "frontend": True})
    out.append(Case("store-one", config, sig_alg="HS384", sig_kid=kid, verify_key=verify_key, secrets=leaked))
    config = make_config("store-none", sig)
    out.append(Case("store-none", config, sig_alg="HS384", sig_kid=kid, verify_key=verify_key, secrets=leaked))
    return out


STORE_IDS = ["store-signed-all", "store-nested-all", "store-encrypted-all", "store-one", "store-none"]


# -- config-time rules -------------------------------------------------------------

# case id -> (the field the CONFIG_INVALID message must name, a word of the rule it breaks)
INVALID_FIELDS = {
    "hmac-password-too-short": ("signature.password", "64"),
    "hmac-jwk-too-short": ("signature.jwk", "48"),
    "rsa-1024-signing": ("signature.private_key", "2048"),
    "rsa-1024-encryption": ("encryption.public_key", "2048"),
    "curve-mismatch": ("signature.private_key", "P-256"),
    "declared-curve-mismatch": ("signature.curve", "P-384"),
    "declared-key-size-mismatch": ("signature.key_size", "4096"),
    "key-type-mismatch": ("signature.private_key", "EC"),
    "encryption-key-type-mismatch": ("encryption.public_jwk", "RSA"),
    "key-wrap-length": ("encryption.password", "32"),
    "dir-length": ("encryption.jwk", "32"),
    "not-a-pair": ("signature.public_key", "public"),
    "alg-none": ("signature.alg", "none"),
    "alg-NONE": ("signature.alg", "none"),
    "unknown-attribute": ("store.attributes", "refresh_token"),
    "public_jwk-without-asymmetric-key": ("store.attributes", "public_jwk"),
    "unknown-enc": ("encryption.enc", "A512GCM"),
}


def invalid_cases(keys: dict[str, KeyForms]) -> list[Case]:
    rsa_, other, weak = keys["RSA"], keys["RSA-other"], keys["RSA-1024"]
    p256, p384 = keys["P-256"], keys["P-384"]
    short = secret_text(40)
    hs = {"type": "symmetric", "alg": "HS256", "password": secret_text(32)}
    hs_short_k = b64url(secrets.token_bytes(32))
    aes128_k = b64url(secrets.token_bytes(16))  # dir with A128CBC-HS256 needs 32 bytes

    def rsa_sig(forms: KeyForms, **extra: Any) -> dict[str, Any]:
        return {"type": "asymmetric", "key_type": "RSA", "alg": "RS256", "private_key": forms.pkcs8, **extra}

    def ec_sig(alg: str, forms: KeyForms, **extra: Any) -> dict[str, Any]:
        return {"type": "asymmetric", "key_type": "EC", "alg": alg, "private_key": forms.traditional, **extra}

    parts: dict[str, tuple[dict[str, Any] | None, dict[str, Any] | None, dict[str, Any] | None, list[str]]] = {
        "hmac-password-too-short": ({"type": "symmetric", "alg": "HS512", "password": short}, None, None, [short]),
        "hmac-jwk-too-short": (
            {"type": "symmetric", "alg": "HS384", "jwk": {"kty": "oct", "k": hs_short_k}},
            None,
            None,
            [hs_short_k],
        ),
        "rsa-1024-signing": (rsa_sig(weak), None, None, [weak.jwk["d"]]),
        "rsa-1024-encryption": (
            hs,
            {"type": "asymmetric", "key_type": "RSA", "alg": "RSA-OAEP", "public_key": weak.public_pem},
            None,
            [hs["password"]],
        ),
        "curve-mismatch": (ec_sig("ES256", p384), None, None, [p384.jwk["d"]]),
        "declared-curve-mismatch": (ec_sig("ES256", p256, curve="P-384"), None, None, [p256.jwk["d"]]),
        "declared-key-size-mismatch": (rsa_sig(rsa_, key_size=4096), None, None, [rsa_.jwk["d"]]),
        "key-type-mismatch": (
            {"type": "asymmetric", "key_type": "RSA", "alg": "RS256", "private_key": p256.pkcs8},
            None,
            None,
            [p256.jwk["d"]],
        ),
        "encryption-key-type-mismatch": (
            hs,
            {"type": "asymmetric", "key_type": "EC", "alg": "ECDH-ES", "public_jwk": rsa_.public_jwk},
            None,
            [hs["password"]],
        ),
        "key-wrap-length": (
            hs,
            {"type": "symmetric", "alg": "A256KW", "password": secret_text(16)},
            None,
            [hs["password"]],
        ),
        "dir-length": (
            hs,
            {"type": "symmetric", "alg": "dir", "enc": "A128CBC-HS256", "jwk": {"kty": "oct", "k": aes128_k}},
            None,
            [hs["password"], aes128_k],
        ),
        "not-a-pair": (rsa_sig(rsa_, public_key=other.public_pem), None, None, [rsa_.jwk["d"]]),
        "alg-none": ({"type": "symmetric", "alg": "none", "password": secret_text(40)}, None, None, []),
        "alg-NONE": (
            {"type": "asymmetric", "key_type": "RSA", "alg": "NONE", "private_key": rsa_.pkcs8},
            None,
            None,
            [rsa_.jwk["d"]],
        ),
        "unknown-attribute": (hs, None, {"variable": "jwt", "attributes": ["token", "refresh_token"]}, []),
        "public_jwk-without-asymmetric-key": (hs, None, {"variable": "jwt", "attributes": ["public_jwk"]}, []),
        "unknown-enc": (
            None,
            {"type": "symmetric", "alg": "A128KW", "enc": "A512GCM", "password": secret_text(16)},
            None,
            [],
        ),
    }
    out = []
    for case_id, (sig, encryption, store, leaked) in parts.items():
        for section in (sig, encryption):
            for name in ("password",):
                if section and isinstance(section.get(name), str):
                    leaked.append(section[name])
            if section and isinstance(section.get("private_key"), str):
                leaked += pem_body_lines(section["private_key"])
        out.append(Case(case_id, make_config(case_id, sig, encryption, store=store), secrets=leaked))
    return out


# ----------------------------------------------------------------------------- running


def case_request(case: Case, execution_id: str | None = None) -> dict[str, Any]:
    """The case's request: its own execution id unless another is given."""
    config = case.config
    return request_for(config["id"], 1, store=case.store, execution_id=execution_id or case.execution_id)


@dataclass
class Run:
    cases: dict[str, Case]
    answers: dict[str, tuple[str, dict[str, Any]]]  # case id -> (kind, body)
    requests: dict[str, list[dict[str, Any]]]  # case id -> extra requests sent


@pytest.fixture(scope="module")
def run(io: KafkaIO, keys: dict[str, KeyForms]) -> Iterator[Run]:
    """Publish every config, send every request in bulk, collect every answer."""
    cases = [signing_case(s, keys) for s in SIGN_SPECS]
    cases += [encryption_case(s, keys) for s in ENC_SPECS]
    cases += [nested_case(s, keys) for s in NESTED_SPECS]
    cases += claim_cases()
    cases += store_cases(keys)
    cases += invalid_cases(keys)
    by_id = {c.id: c for c in cases}
    assert len(by_id) == len(cases), "duplicate case ids"
    io.put_configs([c.config for c in cases])
    requests = [case_request(c) for c in cases]
    extras: dict[str, list[dict[str, Any]]] = {}
    for case in cases:
        if case.extra_requests:
            extras[case.id] = [case_request(case), case_request(case, str(uuid.uuid4()))]
            requests += extras[case.id]
    io.send_requests(requests)
    answers = io.wait_for([c.execution_id for c in cases], timeout=60)
    yield Run(by_id, {c.id: answers[c.execution_id] for c in cases}, extras)


def success(run: Run, schemas: dict[str, Any], case_id: str) -> tuple[Case, dict[str, Any]]:
    case = run.cases[case_id]
    kind, body = run.answers[case_id]
    assert kind == "true", body
    check_answer(schemas, kind, body)
    assert body["outcome"] == "True"
    assert body["execution_id"] == case.execution_id
    assert body["config"] == {"id": case_id, "version": 1}
    text = orjson.dumps(body).decode()
    for leaked in case.secrets:
        assert leaked not in text
    return case, body


def token_info(alg: str | None, enc: str | None, kid: str | None) -> dict[str, Any]:
    """docs/contract.md §4: token_info of a case without jti."""
    return {"alg": alg, "enc": enc, "kid": kid, "iat": IAT, "exp": IAT + TTL}


def b64json(segment: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return decoded


def verify_jws(case: Case, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of a JWS verified by jwcrypto with the case's own key."""
    assert case.sig_alg is not None and case.verify_key is not None
    assert token.count(".") == 2, "not a JWS compact serialization"
    assert case.sig_kid is not None
    claims = verify(token, case.verify_key, case.sig_alg, case.sig_kid)  # header exactly {alg, typ, kid}
    return {"alg": case.sig_alg, "typ": "JWT", "kid": case.sig_kid}, claims


def decrypt_jwe(case: Case, token: str) -> tuple[dict[str, Any], bytes]:
    """(protected header, plaintext) of a JWE decrypted by jwcrypto with the case's own key."""
    assert case.enc_alg is not None and case.enc is not None and case.decrypt_key is not None
    assert token.count(".") == 4, "not a JWE compact serialization"
    _, plaintext = decrypt(token, case.decrypt_key, case.enc_alg, case.enc)
    header = b64json(token.split(".")[0])
    assert header["alg"] == case.enc_alg
    assert header["enc"] == case.enc
    assert header["kid"] == case.enc_kid
    return header, plaintext


def open_token(case: Case, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(outermost header, claims) of a signed, encrypted or nested token; asserts its shape."""
    if case.enc_alg is None:
        return verify_jws(case, token)
    header, plaintext = decrypt_jwe(case, token)
    if case.sig_alg is None:
        assert header["typ"] == "JWT" and "cty" not in header
        claims: dict[str, Any] = json.loads(plaintext)
        return header, claims
    assert header["cty"] == "JWT"
    _, claims = verify_jws(case, plaintext.decode("ascii"))
    return header, claims


# ----------------------------------------------------------------------------- signing


@pytest.mark.parametrize("case_id", [s.id for s in SIGN_SPECS])
def test_signed_token_verified_by_jwcrypto(run: Run, schemas: dict[str, Any], case_id: str) -> None:
    case, body = success(run, schemas, case_id)
    assert body["token_info"] == token_info(case.sig_alg, None, case.sig_kid)
    [delta] = body["store_delta"]
    values = delta["values"]
    _, claims = verify_jws(case, values["token"])
    assert claims == EXPECTED_CLAIMS
    assert values["kid"] == case.sig_kid and values["alg"] == case.sig_alg
    if case.public_thumbprint is not None:
        public = values["public_jwk"]
        assert public["kid"] == case.sig_kid
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(public), "public_jwk carries private members"
        assert jwk.JWK(**public).thumbprint() == case.public_thumbprint
        # the published public JWK verifies the token too
        obj = jws.JWS()
        obj.deserialize(values["token"])
        obj.verify(jwk.JWK(**public), alg=case.sig_alg)


def test_signing_matrix_covers_kid_and_thumbprint_for_every_key_type(run: Run) -> None:
    """Sanity of the matrix itself: a kid-less config exists for every key type (thumbprint checked per case)."""
    absent = [s for s in SIGN_SPECS if not s.kid]
    assert {key_type_of(s.alg) if s.alg not in HMAC_BYTES else "oct" for s in absent} == {"oct", "RSA", "EC", "OKP"}
    for spec in absent:
        case = run.cases[spec.id]
        assert "kid" not in case.config["signature"]
        assert run.answers[spec.id][1]["token_info"]["kid"] == case.sig_kid


# ----------------------------------------------------------------------------- encryption


def test_encryption_matrix_covers_every_enc_and_alg() -> None:
    assert {s.enc for s in ENC_SPECS} >= set(ENCS) | {None}
    assert {s.alg for s in ENC_SPECS} == {*WRAP_BYTES, "dir", "RSA-OAEP", "RSA-OAEP-256", *ECDH}
    assert {(s.alg, s.curve) for s in ENC_SPECS if s.curve} == set(itertools.product(ECDH, EC_CURVES))


@pytest.mark.parametrize("case_id", [s.id for s in ENC_SPECS])
def test_encrypted_token_decrypted_by_jwcrypto(run: Run, schemas: dict[str, Any], case_id: str) -> None:
    case, body = success(run, schemas, case_id)
    assert body["token_info"] == token_info(case.enc_alg, case.enc, case.enc_kid)
    [delta] = body["store_delta"]
    assert delta["values"]["enc"] == case.enc
    header, claims = open_token(case, delta["values"]["token"])
    assert claims == EXPECTED_CLAIMS
    assert header["typ"] == "JWT"
    if case.enc_alg.startswith("ECDH-ES"):
        spec = next(s for s in ENC_SPECS if s.id == case_id)
        assert header["epk"]["kty"] == "EC" and header["epk"]["crv"] == spec.curve
        assert "d" not in header["epk"]


@pytest.mark.parametrize("case_id", [nested_id(s) for s in NESTED_SPECS])
def test_nested_token_decrypted_then_verified_by_jwcrypto(run: Run, schemas: dict[str, Any], case_id: str) -> None:
    case, body = success(run, schemas, case_id)
    # token_info names the signing alg / kid and the content encryption of the outer JWE
    assert body["token_info"] == token_info(case.sig_alg, case.enc, case.sig_kid)
    values = body["store_delta"][0]["values"]
    header, claims = open_token(case, values["token"])
    assert claims == EXPECTED_CLAIMS
    assert header["cty"] == "JWT"
    assert values["header"] == header
    assert (values["alg"], values["enc"], values["kid"]) == (case.sig_alg, case.enc, case.sig_kid)


# ----------------------------------------------------------------------------- claims


def claims_of(run: Run, schemas: dict[str, Any], case_id: str) -> tuple[Case, dict[str, Any], dict[str, Any]]:
    case, body = success(run, schemas, case_id)
    [delta] = body["store_delta"]
    _, claims = verify_jws(case, delta["values"]["token"])
    assert delta["values"]["claims"] == claims
    return case, body, claims


def test_all_claim_kinds_through_kafka(run: Run, schemas: dict[str, Any]) -> None:
    _, body, claims = claims_of(run, schemas, "claims-all")
    expected = {k: v for k, _, _, v in CUSTOM_CLAIMS}
    assert {k: claims[k] for k in expected} == expected
    assert claims["iss"] == "https://idp.example.com/tenants/t-7"
    assert claims["sub"] == "u-42"
    assert claims["iat"] == IAT and claims["nbf"] == IAT and claims["exp"] == IAT + TTL
    assert isinstance(claims["jti"], str) and claims["jti"]
    assert set(claims) == {"iat", "iss", "sub", "exp", "nbf", "jti", *expected}
    assert body["token_info"]["jti"] == claims["jti"]
    assert body["store_delta"][0]["values"]["claims"] == claims


def test_jti_same_for_a_redelivery_different_for_another_execution(run: Run, io: KafkaIO) -> None:
    case = run.cases["claims-all"]
    redelivery, other = run.requests["claims-all"]
    assert redelivery["execution_id"] == case.execution_id
    io.wait_for([other["execution_id"]])
    deadline_polls = 150
    while len(io.answers.get(case.execution_id, [])) < 2 and deadline_polls:
        io._poll()
        deadline_polls -= 1
    first, second = io.answers[case.execution_id][:2]
    assert first[0] == second[0] == "true"
    jti = first[1]["token_info"]["jti"]
    assert second[1]["token_info"]["jti"] == jti
    # HS256 over the same claims: the redelivered request gets the very same token
    assert first[1]["store_delta"] == second[1]["store_delta"]
    kind, answer = io.answers[other["execution_id"]][0][:2]
    assert kind == "true"
    assert answer["token_info"]["jti"] != jti
    assert answer["store_delta"][0]["values"]["jti"] == answer["token_info"]["jti"]
    _, claims = verify_jws(case, answer["store_delta"][0]["values"]["token"])
    assert claims["jti"] == answer["token_info"]["jti"]


def test_default_claims_and_string_subject_template(run: Run, schemas: dict[str, Any]) -> None:
    _, body, claims = claims_of(run, schemas, "claims-defaults")
    assert claims == {"iat": IAT, "iss": ISSUER, "sub": "user:u-42", "exp": IAT + TTL}
    assert "jti" not in body["token_info"]
    assert body["store_delta"][0]["values"]["jti"] is None


def test_ttl_sets_exp(run: Run, schemas: dict[str, Any]) -> None:
    _, body, claims = claims_of(run, schemas, "claims-ttl")
    assert claims["exp"] == IAT + 7
    assert body["token_info"]["exp"] == IAT + 7


def test_exclusion_flags_leave_claims_out(run: Run, schemas: dict[str, Any]) -> None:
    _, body, claims = claims_of(run, schemas, "claims-excluded")
    assert claims == {"city": "Lyon"}
    assert body["token_info"]["iat"] == IAT
    assert body["token_info"]["exp"] is None  # no exp claim, so no expiry to report


def test_exp_excluded_and_nbf_included(run: Run, schemas: dict[str, Any]) -> None:
    _, body, claims = claims_of(run, schemas, "claims-no-exp")
    assert claims == {"iat": IAT, "sub": "u-42", "nbf": IAT}
    assert body["token_info"]["exp"] is None


# ----------------------------------------------------------------------------- store attributes


@pytest.mark.parametrize("case_id", STORE_IDS)
def test_store_attributes(run: Run, schemas: dict[str, Any], case_id: str) -> None:
    case, body = success(run, schemas, case_id)
    info = body["token_info"]
    expected_info = {
        "alg": case.sig_alg or case.enc_alg,
        "enc": case.enc,
        "kid": case.sig_kid or case.enc_kid,
        "iat": IAT,
        "exp": IAT + TTL,
    }
    jti_on = case.config["claims"].get("jti") is True
    assert {k: v for k, v in info.items() if k != "jti"} == expected_info
    assert ("jti" in info) == jti_on
    spec = case.config.get("store")
    if spec is None:
        assert body["store_delta"] == []
        return
    [delta] = body["store_delta"]
    assert delta["variable"] == spec["variable"]
    assert delta["frontend"] is spec.get("frontend", False)
    values = delta["values"]
    assert set(values) == set(spec["attributes"])
    if "token" not in values:
        assert values == {"exp": IAT + TTL}
        return
    header, claims = open_token(case, values["token"])
    assert values["header"] == header
    assert values["claims"] == claims
    for name in ("kid", "alg", "enc", "iat", "exp"):
        assert values[name] == info[name], name
    assert values["jti"] == (claims["jti"] if jti_on else None)
    if jti_on:
        assert info["jti"] == claims["jti"]
    if "public_jwk" in values:
        public = values["public_jwk"]
        assert public["kid"] == case.sig_kid
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(public)
        assert jwk.JWK(**public).thumbprint() == case.public_thumbprint


# ----------------------------------------------------------------------------- config-time rules


@pytest.mark.parametrize("case_id", list(INVALID_FIELDS))
def test_config_invalid_names_the_field_and_hides_the_secret(run: Run, schemas: dict[str, Any], case_id: str) -> None:
    case = run.cases[case_id]
    kind, body = run.answers[case_id]
    assert kind == "failure", body
    check_answer(schemas, kind, body)
    assert body["config"] == {"id": case_id, "version": 1}
    error = body["error"]
    assert error["code"] == "CONFIG_INVALID"
    assert error["retryable"] is False
    field_name, hint = INVALID_FIELDS[case_id]
    assert field_name in error["message"], error["message"]
    assert hint.lower() in error["message"].lower(), error["message"]
    text = orjson.dumps(body).decode()
    for leaked in case.secrets:
        assert leaked not in text
