"""Sealed secrets through Kafka: a worker holding JWTGEN_KEK opens them, and never logs them.

A dedicated worker on its own prefix gets the key-encryption key in its
environment. Configs carry `{"sealed": ...}` (made with worker.core.sealed.seal) in
place of `password`, `jwk` and `private_key`; the tokens are verified and
decrypted by jwcrypto with the plaintext keys this module holds.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import ECKey, Key, RSAKey
from jwcrypto import jwe, jwk

from tests.jose_check import verify
from tests.kafkaio import JWTGEN, REPO, KafkaIO, WorkerProcess, free_port, unique_prefix
from worker.core.sealed import seal

pytestmark = pytest.mark.integration

IAT = 1764355200
STORE = {"user": {"id": "u-42", "email": "ada@example.com"}}
CLAIMS = {
    "issuer": "https://idp.example.com",
    "subject": "{{user.id}}",
    "custom": [{"key": "email", "value": "{{user.email}}", "type": "String"}],
}
EXPECTED_CLAIMS = {
    "iat": IAT,
    "exp": IAT + 600,
    "iss": "https://idp.example.com",
    "sub": "u-42",
    "email": "ada@example.com",
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def pem_body_lines(pem: str) -> list[str]:
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


@dataclass
class Secrets:
    """Plaintext key material this module seals; none of it may reach Kafka answers or the worker log."""

    kek: RSAKey  # the workers' key-encryption key (private)
    stranger: ECKey  # a key-encryption key no worker holds
    password: str  # HS256
    rsa_pem: str  # RS256, PKCS#8
    rsa_public: jwk.JWK
    ec_jwk: dict[str, Any]  # ES384 private JWK
    ec_public: jwk.JWK
    wrap_password: str  # A128KW, 16 bytes
    wrap_jwk: dict[str, Any]  # A256KW oct JWK

    def plaintexts(self) -> list[str]:
        out = [self.password, self.wrap_password, self.wrap_jwk["k"], self.ec_jwk["d"]]
        out += pem_body_lines(self.rsa_pem)
        out.append(self.kek.as_dict(private=True)["d"])
        return out


@pytest.fixture(scope="module")
def material() -> Secrets:
    kek = RSAKey.generate_key(2048, parameters={"kid": "kek-1"})
    native = rsa.generate_private_key(65537, 2048)
    rsa_pem = native.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    ec_native = ec.generate_private_key(ec.SECP384R1())
    ec_pem = ec_native.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    ec_private = jwk.JWK.from_pem(ec_pem)
    ec_jwk = ec_private.export_private(as_dict=True)
    ec_jwk.pop("kid", None)
    return Secrets(
        kek=kek,
        stranger=ECKey.generate_key("P-256"),
        password="TOP-SECRET-sealed-hmac-" + secrets.token_hex(8),  # 39 bytes
        rsa_pem=rsa_pem,
        rsa_public=jwk.JWK.from_pem(rsa_pem.encode()),
        ec_jwk=ec_jwk,
        ec_public=ec_private,
        wrap_password="TOP-SECRET-" + secrets.token_hex(3)[:5],  # 16 bytes
        wrap_jwk={"kty": "oct", "k": b64url(secrets.token_bytes(32))},
    )


def public_of(key: Key) -> Key:
    return type(key).import_key(key.as_dict(private=False))


def sealed(secret: str, material: Secrets) -> dict[str, Any]:
    """Sealed to the public half of the workers' KEK, as an operator would."""
    value = seal(secret, public_of(material.kek))
    assert set(value) == {"sealed"} and secret not in value["sealed"]
    return value


def config(
    config_id: str, signature: dict[str, Any] | None, encryption: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "id": config_id,
        "version": 1,
        "ttl": 600,
        "claims": CLAIMS,
        "signature": signature,
        "encryption": encryption,
        "store": {"variable": "jwt", "attributes": ["token", "kid"]},
    }


def request_for(config_id: str) -> dict[str, Any]:
    return {
        "execution_id": str(uuid.uuid4()),
        "flow": {"id": "login", "type": "Authentication"},
        "node": {"id": "jwt-1"},
        "config": {"id": config_id},
        "store": STORE,
        "issued_at": IAT,
    }


