"""Which kid goes in the header when the config names none."""

from __future__ import annotations

from jwcrypto import jwk as cjwk

from tests.unit.conftest import STORE, base_config
from worker.core.engine import compile_config, generate
from worker.core.keygen import generate_keypair
from worker.core.tokens import compact_header


def signed_with(private: dict[str, object], kid: str | None = None) -> dict[str, object]:
    config = base_config()
    config["signature"] = {"type": "asymmetric", "key_type": "EC", "alg": "ES256", "private_key": private}
    if kid is not None:
        config["signature"]["kid"] = kid
    token = generate(compile_config(config), store=STORE, iat=1, execution_id="e").token
    return compact_header(token)


def test_config_kid_wins() -> None:
    private, _ = generate_keypair("EC", None, "P-256", "ES256", "from-jwk")
    assert signed_with(private, kid="from-config")["kid"] == "from-config"


def test_thumbprint_when_the_config_has_none_even_if_the_jwk_has_one() -> None:
    # CONTRACT §2: "when absent, the RFC 7638 thumbprint of the key".
    private, _ = generate_keypair("EC", None, "P-256", "ES256", "ec-2026")
    expected = cjwk.JWK(**private).thumbprint()
    assert signed_with(private)["kid"] == expected


def test_thumbprint_when_neither_names_one() -> None:
    private, _ = generate_keypair("EC", None, "P-256", "ES256", None)
    private.pop("kid", None)
    expected = cjwk.JWK(**private).thumbprint()  # RFC 7638, by an independent implementation
    assert signed_with(private)["kid"] == expected
