"""Key sources of the config: encrypted PKCS#8 with private_key_password, PBES2 passwords, X.509 certificates,
inline JWKS (worker/core/config/signature.py, config/encryption.py, certs.py); tokens checked by jwcrypto.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from jwcrypto import jwe as cjwe
from jwcrypto import jwk as cjwk

from tests.support.configs import HS256_SECRET, IAT, STORE, base_config, hs256
from tests.support.jose_check import decrypt, verify
from tests.support.keys import KeyForms
from tests.support.pki import CA, KEY_AGREEMENT, KEY_ENCIPHERMENT, SIGNING, pem
from tests.support.problems import assert_problem
from worker.core.engine import compile_config, generate
from worker.core.keygen import generate_keypair
from worker.core.sealed import seal

PASSWORD = "TOP-SECRET-pkcs8-password"


def token_of(config: dict[str, Any], kek: Any = None) -> str:
    return generate(compile_config(config, kek=kek), store=STORE, iat=IAT, execution_id="e").token


def encrypted_pem(forms: KeyForms, password: str = PASSWORD, fmt: str = "PKCS8") -> str:
    return str(
        forms.native.private_bytes(
            serialization.Encoding.PEM,
            getattr(serialization.PrivateFormat, fmt),
            serialization.BestAvailableEncryption(password.encode()),
        ).decode()
    )


@pytest.fixture(scope="module")
def ca() -> CA:
    return CA.create()


# ----------------------------------------------------------------------------- private_key_password


class TestEncryptedPrivateKey:
    @pytest.mark.parametrize("fmt", ["PKCS8", "TraditionalOpenSSL"])
    def test_signs_with_the_opened_key(self, rsa2048: KeyForms, fmt: str) -> None:
        sig = {
            "type": "asymmetric",
            "key_type": "RSA",
            "alg": "PS256",
            "kid": "p8",
            "private_key": encrypted_pem(rsa2048, fmt=fmt),
            "private_key_password": PASSWORD,
        }
        assert verify(token_of(base_config(signature=sig)), rsa2048.public, "PS256", "p8")["sub"] == "u-42"

    def test_sealed_key_and_sealed_password(self, ec_keys: dict[str, KeyForms]) -> None:
        private, public = generate_keypair("RSA", None, None, "RSA-OAEP-256", "kek")
        from joserfc.jwk import import_key

        forms = ec_keys["P-256"]
        sig = {
            "type": "asymmetric",
            "key_type": "EC",
            "alg": "ES256",
            "kid": "e1",
            "private_key": seal(encrypted_pem(forms), import_key(public)),
            "private_key_password": seal(PASSWORD, import_key(public)),
        }
        assert verify(token_of(base_config(signature=sig), kek=import_key(private)), forms.public, "ES256", "e1")

    @pytest.mark.parametrize(
        ("password", "which", "needle"),
        [
            (None, "private_key", "private_key_password"),
            ("TOP-SECRET-wrong", "private_key_password", "does not open"),
            ("", "private_key_password", "non-empty string"),
        ],
    )
    def test_problems_name_the_field_at_fault(
        self, rsa2048: KeyForms, password: str | None, which: str, needle: str
    ) -> None:
        sig = {"type": "asymmetric", "key_type": "RSA", "alg": "RS256", "private_key": encrypted_pem(rsa2048)}
        if password is not None:
            sig["private_key_password"] = password
        found = assert_problem(base_config(signature=sig), f"signature.{which}", needle)
        assert all("TOP-SECRET" not in problem for problem in found)

    def test_password_for_a_plain_key_or_a_symmetric_signature(self, rsa2048: KeyForms) -> None:
        sig = {
            "type": "asymmetric",
            "key_type": "RSA",
            "alg": "RS256",
            "private_key": rsa2048.pkcs8,
            "private_key_password": "pw",
        }
        assert_problem(base_config(signature=sig), "signature.private_key_password", "not encrypted")
        sig = {**hs256(HS256_SECRET), "private_key_password": "pw"}
        assert_problem(base_config(signature=sig), "signature.private_key_password", "not used by symmetric")


# ----------------------------------------------------------------------------- PBES2


PBES2 = {"PBES2-HS256+A128KW": "A128GCM", "PBES2-HS384+A192KW": "A192CBC-HS384", "PBES2-HS512+A256KW": "A256GCM"}


class TestPbes2:
    @pytest.mark.parametrize(("alg", "enc"), list(PBES2.items()))
    def test_decrypted_by_jwcrypto_with_the_password(self, alg: str, enc: str) -> None:
        password = "TOP-SECRET correct horse"
        encryption = {
            "type": "symmetric",
            "alg": alg,
            "enc": enc,
            "kid": "pw-1",
            "password": password,
            "iterations": 1200,
            "salt_bytes": 24,
        }
        token = token_of(base_config(signature=None, encryption=encryption))
        key = cjwk.JWK(kty="oct", k=cjwk.base64url_encode(password.encode()))
        header, plaintext = decrypt(token, key, alg, enc)
        assert header["p2c"] == 1200 and len(cjwk.base64url_decode(header["p2s"])) == 24
        assert header["kid"] == "pw-1" and header["typ"] == "JWT"
        assert json.loads(plaintext)["sub"] == "u-42"

    def test_defaults_and_a_fresh_salt_per_token(self) -> None:
        encryption = {
            "type": "symmetric",
            "alg": "PBES2-HS256+A128KW",
            "jwk": {"kty": "oct", "k": "VE9QLVNFQ1JFVC1rZXk"},
        }
        compiled = compile_config(base_config(encryption=encryption))
        tokens = [generate(compiled, store=STORE, iat=IAT, execution_id="e").token for _ in range(2)]
        headers = [json.loads(cjwk.base64url_decode(t.split(".")[0])) for t in tokens]
        assert [h["p2c"] for h in headers] == [8192, 8192]
        assert len(cjwk.base64url_decode(headers[0]["p2s"])) == 16
        assert headers[0]["p2s"] != headers[1]["p2s"]
        obj = cjwe.JWE()
        obj.deserialize(tokens[0], key=cjwk.JWK(kty="oct", k="VE9QLVNFQ1JFVC1rZXk"))
        assert (
            verify(
                obj.payload.decode(),
                cjwk.JWK(kty="oct", k=cjwk.base64url_encode(HS256_SECRET.encode())),
                "HS256",
                "hs-1",
            )["sub"]
            == "u-42"
        )

    @pytest.mark.parametrize(
        ("fields", "field", "needle"),
        [
            ({"iterations": 999}, "encryption.iterations", "from 1000 to 300000"),
            ({"iterations": 300_001}, "encryption.iterations", "300000"),
            ({"iterations": "2000"}, "encryption.iterations", "integer"),
            ({"salt_bytes": 7}, "encryption.salt_bytes", "from 8 to 64"),
            ({"password": "short"}, "encryption.password", "at least 8 bytes"),
        ],
    )
    def test_validation(self, fields: dict[str, Any], field: str, needle: str) -> None:
        encryption = {"type": "symmetric", "alg": "PBES2-HS512+A256KW", "password": "long enough", **fields}
        assert_problem(base_config(encryption=encryption), field, needle)

    def test_iterations_only_for_pbes2(self) -> None:
        encryption = {"type": "symmetric", "alg": "A128KW", "password": "0123456789abcdef", "iterations": 5000}
        assert_problem(base_config(encryption=encryption), "encryption.iterations", "only PBES2")


# ----------------------------------------------------------------------------- certificate


class TestCertificate:
    def test_rsa_certificate(self, rsa2048: KeyForms, ca: CA) -> None:
        cert = ca.issue(rsa2048.native.public_key(), "recipient", usage=KEY_ENCIPHERMENT)
        encryption = {"type": "asymmetric", "key_type": "RSA", "alg": "RSA-OAEP-256", "certificate": pem(cert)}
        token = token_of(base_config(signature=None, encryption=encryption))
        header, plaintext = decrypt(token, rsa2048.private, "RSA-OAEP-256")
        assert header["kid"] == rsa2048.thumbprint()
        assert json.loads(plaintext)["sub"] == "u-42"

    def test_ec_certificate_with_key_agreement(self, ec_keys: dict[str, KeyForms], ca: CA) -> None:
        forms = ec_keys["P-384"]
        cert = ca.issue(forms.native.public_key(), "recipient", usage=KEY_AGREEMENT)
        encryption = {
            "type": "asymmetric",
            "key_type": "EC",
            "alg": "ECDH-ES+A256KW",
            "kid": "c",
            "certificate": pem(cert),
        }
        _, plaintext = decrypt(token_of(base_config(encryption=encryption)), forms.private, "ECDH-ES+A256KW")
        assert (
            verify(
                plaintext.decode(), cjwk.JWK(kty="oct", k=cjwk.base64url_encode(HS256_SECRET.encode())), "HS256", "hs-1"
            )["sub"]
            == "u-42"
        )

    def test_a_certificate_in_public_key_is_checked_the_same(self, rsa2048: KeyForms, ca: CA) -> None:
        cert = ca.issue(rsa2048.native.public_key(), "recipient", usage=KEY_ENCIPHERMENT)
        encryption = {"type": "asymmetric", "key_type": "RSA", "alg": "RSA-OAEP", "public_key": pem(cert)}
        _, plaintext = decrypt(
            token_of(base_config(signature=None, encryption=encryption)), rsa2048.private, "RSA-OAEP"
        )
        assert json.loads(plaintext)["sub"] == "u-42"
        encryption["public_key"] = pem(ca.issue(rsa2048.native.public_key(), "old", expired=True))
        assert_problem(base_config(encryption=encryption), "encryption.public_key", "expired")

    def test_expired_certificate(self, rsa2048: KeyForms, ca: CA) -> None:
        cert = ca.issue(rsa2048.native.public_key(), "old", expired=True)
        encryption = {"type": "asymmetric", "key_type": "RSA", "alg": "RSA-OAEP", "certificate": pem(cert)}
        assert_problem(base_config(encryption=encryption), "encryption.certificate", "expired")

    def test_key_usage_must_allow_the_content_key(self, rsa2048: KeyForms, ca: CA) -> None:
        cert = ca.issue(rsa2048.native.public_key(), "signing only", usage=SIGNING)
        encryption = {"type": "asymmetric", "key_type": "RSA", "alg": "RSA-OAEP", "certificate": pem(cert)}
        assert_problem(base_config(encryption=encryption), "encryption.certificate", "key usage")

    def test_not_a_certificate_and_type_mismatch(self, rsa2048: KeyForms, ca: CA) -> None:
        encryption = {"type": "asymmetric", "key_type": "RSA", "alg": "RSA-OAEP", "certificate": rsa2048.public_pem}
        assert_problem(base_config(encryption=encryption), "encryption.certificate", "not a PEM certificate")
        cert = ca.issue(rsa2048.native.public_key(), "rsa")
        encryption = {"type": "asymmetric", "key_type": "EC", "alg": "ECDH-ES", "certificate": pem(cert)}
        assert_problem(base_config(encryption=encryption), "encryption.certificate", "RSA key, key_type is EC")

    def test_one_key_source_only(self, rsa2048: KeyForms, ca: CA) -> None:
        cert = ca.issue(rsa2048.native.public_key(), "rsa")
        encryption = {
            "type": "asymmetric",
            "key_type": "RSA",
            "alg": "RSA-OAEP",
            "certificate": pem(cert),
            "public_key": rsa2048.public_pem,
        }
        assert_problem(base_config(encryption=encryption), "encryption.certificate", "one key source")


# ----------------------------------------------------------------------------- inline JWKS


class TestInlineJwks:
    def jwks(self, rsa2048: KeyForms, ec_keys: dict[str, KeyForms]) -> dict[str, Any]:
        return {
            "keys": [
                {**ec_keys["P-256"].public_jwk, "kid": "sig-ec", "use": "sig"},
                {**rsa2048.public_jwk, "kid": "rsa-enc", "use": "enc"},
                {**ec_keys["P-256"].public_jwk, "kid": "ec-enc", "alg": "ECDH-ES"},
            ]
        }

    def test_first_fitting_key_and_its_kid(self, rsa2048: KeyForms, ec_keys: dict[str, KeyForms]) -> None:
        encryption = {"type": "asymmetric", "key_type": "EC", "alg": "ECDH-ES", "jwks": self.jwks(rsa2048, ec_keys)}
        header, _ = decrypt(token_of(base_config(encryption=encryption)), ec_keys["P-256"].private, "ECDH-ES")
        assert header["kid"] == "ec-enc"  # "sig-ec" is for signing

    def test_chosen_by_kid_given_as_json_text(self, rsa2048: KeyForms, ec_keys: dict[str, KeyForms]) -> None:
        encryption = {
            "type": "asymmetric",
            "key_type": "RSA",
            "alg": "RSA-OAEP",
            "kid": "rsa-enc",
            "jwks": json.dumps(self.jwks(rsa2048, ec_keys)),
        }
        header, _ = decrypt(token_of(base_config(encryption=encryption)), rsa2048.private, "RSA-OAEP")
        assert header["kid"] == "rsa-enc"

    @pytest.mark.parametrize(
        ("kid", "alg", "key_type", "needle"),
        [
            ("nope", "RSA-OAEP", "RSA", "no key with kid 'nope'"),
            ("sig-ec", "ECDH-ES", "EC", "not for encryption"),
            ("ec-enc", "ECDH-ES+A128KW", "EC", "not for ECDH-ES+A128KW"),
            ("rsa-enc", "ECDH-ES", "EC", "not an EC key"),
            (None, "ECDH-ES+A256KW", "EC", "has no EC key for ECDH-ES+A256KW"),
        ],
    )
    def test_selection_problems(
        self,
        rsa2048: KeyForms,
        ec_keys: dict[str, KeyForms],
        kid: str | None,
        alg: str,
        key_type: str,
        needle: str,
    ) -> None:
        encryption = {"type": "asymmetric", "key_type": key_type, "alg": alg, "jwks": self.jwks(rsa2048, ec_keys)}
        if kid is not None:
            encryption["kid"] = kid
        assert_problem(base_config(encryption=encryption), "encryption.jwks", needle)

    def test_not_a_jwks(self) -> None:
        encryption = {"type": "asymmetric", "key_type": "RSA", "alg": "RSA-OAEP", "jwks": {"kty": "RSA"}}
        assert_problem(base_config(encryption=encryption), "encryption.jwks", "not a JWKS")
        encryption["jwks"] = {"keys": [{"n": "x"}]}
        assert_problem(base_config(encryption=encryption), "encryption.jwks", "keys[0]")

    def test_weak_key_in_the_set(self, rsa1024: KeyForms) -> None:
        encryption = {
            "type": "asymmetric",
            "key_type": "RSA",
            "alg": "RSA-OAEP",
            "jwks": {"keys": [rsa1024.public_jwk]},
        }
        assert_problem(base_config(encryption=encryption), "encryption.jwks", "2048")
