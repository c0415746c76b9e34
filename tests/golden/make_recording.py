"""Make the golden recording: a real worker answers a few hundred requests covering every option.

    .venv/bin/python -m tests.golden.make_recording                  # starts and stops its own broker
    .venv/bin/python -m tests.golden.make_recording --bootstrap 127.0.0.1:9092

Run it again (and commit tests/golden/golden.jsonl) when a change to the engine
is meant to change answers: tests/unit/replay/test_golden.py and
tests/integration/test_replay.py replay the recording and require 0
differences. The keys are test keys, committed in tests/golden/keys.json
(`--new-keys` makes new ones); the script derives the key-encryption key
(kek.json, for JWTGEN_KEK) and the private keys of the JWE recipients
(recipients.json, for `jwtgen replay --decryption-keys`) from it.

What it covers, in three phases separated by config changes:
- every signature algorithm (HS*, RS*, PS*, ES*, Ed25519 and EdDSA) and key
  form (password, oct JWK, PKCS#8, PKCS#1 and SEC1 PEM, JWK, sealed), kid set
  or left to the thumbprint;
- every JWE mode (A*KW, A*GCMKW, dir, RSA-OAEP*, ECDH-ES*) with every `enc`,
  and nested tokens;
- custom claims of every type (static and templated), nbf and jti;
- every store attribute, `frontend` true and false;
- every failure code a request can reach: MALFORMED_EVENT,
  FLOW_TYPE_NOT_SUPPORTED, CONFIG_NOT_FOUND (unknown id, version not arrived,
  deleted config), CONFIG_VERSION_MISMATCH, CONFIG_INVALID (a rule broken, not
  JSON), VARIABLE_NOT_FOUND, CLAIM_TYPE_MISMATCH, ANSWER_TOO_LARGE (an answer over the
  size limit). SIGNING_FAILED and ENCRYPTION_FAILED cannot be reached: every
  config is probed with a signature and an encryption when it is compiled;
- dead letters (not JSON, not an object, no execution id, a tombstone, bytes
  that are not UTF-8, no key);
- request headers (text, bytes, null, repeated names), requests without key,
  with and without `issued_at` (iat from the record timestamp);
- a config updated (with a new key) and one deleted between phases, requests
  naming a version and requests naming none.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc.jwk import ECKey, OKPKey, RSAKey, import_key

from tests.support.kafkaio import SCHEMA_OF_TOPIC, KafkaIO, WorkerProcess
from tests.support.processes import JWTGEN, REPO, free_port
from worker.core.sealed import seal

HERE = Path(__file__).resolve().parent
KEYS = HERE / "keys.json"
KEK = HERE / "kek.json"
RECIPIENTS = HERE / "recipients.json"
RECORDING = HERE / "golden.jsonl"
KCAT_RECORDING = HERE / "golden.kcat.jsonl"

ISSUER = "https://idp.example.com"
CLAIMS: dict[str, Any] = {
    "issuer": ISSUER,
    "subject": "{{user.id}}",
    "custom": [{"key": "email", "value": "{{user.email}}", "type": "String"}],
}
STORE_ATTRS = {"variable": "jwt", "attributes": ["token", "kid", "exp"], "frontend": False}
ISSUED_AT = 1764355200


# ----------------------------------------------------------------------------- keys


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _pkcs8(key: Any) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def new_keys() -> dict[str, Any]:
    """Fresh test keys: PEM PKCS#8 for asymmetric keys, base64url for oct keys, text for passwords."""
    keys: dict[str, Any] = {"comment": "TEST KEYS for the golden recording only; never use them elsewhere"}
    keys["kek"] = {**RSAKey.generate_key(2048, private=True).as_dict(private=True), "kid": "golden-kek"}
    for name in ("rsa-sign", "rsa-sign-2", "rsa-enc"):
        keys[name] = _pkcs8(rsa.generate_private_key(65537, 2048))
    curves = {"p256": ec.SECP256R1(), "p384": ec.SECP384R1(), "p521": ec.SECP521R1()}
    for name, curve in curves.items():
        keys[f"ec-sign-{name}"] = _pkcs8(ec.generate_private_key(curve))
        keys[f"ec-enc-{name}"] = _pkcs8(ec.generate_private_key(curve))
    keys["ec-sign-p256-2"] = _pkcs8(ec.generate_private_key(ec.SECP256R1()))
    keys["ed25519"] = _pkcs8(ed25519.Ed25519PrivateKey.generate())
    for size in (16, 24, 32, 48, 64):
        keys[f"oct-{size}"] = b64url(secrets.token_bytes(size))
    for size in (32, 48, 64):
        keys[f"password-{size}"] = ("golden-test-password-" + secrets.token_hex(size))[:size]
    return keys