def configs(material: Secrets) -> dict[str, dict[str, Any]]:
    m = material
    stranger_sealed = seal(m.password, public_of(m.stranger))
    return {
        "hs256-sealed-password": config(
            "hs256-sealed-password",
            {"type": "symmetric", "alg": "HS256", "kid": "hs", "password": sealed(m.password, m)},
        ),
        "rs256-sealed-pem": config(
            "rs256-sealed-pem",
            {
                "type": "asymmetric",
                "key_type": "RSA",
                "alg": "RS256",
                "kid": "rs",
                "private_key": sealed(m.rsa_pem, m),
            },
        ),
        "es384-sealed-jwk": config(
            "es384-sealed-jwk",
            {
                "type": "asymmetric",
                "key_type": "EC",
                "alg": "ES384",
                "kid": "es",
                "private_key": sealed(json.dumps(m.ec_jwk), m),
            },
        ),
        "hs256-a128kw-sealed-password": config(
            "hs256-a128kw-sealed-password",
            {"type": "symmetric", "alg": "HS256", "kid": "hs", "password": sealed(m.password, m)},
            {"type": "symmetric", "alg": "A128KW", "kid": "wrap", "password": sealed(m.wrap_password, m)},
        ),
        "a256kw-sealed-jwk": config(
            "a256kw-sealed-jwk",
            None,
            {"type": "symmetric", "alg": "A256KW", "kid": "wrap", "jwk": sealed(json.dumps(m.wrap_jwk), m)},
        ),
        # sealed values that do not open, or open to unusable material
        "sealed-to-another-kek": config(
            "sealed-to-another-kek",
            {"type": "symmetric", "alg": "HS256", "password": stranger_sealed},
        ),
        "sealed-not-a-jwe": config(
            "sealed-not-a-jwe",
            {"type": "asymmetric", "key_type": "RSA", "alg": "RS256", "private_key": {"sealed": "not.a.jwe.at.all"}},
        ),
        "sealed-tampered": config(
            "sealed-tampered",
            None,
            {"type": "symmetric", "alg": "A256KW", "jwk": tamper(sealed(json.dumps(m.wrap_jwk), m))},
        ),
        "sealed-opens-to-garbage": config(
            "sealed-opens-to-garbage",
            {"type": "asymmetric", "key_type": "RSA", "alg": "RS256", "private_key": sealed("TOP-SECRET-no-key", m)},
        ),
    }


def tamper(value: dict[str, Any]) -> dict[str, Any]:
    """Flip one character of the JWE ciphertext: the authentication tag no longer matches."""
    parts = value["sealed"].split(".")
    parts[3] = ("A" if parts[3][0] != "A" else "B") + parts[3][1:]
    return {"sealed": ".".join(parts)}


INVALID = {
    "sealed-to-another-kek": "signature.password",
    "sealed-not-a-jwe": "signature.private_key",
    "sealed-tampered": "encryption.jwk",
    "sealed-opens-to-garbage": "signature.private_key",
}


