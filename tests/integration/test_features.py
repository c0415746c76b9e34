"""Issue 10's options through Kafka, each token verified or decrypted by jwcrypto, and previewed offline.

One worker runs with JWTGEN_AUDIT on, JWTGEN_KEK set (sealed secrets) and
JWTGEN_JWKS_CA_FILE naming a throwaway CA, whose HTTPS server on 127.0.0.1
serves the key sets of the jwks_url configs. The `run` fixture publishes every
static case and sends its request; the jwks_url tests then drive the key-set
server (down, rotated, refreshed) and retry as an orchestrator would on a
retryable Failure. The last test reads <prefix>.audit: one event per True
answer, none for a Failure. `jwtgen preview` (in-process) must show the same
claims and header for each case, and the very same token for deterministic ones.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import jwt as pyjwt
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from joserfc.jwk import import_key
from jwcrypto import jwe, jwk, jws

from tests.support.configs import IAT, STORE, request_for
from tests.support.jwks_server import JwksServer
from tests.support.kafkaio import KafkaIO, load_schemas
from tests.support.keys import KeyForms, b64url, oct_jwk, secret_text
from tests.support.pki import CA, KEY_AGREEMENT, KEY_ENCIPHERMENT, SIGNING, der_b64, pem, thumbprints
from tests.support.processes import free_port
from worker.cli.main import main
from worker.core.keygen import generate_keypair
from worker.core.sealed import seal

pytestmark = pytest.mark.integration

TTL = 600
HS_SECRET = secret_text(40)
PBES2_PASSWORD = "TOP-SECRET correct horse battery"
PKCS8_PASSWORD = "TOP-SECRET-pkcs8-" + uuid.uuid4().hex[:8]
STORE_ALL = {"variable": "jwt", "attributes": ["token", "header", "claims"]}
LEAN = {"issuer": "https://idp.example.com", "subject": "{{user.id}}"}


# ----------------------------------------------------------------------------- module set-up


@dataclass
class Pki:
    ca: CA
    ca_file: Path
    kek_private: dict[str, Any]
    kek_public: dict[str, Any]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    ca = CA.create()
    kek_private, kek_public = generate_keypair("RSA", None, None, "RSA-OAEP-256", "kek-features")
    assert kek_public is not None
    return Pki(ca, ca.write(tmp_path_factory.mktemp("pki") / "ca.pem"), kek_private, kek_public)


@pytest.fixture(scope="module")
def worker_env(pki: Pki) -> dict[str, str]:
    return {"JWTGEN_AUDIT": "true", "JWTGEN_JWKS_CA_FILE": str(pki.ca_file), "JWTGEN_KEK": json.dumps(pki.kek_private)}


@pytest.fixture(scope="module")
def jwks_server(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JwksServer]:
    with JwksServer(pki.ca, tmp_path_factory.mktemp("jwks")) as server:
        yield server


@pytest.fixture(scope="module")
def plain_server(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JwksServer]:
    """Plain HTTP on 127.0.0.1: the one place a jwks_url may be http://."""
    with JwksServer(pki.ca, tmp_path_factory.mktemp("plain"), tls=False) as server:
        yield server


@pytest.fixture(scope="module")
def late_server(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JwksServer]:
    """A key-set server on a port nobody listens on until a test starts it."""
    server = JwksServer(pki.ca, tmp_path_factory.mktemp("late"), port=free_port())
    try:
        yield server
    finally:
        server.stop()


def preview_env(pki: Pki) -> dict[str, str]:
    return {"JWTGEN_KEK": json.dumps(pki.kek_private), "JWTGEN_JWKS_CA_FILE": str(pki.ca_file)}


# ----------------------------------------------------------------------------- cases


@dataclass
class Case:
    id: str
    config: dict[str, Any]
    store: dict[str, Any] = field(default_factory=lambda: STORE)
    execution_id: str = field(default_factory=lambda: str(uuid.uuid4()))


def config(case_id: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": case_id,
        "version": 1,
        "ttl": TTL,
        "claims": LEAN,
        "signature": {"type": "symmetric", "alg": "HS256", "kid": "hs", "password": HS_SECRET},
        "store": STORE_ALL,
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None or k in ("signature", "encryption")}


