"""Sealed secrets through Kafka: a worker holding JWTGEN_KEK opens them, and never logs them.

The module's worker gets the key-encryption key in its environment. Configs
carry `{"sealed": ...}` (made with worker.core.sealed.seal) in place of
`password`, `jwk` and `private_key`; the tokens are verified and decrypted by
jwcrypto with the plaintext keys this module holds.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from joserfc.jwk import ECKey, Key, RSAKey
from jwcrypto import jwk

from tests.support.configs import LEAN_CLAIMS, LEAN_TOKEN_CLAIMS, hs256_config, request_for
from tests.support.jose_check import decrypt, verify
from tests.support.kafkaio import KafkaIO, WorkerProcess, check_answer
from tests.support.keys import KeyForms, b64url, oct_jwk, pem_body_lines
from tests.support.processes import jwtgen
from worker.core.sealed import seal

pytestmark = pytest.mark.integration


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
def material(rsa2048: KeyForms, ec_keys: dict[str, KeyForms]) -> Secrets:
    return Secrets(
        kek=RSAKey.generate_key(2048, parameters={"kid": "kek-1"}),
        stranger=ECKey.generate_key("P-256"),
        password="TOP-SECRET-sealed-hmac-" + secrets.token_hex(8),  # 39 bytes
        rsa_pem=rsa2048.pkcs8,
        rsa_public=rsa2048.public,
        ec_jwk=dict(ec_keys["P-384"].jwk),
        ec_public=ec_keys["P-384"].public,
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
    return hs256_config(
        config_id,
        claims=LEAN_CLAIMS,
        signature=signature,
        encryption=encryption,
        store={"variable": "jwt", "attributes": ["token", "kid"]},
    )


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
def worker_env(material: Secrets) -> dict[str, str]:
    """The module's worker (the shared `worker` fixture) holds the KEK."""
    return {"JWTGEN_KEK": orjson.dumps(material.kek.as_dict(private=True)).decode()}


@dataclass
class Run:
    configs: dict[str, dict[str, Any]]
    answers: dict[str, tuple[str, dict[str, Any]]]


@pytest.fixture(scope="module")
def run(io: KafkaIO, material: Secrets) -> Run:
    by_id = configs(material)
    for item in by_id.values():
        io.put_config(item)
    requests = {config_id: request_for(config_id) for config_id in by_id}
    io.send_requests(list(requests.values()))
    answers = io.wait_for([r["execution_id"] for r in requests.values()], timeout=60)
    return Run(by_id, {cid: answers[r["execution_id"]] for cid, r in requests.items()})


def token_of(run: Run, schemas: dict[str, Any], material: Secrets, config_id: str) -> str:
    kind, body = run.answers[config_id]
    assert kind == "true", body
    check_answer(schemas, kind, body)
    text = orjson.dumps(body).decode()
    for plaintext in material.plaintexts():
        assert plaintext not in text
    token: str = body["store_delta"][0]["values"]["token"]
    return token


def test_sealed_password_signs(run: Run, schemas: dict[str, Any], material: Secrets) -> None:
    token = token_of(run, schemas, material, "hs256-sealed-password")
    assert verify(token, oct_jwk(material.password), "HS256", "hs") == LEAN_TOKEN_CLAIMS


def test_sealed_pem_private_key_signs(run: Run, schemas: dict[str, Any], material: Secrets) -> None:
    token = token_of(run, schemas, material, "rs256-sealed-pem")
    assert verify(token, material.rsa_public, "RS256", "rs") == LEAN_TOKEN_CLAIMS


def test_sealed_jwk_private_key_signs(run: Run, schemas: dict[str, Any], material: Secrets) -> None:
    token = token_of(run, schemas, material, "es384-sealed-jwk")
    assert verify(token, material.ec_public, "ES384", "es") == LEAN_TOKEN_CLAIMS


def test_sealed_signing_and_wrapping_passwords_nest(run: Run, schemas: dict[str, Any], material: Secrets) -> None:
    token = token_of(run, schemas, material, "hs256-a128kw-sealed-password")
    header, inner = decrypt(token, oct_jwk(material.wrap_password), "A128KW")
    assert header["cty"] == "JWT" and header["kid"] == "wrap" and header["enc"] == "A256GCM"
    assert verify(inner.decode(), oct_jwk(material.password), "HS256", "hs") == LEAN_TOKEN_CLAIMS


def test_sealed_oct_jwk_encrypts(run: Run, schemas: dict[str, Any], material: Secrets) -> None:
    token = token_of(run, schemas, material, "a256kw-sealed-jwk")
    header, plaintext = decrypt(token, jwk.JWK(**material.wrap_jwk), "A256KW")
    assert header["typ"] == "JWT" and header["alg"] == "A256KW" and header["kid"] == "wrap"
    assert json.loads(plaintext) == LEAN_TOKEN_CLAIMS


@pytest.mark.parametrize("config_id", list(INVALID))
def test_sealed_value_that_does_not_open_is_config_invalid(
    run: Run, schemas: dict[str, Any], material: Secrets, config_id: str
) -> None:
    kind, body = run.answers[config_id]
    assert kind == "failure", body
    check_answer(schemas, kind, body)
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


def test_worker_log_never_contains_a_plaintext_secret(run: Run, worker: WorkerProcess, material: Secrets) -> None:
    assert len(run.answers) == len(run.configs)  # every config was used, so every secret was opened
    log = worker.log()
    assert "Assigned" in log or "assigned" in log  # the log is the worker's, and not empty
    for plaintext in [*material.plaintexts(), "TOP-SECRET"]:
        assert plaintext not in log


def validate(path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return jwtgen("config", "validate", str(path), env=env, timeout=60)


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
