"""`jwtgen preview` (worker/cli/preview.py) with click's CliRunner: every new config option, failures, --decrypt,
and the same token as the worker's own code path (worker.core.handler) for a deterministic config.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives import serialization
from jwcrypto import jwk as cjwk

from tests.support.configs import HS256_SECRET, IAT, STORE, base_config, hs256, request_for
from tests.support.jose_check import decrypt, verify
from tests.support.jwks_server import JwksServer
from tests.support.keys import KeyForms, oct_jwk
from tests.support.pki import CA, KEY_ENCIPHERMENT, der_b64, pem, thumbprints
from worker.cli.main import main
from worker.core import events
from worker.core.configtable import ConfigTable
from worker.core.handler import RecordRef, Route, answer
from worker.core.keygen import generate_keypair
from worker.core.sealed import seal

PASSWORD = "TOP-SECRET-preview-pw"


@pytest.fixture(scope="module")
def ca() -> CA:
    return CA.create()


@pytest.fixture
def files(tmp_path: Path) -> Iterator[Any]:
    def write(name: str, content: Any) -> str:
        path = tmp_path / name
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        return str(path)

    yield write


def preview(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, ["preview", *args], env=env)


def preview_json(config_file: str, store_file: str, *extra: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = preview(
        config_file, "--store", store_file, "--issued-at", str(IAT), "--execution-id", "e-1", "--json", *extra, env=env
    )
    assert result.exit_code == 0, result.output
    shown: dict[str, Any] = orjson.loads(result.stdout)
    return shown


def deterministic_config() -> dict[str, Any]:
    """HS256 (deterministic) with every claim option and extra headers."""
    return base_config(
        id="preview",
        version=4,
        max_token_bytes=2000,
        claims={
            "issuer": "https://idp.example.com/{{tenant.id}}",
            "issuer_on_missing": "default",
            "issuer_default": "https://idp.example.com/",
            "subject": "{{user.id}}",
            "aud": ["https://api.example.com", "{{user.email}}"],
            "jti": True,
            "custom": [
                {"key": "roles", "value": "{{user.roles}}", "type": "Array"},
                {"key": "dept", "value": "{{user.dept}}", "type": "String", "on_missing": "omit"},
                {"key": "level", "value": "{{user.level}}", "type": "Number", "on_missing": "default", "default": 1},
            ],
        },
        signature={**hs256(HS256_SECRET), "headers": {"typ": "at+jwt", "tenant": "t-7"}},
        store={"variable": "jwt", "attributes": ["token", "header", "claims", "jti"], "frontend": True},
    )


def test_preview_shows_header_claims_token_size_and_store(files: Any) -> None:
    shown = preview_json(files("c.json", deterministic_config()), files("s.json", STORE))
    token = shown["token"]
    claims = verify_with_header(token, {"alg": "HS256", "typ": "at+jwt", "kid": "hs-1", "tenant": "t-7"})
    assert claims == shown["claims"]
    assert claims["iss"] == "https://idp.example.com/" and claims["aud"] == [
        "https://api.example.com",
        "ada@example.com",
    ]
    assert claims["level"] == 1 and "dept" not in claims and claims["iat"] == IAT
    assert shown["header"] == {"alg": "HS256", "typ": "at+jwt", "kid": "hs-1", "tenant": "t-7"}
    assert shown["size_bytes"] == len(token.encode())
    assert shown["store_delta"] == [
        {
            "variable": "jwt",
            "values": {"token": token, "header": shown["header"], "claims": claims, "jti": claims["jti"]},
            "frontend": True,
        }
    ]
    assert shown["config"] == {"id": "preview", "version": 4} and shown["execution_id"] == "e-1"


def verify_with_header(token: str, header: dict[str, Any]) -> dict[str, Any]:
    from jwcrypto import jws

    obj = jws.JWS()
    obj.allowed_algs = ["HS256"]
    obj.deserialize(token)
    obj.verify(oct_jwk(HS256_SECRET), alg="HS256")
    assert obj.jose_header == header
    claims: dict[str, Any] = json.loads(obj.payload)
    return claims


def test_preview_gives_the_token_the_worker_answers_with(files: Any) -> None:
    config = deterministic_config()
    shown = preview_json(files("c.json", config), files("s.json", STORE))
    table = ConfigTable()
    table.apply(b"preview", orjson.dumps(config))
    value = orjson.dumps(request_for("preview", 4, execution_id="e-1"))
    worker_answer = answer(RecordRef("p.requests", 0, 0, None, b"e-1", value), events.parse_request(value), table)
    assert worker_answer.route is Route.TRUE
    body = orjson.loads(worker_answer.value)
    assert body["store_delta"] == shown["store_delta"]
    assert body["token_info"] == shown["token_info"]


def test_human_output_has_labelled_sections(files: Any) -> None:
    result = preview(files("c.json", deterministic_config()), "--store", files("s.json", STORE), "--issued-at", "5")
    assert result.exit_code == 0, result.output
    for label in ("protected header:", "claims:", "bytes):", "token_info:", "store_delta (saved to the flow store):"):
        assert label in result.output


@pytest.mark.parametrize(
    ("overrides", "store", "code", "needle"),
    [
        ({}, {"user": {"email": "a@b"}}, "VARIABLE_NOT_FOUND", "claims.subject"),
        ({"max_token_bytes": 100}, STORE, "TOKEN_TOO_LARGE", "over the limit of 100"),
        (
            {"signature": {**hs256(HS256_SECRET), "headers": {"alg": "none"}}},
            STORE,
            "CONFIG_INVALID",
            "signature.headers.alg",
        ),
    ],
)
def test_a_failure_prints_its_code_and_message_and_exits_1(
    files: Any, overrides: dict[str, Any], store: dict[str, Any], code: str, needle: str
) -> None:
    config = {**deterministic_config(), **overrides}
    result = preview(files("c.json", config), "--store", files("s.json", store))
    assert result.exit_code == 1
    assert result.output.startswith(f"Failure {code}: ") and needle in result.output
    as_json = preview(files("c.json", config), "--store", files("s.json", store), "--json")
    assert as_json.exit_code == 1 and orjson.loads(as_json.stdout)["error"]["code"] == code


def test_store_is_optional_but_must_be_an_object(files: Any) -> None:
    config = base_config(claims={"iss": False, "sub": False, "aud": "api"})
    assert preview(files("c.json", config)).exit_code == 0
    bad = preview(files("c.json", config), "--store", files("s.json", [1]))
    assert bad.exit_code != 0 and "must be a JSON object" in bad.output


# ----------------------------------------------------------------------------- --decrypt and key sources


def test_decrypt_shows_the_inner_token_of_a_nested_jwt(files: Any, rsa2048: KeyForms) -> None:
    encryption = {"type": "asymmetric", "key_type": "RSA", "alg": "RSA-OAEP-256", "public_key": rsa2048.public_pem}
    config = {**deterministic_config(), "encryption": encryption, "max_token_bytes": None}
    shown = preview_json(files("c.json", config), files("s.json", STORE), "--decrypt", files("k.pem", rsa2048.pkcs8))
    inner = shown["decrypted"]
    assert verify_with_header(inner["token"], inner["header"]) == inner["claims"] == shown["claims"]
    _, plaintext = decrypt(shown["token"], rsa2048.private, "RSA-OAEP-256")
    assert plaintext.decode() == inner["token"]
    assert shown["header"]["cty"] == "JWT" and shown["header"]["alg"] == "RSA-OAEP-256"


def test_decrypt_with_a_password_file_and_a_jwk_file(files: Any) -> None:
    pbes2 = {"type": "symmetric", "alg": "PBES2-HS384+A192KW", "password": PASSWORD, "iterations": 1000}
    config = base_config(signature=None, encryption=pbes2)
    shown = preview_json(files("c.json", config), files("s.json", STORE), "--decrypt", files("pw.txt", PASSWORD + "\n"))
    assert shown["decrypted"] == {"claims": shown["claims"]}
    assert shown["header"]["p2c"] == 1000
    private, _ = generate_keypair("oct", None, None, "A128KW", "w")
    config = base_config(encryption={"type": "symmetric", "alg": "A128KW", "jwk": private})
    shown = preview_json(files("c.json", config), files("s.json", STORE), "--decrypt", files("k.json", private))
    assert shown["decrypted"]["claims"]["sub"] == "u-42"


def test_decrypt_refuses_a_wrong_key_and_a_jws(files: Any, rsa2048: KeyForms, rsa2048_other: KeyForms) -> None:
    encryption = {"type": "asymmetric", "key_type": "RSA", "alg": "RSA-OAEP", "public_key": rsa2048.public_pem}
    config = base_config(encryption=encryption)
    wrong = preview(
        files("c.json", config), "--store", files("s.json", STORE), "--decrypt", files("k.pem", rsa2048_other.pkcs8)
    )
    assert wrong.exit_code != 0 and "does not open this JWE" in wrong.output
    jws_only = preview(
        files("c.json", base_config()), "--store", files("s.json", STORE), "--decrypt", files("k.pem", rsa2048.pkcs8)
    )
    assert jws_only.exit_code != 0 and "not a JWE" in jws_only.output


def test_sealed_encrypted_pkcs8_opens_with_the_environment_s_kek(files: Any, ec_keys: dict[str, KeyForms]) -> None:
    from joserfc.jwk import import_key

    kek_private, kek_public = generate_keypair("EC", None, "P-256", "ECDH-ES+A256KW", "kek")
    forms = ec_keys["P-384"]
    encrypted = forms.native.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSWORD.encode()),
    ).decode()
    sig = {
        "type": "asymmetric",
        "key_type": "EC",
        "alg": "ES384",
        "kid": "e",
        "private_key": encrypted,
        "private_key_password": seal(PASSWORD, import_key(kek_public)),
    }
    config_file, store_file = files("c.json", base_config(signature=sig)), files("s.json", STORE)
    shown = preview_json(config_file, store_file, env={"JWTGEN_KEK": json.dumps(kek_private)})
    assert verify(shown["token"], forms.public, "ES384", "e") == shown["claims"]
    without = preview(config_file, "--store", store_file, env={"JWTGEN_KEK": ""})
    assert without.exit_code == 1 and "signature.private_key_password" in without.output
    assert PASSWORD not in without.output


def test_certificate_and_x5c(files: Any, rsa2048: KeyForms, ec_keys: dict[str, KeyForms], ca: CA) -> None:
    recipient = ca.issue(rsa2048.native.public_key(), "recipient", usage=KEY_ENCIPHERMENT)
    forms = ec_keys["P-256"]
    signer = ca.issue(forms.native.public_key(), "signer")
    sig = {
        "type": "asymmetric",
        "key_type": "EC",
        "alg": "ES256",
        "kid": "s",
        "private_key": forms.pkcs8,
        "headers": {"x5c": [der_b64(signer)], "x5t#S256": thumbprints(signer)["x5t#S256"]},
    }
    encryption = {"type": "asymmetric", "key_type": "RSA", "alg": "RSA-OAEP", "certificate": pem(recipient)}
    config = base_config(signature=sig, encryption=encryption)
    shown = preview_json(files("c.json", config), files("s.json", STORE), "--decrypt", files("k.pem", rsa2048.pkcs8))
    inner = shown["decrypted"]
    assert inner["header"]["x5c"] == [der_b64(signer)]
    assert verify_jws_any_header(inner["token"], forms.public, "ES256") == shown["claims"]


def verify_jws_any_header(token: str, key: cjwk.JWK, alg: str) -> dict[str, Any]:
    from jwcrypto import jws

    obj = jws.JWS()
    obj.allowed_algs = [alg]
    obj.deserialize(token)
    obj.verify(key, alg=alg)
    claims: dict[str, Any] = json.loads(obj.payload)
    return claims


def test_inline_and_fetched_jwks(files: Any, rsa2048: KeyForms, ca: CA, tmp_path: Path) -> None:
    jwks = {"keys": [{**rsa2048.public_jwk, "kid": "r-1", "use": "enc"}]}
    inline = {"type": "asymmetric", "key_type": "RSA", "alg": "RSA-OAEP-256", "jwks": jwks}
    shown = preview_json(files("c.json", base_config(encryption=inline)), files("s.json", STORE))
    assert shown["header"]["kid"] == "r-1"
    server = JwksServer(ca, tmp_path).start()
    try:
        url = server.serve("/jwks", jwks["keys"])
        remote = {"type": "asymmetric", "key_type": "RSA", "alg": "RSA-OAEP-256", "kid": "r-1", "jwks_url": url}
        config_file = files("c.json", base_config(signature=None, encryption=remote))
        env = {"JWTGEN_JWKS_CA_FILE": str(ca.write(tmp_path / "ca.pem"))}
        shown = preview_json(config_file, files("s.json", STORE), env=env)
        header, plaintext = decrypt(shown["token"], rsa2048.private, "RSA-OAEP-256")
        assert header["kid"] == "r-1" and json.loads(plaintext) == shown["claims"]
        assert shown["token_info"]["kid"] == "r-1"
        server.stop()
        down = preview(config_file, "--store", files("s.json", STORE), env=env)
        assert down.exit_code == 1 and "Failure KEY_UNAVAILABLE: encryption.jwks_url" in down.stdout
    finally:
        server.stop()