def encrypted_pem(forms: KeyForms) -> str:
    return str(
        forms.native.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PKCS8_PASSWORD.encode()),
        ).decode()
    )


@dataclass
class Keys:
    rsa: KeyForms
    rsa_other: KeyForms
    ec256: KeyForms
    ec384: KeyForms


@pytest.fixture(scope="module")
def keys(rsa2048: KeyForms, rsa2048_other: KeyForms, ec_keys: dict[str, KeyForms]) -> Keys:
    return Keys(rsa2048, rsa2048_other, ec_keys["P-256"], ec_keys["P-384"])


def static_cases(keys: Keys, pki: Pki, jwks_url: str, plain_url: str) -> list[Case]:
    kek = import_key(pki.kek_public)
    signer_cert = pki.ca.issue(keys.rsa.native.public_key(), "signer", usage=SIGNING)
    rsa_recipient = pki.ca.issue(keys.rsa_other.native.public_key(), "recipient", usage=KEY_ENCIPHERMENT)
    ec_recipient = pki.ca.issue(keys.ec384.native.public_key(), "ec recipient", usage=KEY_AGREEMENT)
    rs256 = {"type": "asymmetric", "key_type": "RSA", "alg": "RS256", "kid": "rs", "private_key": keys.rsa.pkcs8}
    claims_with_missing = {
        "issuer": "https://{{tenant.host}}/",
        "issuer_on_missing": "default",
        "issuer_default": "https://idp.example.com/",
        "subject": "{{user.nickname}}",
        "subject_on_missing": "omit",
        "custom": [
            {"key": "email", "value": "{{user.email}}", "type": "String", "on_missing": "omit"},
            {"key": "dept", "value": "{{user.dept}}", "type": "String", "on_missing": "omit"},
            {"key": "level", "value": "{{user.level}}", "type": "Number", "on_missing": "default", "default": 2},
            {"key": "groups", "value": "{{user.groups}}", "type": "Array", "on_missing": "default", "default": []},
        ],
    }
    cases = [
        Case(
            "headers-hs256",
            config(
                "headers-hs256",
                signature={
                    "type": "symmetric",
                    "alg": "HS256",
                    "kid": "hs",
                    "password": HS_SECRET,
                    "headers": {"typ": "at+jwt", "cty": "application/example", "tenant": "t-7", "ext": {"v": [1]}},
                },
            ),
        ),
        Case(
            "headers-x5c",
            config(
                "headers-x5c",
                signature={
                    **rs256,
                    "headers": {"x5c": [der_b64(signer_cert), der_b64(pki.ca.cert)], **thumbprints(signer_cert)},
                },
            ),
        ),
        Case("aud-string", config("aud-string", claims={**LEAN, "aud": "https://api.example.com"})),
        Case(
            "aud-list",
            config("aud-list", claims={**LEAN, "aud": ["https://api.example.com", "urn:mail:{{user.email}}"]}),
        ),
        Case("aud-from-store", config("aud-from-store", claims={**LEAN, "aud": "{{user.roles}}"})),
        Case("budget-fits", config("budget-fits", max_token_bytes=1000)),
        Case("budget-over", config("budget-over", max_token_bytes=120)),
        Case("missing-policies", config("missing-policies", claims=claims_with_missing)),
        Case("missing-fails", config("missing-fails", claims={**LEAN, "subject": "{{user.nickname}}"})),
        Case(
            "pkcs8-password",
            config(
                "pkcs8-password",
                signature={
                    **rs256,
                    "alg": "PS256",
                    "private_key": encrypted_pem(keys.rsa),
                    "private_key_password": PKCS8_PASSWORD,
                },
            ),
        ),
        Case(
            "pkcs8-sealed",
            config(
                "pkcs8-sealed",
                signature={
                    "type": "asymmetric",
                    "key_type": "EC",
                    "alg": "ES256",
                    "kid": "es",
                    "private_key": seal(encrypted_pem(keys.ec256), kek),
                    "private_key_password": seal(PKCS8_PASSWORD, kek),
                },
            ),
        ),
        Case(
            "pbes2-hs256",
            config(
                "pbes2-hs256",
                signature=None,
                encryption={
                    "type": "symmetric",
                    "alg": "PBES2-HS256+A128KW",
                    "kid": "pw",
                    "password": PBES2_PASSWORD,
                    "iterations": 1000,
                    "salt_bytes": 8,
                },
            ),
        ),
        Case(
            "pbes2-hs384",
            config(
                "pbes2-hs384",
                encryption={
                    "type": "symmetric",
                    "alg": "PBES2-HS384+A192KW",
                    "enc": "A192CBC-HS384",
                    "password": PBES2_PASSWORD,
                },
            ),
        ),
        Case(
            "pbes2-hs512",
            config(
                "pbes2-hs512",
                encryption={
                    "type": "symmetric",
                    "alg": "PBES2-HS512+A256KW",
                    "enc": "A256GCM",
                    "jwk": {"kty": "oct", "k": b64url(PBES2_PASSWORD.encode())},
                    "iterations": 16384,
                    "salt_bytes": 64,
                },
            ),
        ),
        Case(
            "certificate-rsa",
            config(
                "certificate-rsa",
                signature=None,
                encryption={
                    "type": "asymmetric",
                    "key_type": "RSA",
                    "alg": "RSA-OAEP-256",
                    "certificate": pem(rsa_recipient),
                },
            ),
        ),
        Case(
            "certificate-ec-nested",
            config(
                "certificate-ec-nested",
                encryption={
                    "type": "asymmetric",
                    "key_type": "EC",
                    "alg": "ECDH-ES+A128KW",
                    "kid": "ec-cert",
                    "certificate": pem(ec_recipient),
                },
            ),
        ),
        Case(
            "jwks-inline",
            config(
                "jwks-inline",
                encryption={
                    "type": "asymmetric",
                    "key_type": "EC",
                    "alg": "ECDH-ES",
                    "jwks": {
                        "keys": [
                            {**keys.rsa.public_jwk, "kid": "r"},
                            {**keys.ec384.public_jwk, "kid": "e", "use": "enc"},
                        ]
                    },
                },
            ),
        ),
        Case(
            "jwks-url-http-loopback",
            config(
                "jwks-url-http-loopback",
                encryption={"type": "asymmetric", "key_type": "EC", "alg": "ECDH-ES+A192KW", "jwks_url": plain_url},
            ),
        ),
        Case(
            "jwks-url",
            config(
                "jwks-url",
                signature=None,
                encryption={
                    "type": "asymmetric",
                    "key_type": "RSA",
                    "alg": "RSA-OAEP-256",
                    "kid": "url-b",
                    "jwks_url": jwks_url,
                },
            ),
        ),
    ]
    return cases


