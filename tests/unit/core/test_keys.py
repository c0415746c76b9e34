"""worker.core.keys: import (PEM / JWK / password), inspection, thumbprints; RFC 7520 byte-exact signatures."""

from __future__ import annotations

import json

import pytest
from joserfc import jws
from joserfc.jwk import OctKey

from tests.support import rfc7520
from tests.support.keys import KeyForms
from worker.core import keys

# RFC 7638 §3.1 example key and its thumbprint.
RFC7638_N = (
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3o"
    "knjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHz"
    "u6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8a"
    "wapJzKnqDKgw"
)
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


class TestCookbook:
    def test_rs256_signature_byte_exact(self) -> None:
        case = rfc7520.example("jws/4_1.rsa_v15_signature.json")
        key = keys.load_private(case["input"]["key"])
        out = jws.serialize_compact(case["signing"]["protected"], case["input"]["payload"], key, algorithms=["RS256"])
        assert out == case["output"]["compact"]

    def test_rs256_from_json_string_jwk(self) -> None:
        case = rfc7520.example("jws/4_1.rsa_v15_signature.json")
        key = keys.load_private(json.dumps(case["input"]["key"]))
        out = jws.serialize_compact(case["signing"]["protected"], case["input"]["payload"], key, algorithms=["RS256"])
        assert out == case["output"]["compact"]

    def test_hs256_signature_byte_exact(self) -> None:
        case = rfc7520.example("jws/4_4.hmac-sha2_integrity_protection.json")
        key = keys.oct_from_jwk(case["input"]["key"])
        out = jws.serialize_compact(case["signing"]["protected"], case["input"]["payload"], key, algorithms=["HS256"])
        assert out == case["output"]["compact"]

    @pytest.mark.parametrize(
        ("name", "kty", "private"),
        [
            ("jwk/3_1.ec_public_key.json", "EC", False),
            ("jwk/3_2.ec_private_key.json", "EC", True),
            ("jwk/3_3.rsa_public_key.json", "RSA", False),
            ("jwk/3_4.rsa_private_key.json", "RSA", True),
        ],
    )
    def test_cookbook_asymmetric_jwks(self, name: str, kty: str, private: bool) -> None:
        data = rfc7520.example(name)
        key = keys.load_private(data) if private else keys.load_public(data)
        assert key.key_type == kty and key.is_private is private
        # Same key through a JSON string, and public halves agree.
        assert keys.same_public_key(keys.load_public(json.dumps(data)), key)
        if kty == "EC":
            assert isinstance(key, keys.ECKey) and keys.curve_of(key) == "P-521"
        else:
            assert isinstance(key, keys.RSAKey) and keys.rsa_bits(key) == 2048

    def test_cookbook_rsa_pair(self) -> None:
        private = keys.load_private(rfc7520.example("jwk/3_4.rsa_private_key.json"))
        public = keys.load_public(rfc7520.example("jwk/3_3.rsa_public_key.json"))
        assert keys.same_public_key(private, public)

    @pytest.mark.parametrize(
        ("name", "size"),
        [("jwk/3_5.symmetric_key_mac_computation.json", 32), ("jwk/3_6.symmetric_key_encryption.json", 32)],
    )
    def test_cookbook_oct(self, name: str, size: int) -> None:
        key = keys.oct_from_jwk(rfc7520.example(name))
        assert len(key.raw_value) == size