class Material:
    """The committed test keys in every form a config may carry them."""

    def __init__(self, keys: dict[str, Any]) -> None:
        self.keys = keys
        self.kek = import_key(keys["kek"])

    def pem(self, name: str) -> str:
        return str(self.keys[name])

    def traditional(self, name: str) -> str:
        """PKCS#1 for RSA, SEC1 for EC."""
        native = serialization.load_pem_private_key(self.pem(name).encode(), None)
        return native.private_bytes(  # type: ignore[union-attr]
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ).decode()

    def public_pem(self, name: str) -> str:
        native = serialization.load_pem_private_key(self.pem(name).encode(), None)
        return (
            native.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def jwk(self, name: str, private: bool = True) -> dict[str, Any]:
        pem = self.pem(name)
        for cls in (RSAKey, ECKey, OKPKey):
            try:
                return dict(cls.import_key(pem).as_dict(private=private))
            except Exception:
                continue
        raise ValueError(name)

    def oct(self, size: int) -> dict[str, Any]:
        return {"kty": "oct", "k": self.keys[f"oct-{size}"]}

    def password(self, size: int) -> str:
        return str(self.keys[f"password-{size}"])

    def sealed(self, secret: str) -> dict[str, Any]:
        return seal(secret, self.kek)

    def recipients(self) -> dict[str, Any]:
        return {"keys": [self.jwk(n) for n in ("rsa-enc", "ec-enc-p256", "ec-enc-p384", "ec-enc-p521")]}


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
        headers = [("traceparent", f"00-{phase:032x}-{len(out):016x}-01".encode()), ("tenant", b"acme")]
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
        as_record(
            request(
                f"type-number-{p}",
                "claims-all-types",
                1,
                store={**store(1), "user": {**store(1)["user"], "age": "old"}},
            )
        ),
        as_record(
            request(
                f"type-bool-{p}",
                "claims-all-types",
                2,
                store={**store(2), "user": {**store(2)["user"], "admin": "yes"}},
            )
        ),
        as_record(
            request(
                f"type-array-{p}",
                "claims-all-types",
                3,
                store={**store(3), "user": {**store(3)["user"], "groups_json": "{}"}},
            )
        ),
        as_record(
            request(
                f"type-object-{p}",
                "claims-all-types",
                4,
                store={**store(4), "user": {**store(4)["user"], "prefs_json": "[1]"}},
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


# ----------------------------------------------------------------------------- the run


class GoldenIO(KafkaIO):
    """KafkaIO that also takes answers whose key is not UTF-8 (a dead letter keeps the request's key)."""

    def _poll(self, timeout_ms: int = 200) -> None:
        assert self.consumer is not None
        batches = self.run(self.consumer.getmany(timeout_ms=timeout_ms))
        for tp, records in batches.items():
            kind = tp.topic.rsplit(".", 1)[1]
            for record in records:
                key = record.key.decode(errors="replace") if record.key is not None else ""
                body = orjson.loads(record.value)
                self.validators[SCHEMA_OF_TOPIC[kind]].validate(body)
                self.answers.setdefault(key, []).append((kind, body, list(record.headers or ())))


def send(io: KafkaIO, records: list[Outgoing]) -> list[str]:
    """Send requests; returns the answer keys to wait for (dead letters are counted apart)."""
    keys = []
    for key, value, headers in records:
        io.send_raw("requests", key, value, headers)
        parsed = _execution_id(value)
        if parsed:
            keys.append(key.decode() if key is not None else parsed)
    return keys


def _execution_id(value: bytes | None) -> str | None:
    try:
        body = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return None
    if isinstance(body, dict) and isinstance(body.get("execution_id"), str) and body["execution_id"].strip():
        return str(body["execution_id"])
    return None


def dead_letter_count(records: list[Outgoing]) -> int:
    return sum(1 for _, value, _ in records if _execution_id(value) is None)


def drive(io: KafkaIO, m: Material) -> None:
    phase1 = configs(m)
    for c in phase1:
        io.put_config(c)
    io.send_raw("configs", b"not-json-config", b"{this is not json")
    time.sleep(1.0)
    ids = [c["id"] for c in phase1 if c["id"] not in ("weak-hmac", "big-claims")]
    letters = 0
    records = phase_requests(ids, 1) + failure_requests(1)
    records.append(
        as_record(request("pinned-v1-p1", "hs256-password", 3, config={"id": "hs256-password", "version": 1}))
    )
    io.wait_for(send(io, records), timeout=120)
    letters += dead_letter_count(records)
    io.deadletters(count=letters, timeout=60)

    # Phase 2: hs256-password gets version 2 (a longer ttl, a new secret), es256-sec1
    # version 2 with a new key, to-delete is deleted.
    by_id = {c["id"]: c for c in phase1}
    hs_v2 = {
        **by_id["hs256-password"],
        "version": 2,
        "ttl": 900,
        "signature": symmetric("HS256", "hs-1b", password=m.password(64)[:40]),
    }
    es_v2 = {
        **by_id["es256-sec1"],
        "version": 2,
        "signature": asymmetric("EC", "ES256", "es-1b", private_key=m.pem("ec-sign-p256-2")),
    }
    io.put_config(hs_v2)
    io.put_config(es_v2)
    io.put_config(None, "to-delete")
    time.sleep(1.0)
    records = [
        *phase_requests(["hs256-password", "es256-sec1", "to-delete", "rs256-pkcs8"], 2),
        as_record(request("mismatch-p2", "hs256-password", 1, config={"id": "hs256-password", "version": 1})),
        as_record(request("pinned-v2-p2", "hs256-password", 2, config={"id": "hs256-password", "version": 2})),
        # A version that never comes: the worker waits for it, then CONFIG_NOT_FOUND (retryable).
        as_record(request("future-p2", "hs256-password", 3, config={"id": "hs256-password", "version": 9})),
    ]
    io.wait_for(send(io, records), timeout=120)

    # Phase 3: rs256-pkcs8 version 2 signs with another key; a few of everything again.
    rs_v2 = {
        **by_id["rs256-pkcs8"],
        "version": 2,
        "signature": asymmetric("RSA", "RS256", "rs-1", private_key=m.pem("rsa-sign-2")),
    }
    io.put_config(rs_v2)
    time.sleep(1.0)
    records = phase_requests(["rs256-pkcs8", "hs256-password", "nested-es256-ecdh", "claims-all-types"], 3)
    records += failure_requests(3)
    io.wait_for(send(io, records), timeout=120)
    letters += dead_letter_count(records)
    io.deadletters(count=letters, timeout=60)


def record_with_kcat(bootstrap: str, prefix: str) -> None:
    """The same topics as `kcat -C -J` writes them, for the test that replay reads kcat's format.

    The oversized request and its answer are left out, to keep the file small.
    """
    lines = []
    for topic in ("configs", "requests", "true", "failure", "deadletter"):
        done = subprocess.run(
            ["kcat", "-b", bootstrap, "-C", "-J", "-e", "-q", "-t", f"{prefix}.{topic}"],
            capture_output=True,
            check=True,
        )
        lines += [line for line in done.stdout.splitlines(keepends=True) if b'"too-big"' not in line]
    KCAT_RECORDING.write_bytes(b"".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", help="use this broker instead of starting one")
    parser.add_argument("--out", type=Path, default=RECORDING)
    parser.add_argument("--new-keys", action="store_true", help="make new test keys (tests/golden/keys.json)")
    args = parser.parse_args()

    if args.new_keys or not KEYS.exists():
        KEYS.write_text(json.dumps(new_keys(), indent=2) + "\n")
    m = Material(json.loads(KEYS.read_text()))
    KEK.write_text(json.dumps(m.keys["kek"], indent=2) + "\n")
    RECIPIENTS.write_text(json.dumps(m.recipients(), indent=2) + "\n")

    with tempfile.TemporaryDirectory(prefix="jwtgen-golden-") as tmp:
        broker_dir = Path(tmp) / "broker"
        bootstrap = args.bootstrap
        if bootstrap is None:
            port = free_port()
            subprocess.run([*JWTGEN, "broker", "start", "--port", str(port), "--data-dir", str(broker_dir)], check=True)
            bootstrap = f"127.0.0.1:{port}"
        prefix = f"golden-{secrets.token_hex(4)}"
        worker = WorkerProcess(prefix, bootstrap, free_port(), Path(tmp) / "worker.log")
        worker.extra_env["JWTGEN_KEK"] = json.dumps(m.keys["kek"])
        try:
            worker.start()
            io = GoldenIO(bootstrap, prefix).open()
            try:
                drive(io, m)
            finally:
                io.close()
            env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "JWTGEN_TOPIC_PREFIX": prefix}
            subprocess.run([*JWTGEN, "record", "--out", str(args.out), "--overwrite"], env=env, cwd=REPO, check=True)
            if shutil.which("kcat"):
                record_with_kcat(bootstrap, prefix)
            else:
                print(f"kcat is not installed: {KCAT_RECORDING} left as it is", file=sys.stderr)
        finally:
            worker.stop()
            if args.bootstrap is None:
                subprocess.run([*JWTGEN, "broker", "stop", "--data-dir", str(broker_dir)], check=False)
    env = {**os.environ, "JWTGEN_KEK": json.dumps(m.keys["kek"])}
    check = [*JWTGEN, "replay", str(args.out), "--offline", "--decryption-keys", str(RECIPIENTS)]
    sys.exit(subprocess.run(check, env=env, cwd=REPO).returncode)


if __name__ == "__main__":
    main()