# case id -> (the field the CONFIG_INVALID message must name, a word of the rule)
INVALID = {
    "invalid-header-alg": (
        {"signature": {"type": "symmetric", "alg": "HS256", "password": HS_SECRET, "headers": {"alg": "none"}}},
        "signature.headers.alg",
        "cannot be set",
    ),
    "invalid-x5t": (
        {"signature": {"type": "symmetric", "alg": "HS256", "password": HS_SECRET, "headers": {"x5t": "abc"}}},
        "signature.headers.x5t",
        "x5c",
    ),
    "invalid-aud": ({"claims": {**LEAN, "aud": ["a", 7]}}, "claims.aud[1]", "string"),
    "invalid-on-missing": (
        {"claims": {**LEAN, "custom": [{"key": "k", "value": "{{a.b}}", "type": "String", "on_missing": "skip"}]}},
        "claims.custom[0].on_missing",
        "omit",
    ),
    "invalid-default-type": (
        {
            "claims": {
                **LEAN,
                "custom": [
                    {"key": "k", "value": "{{a.b}}", "type": "Number", "on_missing": "default", "default": "many"}
                ],
            }
        },
        "claims.custom[0].default",
        "Number",
    ),
    "invalid-budget": ({"max_token_bytes": 0}, "max_token_bytes", "integer"),
    "invalid-pkcs8-password": (None, "signature.private_key_password", "does not open"),
    "invalid-pbes2-iterations": (
        {
            "encryption": {
                "type": "symmetric",
                "alg": "PBES2-HS256+A128KW",
                "password": PBES2_PASSWORD,
                "iterations": 500,
            }
        },
        "encryption.iterations",
        "1000",
    ),
    "invalid-certificate": (None, "encryption.certificate", "expired"),
    "invalid-jwks-kid": (None, "encryption.jwks", "no key with kid"),
    "invalid-jwks-url": (
        {
            "encryption": {
                "type": "asymmetric",
                "key_type": "RSA",
                "alg": "RSA-OAEP",
                "jwks_url": "http://10.0.0.7/jwks",
            }
        },
        "encryption.jwks_url",
        "https://",
    ),
}