class TestThumbprint:
    def test_rfc7638_example(self) -> None:
        key = keys.load_public({"kty": "RSA", "n": RFC7638_N, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"})
        assert keys.thumbprint(key) == RFC7638_THUMBPRINT

    def test_public_jwk_export_has_no_private_members(self, rsa2048: KeyForms, ec_keys: dict[str, KeyForms]) -> None:
        for forms in (rsa2048, ec_keys["P-256"]):
            key = keys.load_private(forms.pkcs8)
            exported = keys.public_jwk(key, "kid-1")
            assert exported["kid"] == "kid-1"
            assert not {"d", "p", "q", "dp", "dq", "qi"} & set(exported)
            assert keys.thumbprint(keys.load_public(exported)) == keys.thumbprint(key)


class TestImport:
    def test_rsa_forms_agree(self, rsa2048: KeyForms) -> None:
        assert rsa2048.traditional is not None and "BEGIN RSA PRIVATE KEY" in rsa2048.traditional
        loaded = [
            keys.load_private(v) for v in (rsa2048.pkcs8, rsa2048.traditional, rsa2048.jwk, json.dumps(rsa2048.jwk))
        ]
        prints = {keys.thumbprint(k) for k in loaded}
        assert len(prints) == 1

    def test_ec_sec1(self, ec_keys: dict[str, KeyForms]) -> None:
        for curve, forms in ec_keys.items():
            assert forms.traditional is not None and "BEGIN EC PRIVATE KEY" in forms.traditional
            key = keys.load_private(forms.traditional)
            assert isinstance(key, keys.ECKey) and keys.curve_of(key) == curve

    def test_public_pem_forms(self, rsa2048: KeyForms) -> None:
        assert rsa2048.public_pkcs1 is not None
        a = keys.load_public(rsa2048.public_pem)
        b = keys.load_public(rsa2048.public_pkcs1)
        c = keys.load_public(rsa2048.pkcs8)  # a private key yields its public half
        assert not c.is_private
        assert keys.same_public_key(a, b) and keys.same_public_key(b, c)

    def test_ed25519(self, ed25519_key: KeyForms) -> None:
        key = keys.load_private(ed25519_key.pkcs8)
        assert isinstance(key, keys.OKPKey) and keys.curve_of(key) == "Ed25519"

    def test_password_is_utf8_bytes(self) -> None:
        assert keys.oct_from_password("é").raw_value == "é".encode()

    @pytest.mark.parametrize("bad", ["", "hello", "{", "[]", 5, {"kty": "oct"}, {"no": "kty"}])
    def test_bad_jwk(self, bad: object) -> None:
        with pytest.raises(keys.KeyProblem):
            keys.oct_from_jwk(bad)

    @pytest.mark.parametrize("fmt", ["PKCS8", "TraditionalOpenSSL"])
    def test_encrypted_pem_opens_with_its_password_only(self, rsa2048: KeyForms, fmt: str) -> None:
        from cryptography.hazmat.primitives import serialization

        pem = rsa2048.native.private_bytes(
            serialization.Encoding.PEM,
            getattr(serialization.PrivateFormat, fmt),
            serialization.BestAvailableEncryption(b"TOP-SECRET-pw"),
        ).decode()
        assert keys.same_public_key(keys.load_private(pem, "TOP-SECRET-pw"), rsa2048.joserfc)
        with pytest.raises(keys.KeyProblem, match="give its private_key_password") as missing:
            keys.load_private(pem)
        assert not isinstance(missing.value, keys.PasswordProblem)  # the key field is at fault
        with pytest.raises(keys.PasswordProblem, match="does not open") as wrong:
            keys.load_private(pem, "TOP-SECRET-other")
        assert "TOP-SECRET" not in str(wrong.value)

    def test_password_for_a_plain_key_or_a_jwk_is_a_password_problem(self, rsa2048: KeyForms) -> None:
        with pytest.raises(keys.PasswordProblem, match="not encrypted"):
            keys.load_private(rsa2048.pkcs8, "pw")
        with pytest.raises(keys.PasswordProblem, match="not a JWK"):
            keys.load_private(rsa2048.jwk, "pw")

    def test_problem_text_has_no_material(self, rsa2048: KeyForms) -> None:
        broken = {**rsa2048.jwk, "kty": "RSA", "n": 12}
        with pytest.raises(keys.KeyProblem) as info:
            keys.load_private(broken)
        assert rsa2048.jwk["d"][:16] not in str(info.value)

    def test_oct_key_type(self) -> None:
        assert isinstance(keys.oct_from_password("x" * 32), OctKey)
