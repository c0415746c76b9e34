"""worker.core.sealed: secrets sealed to the key-encryption key (`{"sealed": "<JWE>"}`), in and out of configs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from joserfc.jwk import ECKey, OctKey, RSAKey

from tests.support.configs import HS256_SECRET, STORE, base_config
from tests.support.keys import KeyForms
from worker.core.config import ConfigInvalid, parse_config
from worker.core.engine import compile_config, generate, validate_config
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