@pytest.fixture(scope="module")
def sealed_worker(kafka: str, material: Secrets, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    log = Path(tmp_path_factory.mktemp("sealed")) / "worker.log"
    kek_json = orjson.dumps(material.kek.as_dict(private=True)).decode()
    proc = WorkerProcess(unique_prefix("sealed"), kafka, free_port(), log, extra_env={"JWTGEN_KEK": kek_json})
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@dataclass
class Run:
    configs: dict[str, dict[str, Any]]
    answers: dict[str, tuple[str, dict[str, Any]]]


@pytest.fixture(scope="module")
def run(kafka: str, sealed_worker: WorkerProcess, material: Secrets) -> Iterator[Run]:
    io = KafkaIO(kafka, sealed_worker.prefix).open()
    try:
        by_id = configs(material)
        for item in by_id.values():
            io.put_config(item)
        requests = {config_id: request_for(config_id) for config_id in by_id}
        io.send_requests(list(requests.values()))
        answers = io.wait_for([r["execution_id"] for r in requests.values()], timeout=60)
        yield Run(by_id, {cid: answers[r["execution_id"]] for cid, r in requests.items()})
    finally:
        io.close()


def check_schema(schemas: dict[str, Any], kind: str, body: dict[str, Any]) -> None:
    jsonschema.validate(body, schemas[{"true": "success", "failure": "failure"}[kind]])


def token_of(run: Run, schemas: dict[str, Any], material: Secrets, config_id: str) -> str:
    kind, body = run.answers[config_id]
    assert kind == "true", body
    check_schema(schemas, kind, body)
    text = orjson.dumps(body).decode()
    for plaintext in material.plaintexts():
        assert plaintext not in text
    token: str = body["store_delta"][0]["values"]["token"]
    return token


def decrypt(token: str, key: jwk.JWK, alg: str) -> tuple[dict[str, Any], bytes]:
    obj = jwe.JWE()
    obj.allowed_algs = [alg, "A256GCM"]
    obj.deserialize(token, key=key)
    return dict(obj.jose_header), bytes(obj.plaintext)


def oct_key(raw: bytes) -> jwk.JWK:
    return jwk.JWK(kty="oct", k=b64url(raw))


def test_sealed_password_signs(run: Run, schemas: dict[str, Any], material: Secrets) -> None:
    token = token_of(run, schemas, material, "hs256-sealed-password")
    assert verify(token, oct_key(material.password.encode()), "HS256", "hs") == EXPECTED_CLAIMS


def test_sealed_pem_private_key_signs(run: Run, schemas: dict[str, Any], material: Secrets) -> None:
    token = token_of(run, schemas, material, "rs256-sealed-pem")
    assert verify(token, material.rsa_public, "RS256", "rs") == EXPECTED_CLAIMS


def test_sealed_jwk_private_key_signs(run: Run, schemas: dict[str, Any], material: Secrets) -> None:
    token = token_of(run, schemas, material, "es384-sealed-jwk")
    assert verify(token, material.ec_public, "ES384", "es") == EXPECTED_CLAIMS


def test_sealed_signing_and_wrapping_passwords_nest(run: Run, schemas: dict[str, Any], material: Secrets) -> None:
    token = token_of(run, schemas, material, "hs256-a128kw-sealed-password")
    header, inner = decrypt(token, oct_key(material.wrap_password.encode()), "A128KW")
    assert header["cty"] == "JWT" and header["kid"] == "wrap" and header["enc"] == "A256GCM"
    assert verify(inner.decode(), oct_key(material.password.encode()), "HS256", "hs") == EXPECTED_CLAIMS


def test_sealed_oct_jwk_encrypts(run: Run, schemas: dict[str, Any], material: Secrets) -> None:
    token = token_of(run, schemas, material, "a256kw-sealed-jwk")
    header, plaintext = decrypt(token, jwk.JWK(**material.wrap_jwk), "A256KW")
    assert header["typ"] == "JWT" and header["alg"] == "A256KW" and header["kid"] == "wrap"
    assert json.loads(plaintext) == EXPECTED_CLAIMS


@pytest.mark.parametrize("config_id", list(INVALID))
def test_sealed_value_that_does_not_open_is_config_invalid(
    run: Run, schemas: dict[str, Any], material: Secrets, config_id: str
) -> None:
    kind, body = run.answers[config_id]
    assert kind == "failure", body
    check_schema(schemas, kind, body)
    error = body["error"]
    assert error["code"] == "CONFIG_INVALID" and error["retryable"] is False
    assert INVALID[config_id] in error["message"], error["message"]
    text = orjson.dumps(body).decode()
    for plaintext in [*material.plaintexts(), "TOP-SECRET-no-key"]:
        assert plaintext not in text
    # the sealed JWE itself is not echoed either
    sealed_values = [
        v for section in ("signature", "encryption") for v in (run.configs[config_id][section] or {}).values()
    ]
    for value in sealed_values:
        if isinstance(value, dict) and isinstance(value.get("sealed"), str) and len(value["sealed"]) > 40:
            assert value["sealed"] not in text


def test_worker_log_never_contains_a_plaintext_secret(
    run: Run, sealed_worker: WorkerProcess, material: Secrets
) -> None:
    assert len(run.answers) == len(run.configs)  # every config was used, so every secret was opened
    log = sealed_worker.log()
    assert "Assigned" in log or "assigned" in log  # the log is the worker's, and not empty
    for plaintext in [*material.plaintexts(), "TOP-SECRET"]:
        assert plaintext not in log


def validate(path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*JWTGEN, "config", "validate", str(path)], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )


def test_cli_validate_opens_sealed_secrets_with_the_kek_only(material: Secrets, tmp_path: Path) -> None:
    path = tmp_path / "sealed.json"
    path.write_bytes(orjson.dumps(configs(material)["rs256-sealed-pem"]))
    env = {k: v for k, v in os.environ.items() if k not in ("JWTGEN_KEK", "JWTGEN_KEK_FILE")}
    without = validate(path, env)
    assert without.returncode == 1, without.stdout + without.stderr
    assert "signature.private_key" in without.stdout and "JWTGEN_KEK" in without.stdout
    kek_file = tmp_path / "kek.json"
    kek_file.write_bytes(orjson.dumps(material.kek.as_dict(private=True)))
    with_kek = validate(path, {**env, "JWTGEN_KEK_FILE": str(kek_file)})
    assert with_kek.returncode == 0, with_kek.stdout + with_kek.stderr
    assert f"{path}: ok" in with_kek.stdout
    for output in (without, with_kek):
        for plaintext in material.plaintexts():
            assert plaintext not in output.stdout + output.stderr
