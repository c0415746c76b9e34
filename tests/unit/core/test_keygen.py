"""worker.core.keygen: new key pairs for `jwtgen keys generate`, sized and typed for their algorithm."""

from __future__ import annotations

import pytest

from tests.support.configs import base_config
from worker.core import keys
from worker.core.engine import validate_config
from worker.core.keygen import generate_keypair


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