def invalid_cases(keys: Keys, pki: Pki) -> list[Case]:
    dynamic = {
        "invalid-pkcs8-password": {
            "signature": {
                "type": "asymmetric",
                "key_type": "RSA",
                "alg": "RS256",
                "private_key": encrypted_pem(keys.rsa),
                "private_key_password": "TOP-SECRET-wrong",
            }
        },
        "invalid-certificate": {
            "encryption": {
                "type": "asymmetric",
                "key_type": "RSA",
                "alg": "RSA-OAEP",
                "certificate": pem(pki.ca.issue(keys.rsa.native.public_key(), "old", expired=True)),
            }
        },
        "invalid-jwks-kid": {
            "encryption": {
                "type": "asymmetric",
                "key_type": "RSA",
                "alg": "RSA-OAEP",
                "kid": "nope",
                "jwks": {"keys": [keys.rsa.public_jwk]},
            }
        },
    }
    return [
        Case(case_id, config(case_id, **(fields if fields is not None else dynamic[case_id])))
        for case_id, (fields, _, _) in INVALID.items()
    ]


# ----------------------------------------------------------------------------- running


@dataclass
class Run:
    cases: dict[str, Case]
    answers: dict[str, tuple[str, dict[str, Any]]]


def request_of(case: Case, execution_id: str | None = None) -> dict[str, Any]:
    return request_for(case.config["id"], 1, store=case.store, execution_id=execution_id or case.execution_id)


@pytest.fixture(scope="module")
def run(io: KafkaIO, keys: Keys, pki: Pki, jwks_server: JwksServer, plain_server: JwksServer) -> Run:
    url = jwks_server.serve(
        "/static/jwks.json",
        [
            {**keys.rsa.public_jwk, "kid": "url-a", "use": "enc"},
            {**keys.rsa_other.public_jwk, "kid": "url-b", "use": "enc"},
        ],
    )
    plain_url = plain_server.serve("/jwks", [{**keys.ec256.public_jwk, "kid": "plain"}])
    cases = static_cases(keys, pki, url, plain_url) + invalid_cases(keys, pki)
    by_id = {case.id: case for case in cases}
    assert len(by_id) == len(cases)
    io.put_configs([case.config for case in cases])
    # The worker fetches a config's key set when the config arrives; requests wait until it has.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (jwks_server.hits.get("/static/jwks.json") and plain_server.hits):
        time.sleep(0.1)
    assert jwks_server.hits.get("/static/jwks.json") and plain_server.hits, "the worker never fetched the key sets"
    time.sleep(0.5)
    io.send_requests([request_of(case) for case in cases])
    answers = io.wait_for([case.execution_id for case in cases], timeout=60)
    return Run(by_id, {case.id: answers[case.execution_id] for case in cases})


def success(run: Run, case_id: str) -> dict[str, Any]:
    kind, body = run.answers[case_id]
    assert kind == "true", body
    text = orjson.dumps(body).decode()
    for secret in (HS_SECRET, PBES2_PASSWORD, PKCS8_PASSWORD):
        assert secret not in text
    values: dict[str, Any] = body["store_delta"][0]["values"]
    return values


