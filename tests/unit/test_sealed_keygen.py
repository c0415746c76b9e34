"""Sealed secrets (`{"sealed": jwe}`) and key-pair generation."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import HS256_SECRET, STORE, KeyForms, base_config
from joserfc.jwk import ECKey, OctKey, RSAKey

from worker.core import keys
from worker.core.config import ConfigInvalid, parse_config
from worker.core.engine import compile_config, generate, validate_config
from worker.core.keygen import generate_keypair
from worker.core.sealed import SealedError, open_sealed, seal


@pytest.fixture(scope="module")
def rsa_kek() -> RSAKey:
    return RSAKey.generate_key(2048)


@pytest.fixture(scope="module")
def ec_kek() -> ECKey:
    return ECKey.generate_key("P-256")


class TestSealed:
    @pytest.mark.parametrize("kind", ["rsa", "ec", "oct"])
    def test_roundtrip(self, kind: str, rsa_kek: RSAKey, ec_kek: ECKey) -> None:
        kek: Any = {"rsa": rsa_kek, "ec": ec_kek, "oct": OctKey.generate_key(256)}[kind]
        sealed = seal("s3cret", kek)
        assert set(sealed) == {"sealed"} and sealed["sealed"].count(".") == 4
        assert open_sealed(sealed, kek, "signature.password") == "s3cret"

    def test_no_kek(self) -> None:
        with pytest.raises(SealedError) as info:
            open_sealed({"sealed": "a.b.c.d.e"}, None, "signature.private_key")
        assert str(info.value) == "signature.private_key: sealed secret cannot be opened: no JWTGEN_KEK configured"

    def test_wrong_kek(self, rsa_kek: RSAKey) -> None:
        sealed = seal("s3cret", rsa_kek)
        with pytest.raises(SealedError, match=r"signature\.password: sealed secret cannot be opened"):
            open_sealed(sealed, RSAKey.generate_key(2048), "signature.password")

    def test_sealed_password_in_config(self, rsa_kek: RSAKey) -> None:
        sig = {"type": "symmetric", "alg": "HS256", "kid": "k", "password": seal(HS256_SECRET, rsa_kek)}
        compiled = compile_config(base_config(signature=sig), kek=rsa_kek)
        plain = compile_config(base_config(signature={**sig, "password": HS256_SECRET}))
        a = generate(compiled, store=STORE, iat=1, execution_id="e")
        b = generate(plain, store=STORE, iat=1, execution_id="e")
        assert a.token == b.token

    def test_sealed_private_key_and_jwk(self, ec_kek: ECKey, rsa2048: KeyForms) -> None:
        sig = {"type": "asymmetric", "key_type": "RSA", "alg": "RS256", "private_key": seal(rsa2048.pkcs8, ec_kek)}
        assert validate_config(base_config(signature=sig), kek=ec_kek) == []
        jwk = {"kty": "oct", "k": "hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg"}
        sig = {"type": "symmetric", "alg": "HS256", "jwk": seal(json.dumps(jwk), ec_kek)}
        assert validate_config(base_config(signature=sig), kek=ec_kek) == []

    def test_sealed_without_kek_is_a_problem(self, rsa_kek: RSAKey, rsa2048: KeyForms) -> None:
        sig = {"type": "asymmetric", "key_type": "RSA", "alg": "RS256", "private_key": seal(rsa2048.pkcs8, rsa_kek)}
        with pytest.raises(ConfigInvalid) as info:
            parse_config(base_config(signature=sig))
        assert info.value.problems == [
            "signature.private_key: sealed secret cannot be opened: no JWTGEN_KEK configured"
        ]

    def test_sealed_bad_shape(self) -> None:
        sig = {"type": "symmetric", "alg": "HS256", "password": {"sealed": 5}}
        assert validate_config(base_config(signature=sig), kek=OctKey.generate_key(256)) == [
            'signature.password: sealed secret must be {"sealed": "<JWE compact>"}'
        ]

    def test_opened_secret_still_validated(self, rsa_kek: RSAKey) -> None:
        sig = {"type": "symmetric", "alg": "HS256", "password": seal("short-secret", rsa_kek)}
        found = validate_config(base_config(signature=sig), kek=rsa_kek)
        assert found == ["signature.password: HMAC secret is 12 bytes, HS256 needs at least 32 (RFC 7518 §3.2)"]
        assert "short-secret" not in found[0]


class TestKeygen:
    @pytest.mark.parametrize(
        ("alg", "size"),
        [(None, 32), ("HS256", 32), ("HS384", 48), ("HS512", 64), ("A128KW", 16), ("A192GCMKW", 24), ("dir", 32)],
    )
    def test_oct_defaults(self, alg: str | None, size: int) -> None:
        private, public = generate_keypair("oct", None, None, alg, None)
        assert public is None
        key = keys.oct_from_jwk(private)
        assert len(key.raw_value) == size
        assert private["kid"] == keys.thumbprint(key)
        if alg:
            assert private["alg"] == alg and private["use"] == ("sig" if alg.startswith("HS") else "enc")

    def test_rsa_default_and_refusal(self) -> None:
        private, public = generate_keypair("RSA", None, None, "RS256", "my-kid")
        assert public is not None and public["kid"] == private["kid"] == "my-kid"
        assert "d" in private and "d" not in public and public["use"] == "sig"
        assert keys.rsa_bits(keys.load_private(private)) == 2048
        with pytest.raises(ValueError, match="2048"):
            generate_keypair("RSA", 1024, None, None, None)

    @pytest.mark.parametrize(
        ("alg", "curve"), [(None, "P-256"), ("ES384", "P-384"), ("ES512", "P-521"), ("ECDH-ES", "P-256")]
    )
    def test_ec_curves(self, alg: str | None, curve: str) -> None:
        private, public = generate_keypair("EC", None, None, alg, None)
        assert private["crv"] == curve and public is not None and "d" not in public
        if alg == "ECDH-ES":
            assert private["use"] == "enc"

    def test_ec_curve_conflict(self) -> None:
        with pytest.raises(ValueError):
            generate_keypair("EC", None, "P-256", "ES512", None)

    def test_okp(self) -> None:
        private, public = generate_keypair("OKP", None, None, "Ed25519", None)
        assert private["crv"] == "Ed25519" and public is not None and "d" not in public

    @pytest.mark.parametrize(
        ("kty", "alg"), [("oct", "RS256"), ("RSA", "ES256"), ("EC", "HS256"), ("oct", "none"), ("DSA", None)]
    )
    def test_refuses_misfits(self, kty: str, alg: str | None) -> None:
        with pytest.raises(ValueError):
            generate_keypair(kty, None, None, alg, None)

    def test_refuses_short_hmac(self) -> None:
        with pytest.raises(ValueError):
            generate_keypair("oct", 128, None, "HS256", None)

    def test_generated_keys_make_valid_configs(self) -> None:
        private, _ = generate_keypair("EC", None, None, "ES256", None)
        sig = {"type": "asymmetric", "key_type": "EC", "alg": "ES256", "private_key": private}
        assert validate_config(base_config(signature=sig)) == []
        oct_private, _ = generate_keypair("oct", None, None, "A256KW", None)
        enc = {"type": "symmetric", "alg": "A256KW", "jwk": oct_private}
        assert validate_config(base_config(encryption=enc)) == []