def jws_parts(token: str, key: jwk.JWK, alg: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(protected header, claims) of a JWS verified by jwcrypto."""
    obj = jws.JWS()
    obj.allowed_algs = [alg]
    obj.deserialize(token)
    obj.verify(key, alg=alg)
    return dict(obj.jose_header), json.loads(obj.payload)


def jwe_parts(token: str, key: jwk.JWK, alg: str, enc: str) -> tuple[dict[str, Any], bytes]:
    """(protected header, plaintext) of a JWE decrypted by jwcrypto."""
    obj = jwe.JWE()
    obj.allowed_algs = [alg, enc]
    obj.deserialize(token, key=key)
    return dict(obj.jose_header), bytes(obj.plaintext)


HS_KEY = oct_jwk(HS_SECRET)
PBES2_KEY = oct_jwk(PBES2_PASSWORD)
LEAN_CLAIMS = {"iat": IAT, "iss": "https://idp.example.com", "sub": "u-42", "exp": IAT + TTL}


def preview_of(case: Case, pki: Pki, tmp_path: Path) -> dict[str, Any]:
    """`jwtgen preview --json` of the case's config, for its request's store, iat and execution id."""
    config_file, store_file = tmp_path / f"{case.id}.json", tmp_path / f"{case.id}-store.json"
    config_file.write_text(json.dumps(case.config))
    store_file.write_text(json.dumps(case.store))
    args = ["preview", str(config_file), "--store", str(store_file), "--issued-at", str(IAT)]
    result = CliRunner().invoke(main, [*args, "--execution-id", case.execution_id, "--json"], env=preview_env(pki))
    shown: dict[str, Any] = orjson.loads(result.stdout)
    shown["exit_code"] = result.exit_code
    return shown


# ----------------------------------------------------------------------------- headers


def test_typ_cty_and_custom_header_members(run: Run, pki: Pki, tmp_path: Path) -> None:
    values = success(run, "headers-hs256")
    header, claims = jws_parts(values["token"], HS_KEY, "HS256")
    assert header == {
        "alg": "HS256",
        "typ": "at+jwt",
        "kid": "hs",
        "cty": "application/example",
        "tenant": "t-7",
        "ext": {"v": [1]},
    }
    assert claims == LEAN_CLAIMS and values["header"] == header
    shown = preview_of(run.cases["headers-hs256"], pki, tmp_path)
    assert shown["token"] == values["token"]  # HMAC: preview makes the very same token


def test_x5c_chain_and_thumbprints(run: Run, keys: Keys, pki: Pki, tmp_path: Path) -> None:
    values = success(run, "headers-x5c")
    header, claims = jws_parts(values["token"], keys.rsa.public, "RS256")
    leaf = base64.b64decode(header["x5c"][0])
    assert header["x5t#S256"] == b64url(hashlib.sha256(leaf).digest())
    assert header["x5t"] == b64url(hashlib.sha1(leaf).digest())  # x5t is defined as SHA-1
    assert jwk.JWK.from_pem(pem_of_der(leaf)).thumbprint() == keys.rsa.thumbprint()
    assert claims == LEAN_CLAIMS
    assert preview_of(run.cases["headers-x5c"], pki, tmp_path)["token"] == values["token"]  # RS256 is deterministic


def pem_of_der(der: bytes) -> bytes:
    return (
        x509.load_der_x509_certificate(der)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


# ----------------------------------------------------------------------------- audience, budget, on_missing


@pytest.mark.parametrize(
    ("case_id", "aud"),
    [
        ("aud-string", "https://api.example.com"),
        ("aud-list", ["https://api.example.com", "urn:mail:ada@example.com"]),
        ("aud-from-store", ["admin", "ops"]),
    ],
)
def test_audience(run: Run, pki: Pki, tmp_path: Path, case_id: str, aud: Any) -> None:
    values = success(run, case_id)
    _, claims = jws_parts(values["token"], HS_KEY, "HS256")
    assert claims == {**LEAN_CLAIMS, "aud": aud} and list(claims) == ["iat", "iss", "sub", "aud", "exp"]
    # an independent verifier checks the audience too
    expected = aud if isinstance(aud, str) else aud[-1]
    decoded = pyjwt.decode(
        values["token"], HS_SECRET, algorithms=["HS256"], audience=expected, options={"verify_exp": False}
    )
    assert decoded["aud"] == aud
    assert preview_of(run.cases[case_id], pki, tmp_path)["token"] == values["token"]


def test_token_size_budget(run: Run, pki: Pki, tmp_path: Path) -> None:
    fits = success(run, "budget-fits")
    assert len(fits["token"]) <= 1000
    assert jws_parts(fits["token"], HS_KEY, "HS256")[1] == LEAN_CLAIMS
    kind, body = run.answers["budget-over"]
    assert kind == "failure"
    error = body["error"]
    over = len(fits["token"]) - 120  # the same claims and key: the same size
    assert error == {
        "code": "TOKEN_TOO_LARGE",
        "retryable": False,
        "message": f"max_token_bytes: the token is {len(fits['token'])} bytes, {over} over the limit of 120",
    }
    shown = preview_of(run.cases["budget-over"], pki, tmp_path)
    assert shown["exit_code"] == 1 and shown["error"] == error


def test_missing_variable_policies(run: Run, pki: Pki, tmp_path: Path) -> None:
    values = success(run, "missing-policies")
    _, claims = jws_parts(values["token"], HS_KEY, "HS256")
    # issuer defaulted, subject and dept omitted, email present, level and groups defaulted
    assert claims == {
        "iat": IAT,
        "iss": "https://idp.example.com/",
        "exp": IAT + TTL,
        "email": "ada@example.com",
        "level": 2,
        "groups": [],
    }
    kind, body = run.answers["missing-fails"]
    assert kind == "failure" and body["error"]["code"] == "VARIABLE_NOT_FOUND"
    assert "claims.subject" in body["error"]["message"]
    assert preview_of(run.cases["missing-policies"], pki, tmp_path)["token"] == values["token"]


# ----------------------------------------------------------------------------- key sources


def test_encrypted_pkcs8_with_its_password(run: Run, keys: Keys, pki: Pki, tmp_path: Path) -> None:
    header, claims = jws_parts(success(run, "pkcs8-password")["token"], keys.rsa.public, "PS256")
    assert header["kid"] == "rs" and claims == LEAN_CLAIMS
    header, claims = jws_parts(success(run, "pkcs8-sealed")["token"], keys.ec256.public, "ES256")
    assert header["kid"] == "es" and claims == LEAN_CLAIMS
    for case_id, kid in (("pkcs8-password", "rs"), ("pkcs8-sealed", "es")):
        shown = preview_of(run.cases[case_id], pki, tmp_path)
        assert shown["claims"] == LEAN_CLAIMS and shown["header"]["kid"] == kid


@pytest.mark.parametrize(
    ("case_id", "alg", "enc", "p2c", "salt"),
    [
        ("pbes2-hs256", "PBES2-HS256+A128KW", "A256GCM", 1000, 8),
        ("pbes2-hs384", "PBES2-HS384+A192KW", "A192CBC-HS384", 8192, 16),
        ("pbes2-hs512", "PBES2-HS512+A256KW", "A256GCM", 16384, 64),
    ],
)
def test_pbes2_decrypted_with_the_password(
    run: Run, pki: Pki, tmp_path: Path, case_id: str, alg: str, enc: str, p2c: int, salt: int
) -> None:
    values = success(run, case_id)
    header, plaintext = jwe_parts(values["token"], PBES2_KEY, alg, enc)
    assert header["p2c"] == p2c and len(base64.urlsafe_b64decode(header["p2s"] + "==")) == salt
    if case_id == "pbes2-hs256":  # encryption only
        assert header["kid"] == "pw" and header["typ"] == "JWT"
        claims = json.loads(plaintext)
    else:
        assert header["cty"] == "JWT"
        _, claims = jws_parts(plaintext.decode(), HS_KEY, "HS256")
    assert claims == LEAN_CLAIMS == values["claims"]
    shown = preview_of(run.cases[case_id], pki, tmp_path)
    assert shown["claims"] == claims and shown["header"]["p2c"] == p2c


def test_certificates_as_recipient_keys(run: Run, keys: Keys, pki: Pki, tmp_path: Path) -> None:
    header, plaintext = jwe_parts(
        success(run, "certificate-rsa")["token"], keys.rsa_other.private, "RSA-OAEP-256", "A256GCM"
    )
    assert header["kid"] == keys.rsa_other.thumbprint() and json.loads(plaintext) == LEAN_CLAIMS
    header, plaintext = jwe_parts(
        success(run, "certificate-ec-nested")["token"], keys.ec384.private, "ECDH-ES+A128KW", "A256GCM"
    )
    assert header["kid"] == "ec-cert" and jws_parts(plaintext.decode(), HS_KEY, "HS256")[1] == LEAN_CLAIMS
    for case_id in ("certificate-rsa", "certificate-ec-nested"):
        assert preview_of(run.cases[case_id], pki, tmp_path)["claims"] == LEAN_CLAIMS


def test_inline_jwks_and_jwks_url(run: Run, keys: Keys, pki: Pki, tmp_path: Path) -> None:
    header, plaintext = jwe_parts(success(run, "jwks-inline")["token"], keys.ec384.private, "ECDH-ES", "A256GCM")
    assert header["kid"] == "e" and jws_parts(plaintext.decode(), HS_KEY, "HS256")[1] == LEAN_CLAIMS
    values = success(run, "jwks-url")
    header, plaintext = jwe_parts(values["token"], keys.rsa_other.private, "RSA-OAEP-256", "A256GCM")
    assert header["kid"] == "url-b" and json.loads(plaintext) == LEAN_CLAIMS
    assert run.answers["jwks-url"][1]["token_info"]["kid"] == "url-b"
    shown = preview_of(run.cases["jwks-url"], pki, tmp_path)  # fetches the key set itself
    assert shown["header"]["kid"] == "url-b" and shown["claims"] == LEAN_CLAIMS
    values = success(run, "jwks-url-http-loopback")
    header, plaintext = jwe_parts(values["token"], keys.ec256.private, "ECDH-ES+A192KW", "A256GCM")
    assert header["kid"] == "plain" and header["cty"] == "JWT"
    assert jws_parts(plaintext.decode(), HS_KEY, "HS256")[1] == LEAN_CLAIMS


@pytest.mark.parametrize("case_id", list(INVALID))
def test_config_invalid_names_the_field(run: Run, pki: Pki, tmp_path: Path, case_id: str) -> None:
    kind, body = run.answers[case_id]
    assert kind == "failure", body
    field_name, hint = INVALID[case_id][1:]
    assert body["error"]["code"] == "CONFIG_INVALID"
    assert f"{field_name}: " in body["error"]["message"] and hint in body["error"]["message"], body["error"]
    assert "TOP-SECRET" not in body["error"]["message"]
    shown = preview_of(run.cases[case_id], pki, tmp_path)
    assert shown["exit_code"] == 1 and shown["error"]["code"] == "CONFIG_INVALID"
    assert f"{field_name}: " in shown["error"]["message"]


# ----------------------------------------------------------------------------- jwks_url over time


def retry_until_true(io: KafkaIO, case: Case, timeout: float = 30.0) -> dict[str, Any]:
    """Send the case's request again (a new execution) every second until it is answered True."""
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        execution_id = str(uuid.uuid4())
        io.send_request(request_of(case, execution_id))
        kind, last = io.answer(execution_id)
        if kind == "true":
            return last
        assert last["error"]["code"] == "KEY_UNAVAILABLE" and last["error"]["retryable"] is True, last
        time.sleep(1.0)
    raise AssertionError(f"{case.id}: still failing after {timeout}s: {last.get('error')}")


def url_case(case_id: str, url: str, **encryption: Any) -> Case:
    base = {"type": "asymmetric", "key_type": "RSA", "alg": "RSA-OAEP", "jwks_url": url}
    return Case(case_id, config(case_id, signature=None, encryption={**base, **encryption}))


def test_unreachable_key_set_then_cached(io: KafkaIO, run: Run, late_server: JwksServer, keys: Keys) -> None:
    case = url_case("jwks-url-late", late_server.serve("/jwks", [keys.rsa.public_jwk]))
    io.put_config(case.config)
    io.send_request(request_of(case))
    kind, body = io.answer(case.execution_id)
    assert kind == "failure"
    assert body["error"]["code"] == "KEY_UNAVAILABLE" and body["error"]["retryable"] is True
    assert body["error"]["message"].startswith(f"encryption.jwks_url: the key set at {late_server.url('/jwks')} ")
    late_server.start()
    values = retry_until_true(io, case)["store_delta"][0]["values"]
    header, plaintext = jwe_parts(values["token"], keys.rsa.private, "RSA-OAEP", "A256GCM")
    assert header["kid"] == keys.rsa.thumbprint() and json.loads(plaintext) == LEAN_CLAIMS
    late_server.stop()  # the cached key set keeps serving
    io.send_request(request_of(case, "after-stop-" + case.execution_id))
    assert io.answer("after-stop-" + case.execution_id)[0] == "true"


def test_a_new_kid_and_a_refresh_are_picked_up(io: KafkaIO, run: Run, jwks_server: JwksServer, keys: Keys) -> None:
    pinned = url_case(
        "jwks-url-next-kid", jwks_server.serve("/pinned", [{**keys.rsa.public_jwk, "kid": "current"}]), kid="next"
    )
    rotating = url_case(
        "jwks-url-refresh",
        jwks_server.serve("/rotating", [{**keys.rsa.public_jwk, "kid": "one"}]),
        jwks_refresh_seconds=5,
    )
    io.put_configs([pinned.config, rotating.config])
    first = retry_until_true(io, rotating)["store_delta"][0]["values"]
    assert jwe_parts(first["token"], keys.rsa.private, "RSA-OAEP", "A256GCM")[0]["kid"] == "one"
    io.send_request(request_of(pinned))
    kind, body = io.answer(pinned.execution_id)
    assert kind == "failure" and "has no key with kid 'next'" in body["error"]["message"]
    assert body["error"]["retryable"] is True

    jwks_server.serve(
        "/pinned", [{**keys.rsa.public_jwk, "kid": "current"}, {**keys.rsa_other.public_jwk, "kid": "next"}]
    )
    jwks_server.serve("/rotating", [{**keys.rsa_other.public_jwk, "kid": "two"}])
    values = retry_until_true(io, pinned)["store_delta"][0]["values"]
    assert jwe_parts(values["token"], keys.rsa_other.private, "RSA-OAEP", "A256GCM")[0]["kid"] == "next"
    deadline = time.monotonic() + 20
    kid = "one"
    while kid == "one" and time.monotonic() < deadline:
        token = retry_until_true(io, rotating)["store_delta"][0]["values"]["token"]
        kid = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["kid"]
        if kid == "one":
            time.sleep(1.0)
    assert kid == "two"
    assert jwe_parts(token, keys.rsa_other.private, "RSA-OAEP", "A256GCM")[1]


# ----------------------------------------------------------------------------- audit (last: it counts every answer)


def read_audit(io: KafkaIO, count: int, timeout: float = 30.0) -> list[tuple[str, dict[str, Any]]]:
    async def read() -> list[tuple[str, dict[str, Any]]]:
        consumer = AIOKafkaConsumer(bootstrap_servers=io.bootstrap, group_id=None, enable_auto_commit=False)
        await consumer.start()
        try:
            topic = io.topic("audit")
            await consumer._client.force_metadata_update()
            partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
            assert partitions, f"{topic} was not created"
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            out: list[tuple[str, dict[str, Any]]] = []
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and len(out) < count:
                for records in (await consumer.getmany(timeout_ms=300)).values():
                    out += [(r.key.decode(), orjson.loads(r.value)) for r in records]
            # anything beyond `count` that is already there would be a duplicate
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                out += [(r.key.decode(), orjson.loads(r.value)) for r in records]
            return out
        finally:
            await consumer.stop()

    result: list[tuple[str, dict[str, Any]]] = io.run(read())
    return result


def test_one_audit_event_per_true_answer_and_none_for_failures(io: KafkaIO, run: Run) -> None:
    io._poll(500)
    true_answers = {key: answers[0][1] for key, answers in io.answers.items() if answers[0][0] == "true"}
    failures = {key for key, answers in io.answers.items() if answers[0][0] == "failure"}
    assert len(true_answers) >= 20 and len(failures) >= 10
    events = read_audit(io, len(true_answers))
    schema = jsonschema.Draft202012Validator(load_schemas()["audit"])
    by_key: dict[str, list[dict[str, Any]]] = {}
    for key, event in events:
        schema.validate(event)
        by_key.setdefault(key, []).append(event)
    assert set(by_key) == set(true_answers), "an audit event for every True answer and for nothing else"
    assert not set(by_key) & failures
    for key, answer in true_answers.items():
        [event] = by_key[key]
        assert event["execution_id"] == answer["execution_id"]
        assert event["config"] == answer["config"]
        assert (event["flow_id"], event["node_id"]) == ("checkout", "jwt-1")
        info = answer["token_info"]
        names = ("alg", "enc", "kid", "iat", "exp")
        assert {k: event[k] for k in names} == {k: info[k] for k in names}
        assert event["jti"] is None and "jti" not in info
        values = answer["store_delta"][0]["values"]
        assert event["token_sha256"] == hashlib.sha256(values["token"].encode()).hexdigest()
        assert event["claims"] == list(values["claims"])
        text = json.dumps(event)
        assert values["token"] not in text and "ada@example.com" not in text and "u-42" not in text
