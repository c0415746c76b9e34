"""worker.core.tokens: every signing and encryption algorithm, checked by jwcrypto (an independent JOSE implementation).

Also which kid goes in the header when the config names none.
"""

from __future__ import annotations

import json
from typing import Any

import jwt as pyjwt
import pytest
from joserfc import jws
from joserfc.jwk import RSAKey
from jwcrypto import jwk as cjwk

from tests.support.configs import HS256_SECRET, IAT, STORE, base_config
from tests.support.jose_check import decrypt, verify
from tests.support.keys import ENC_BYTES, WRAP_BYTES, KeyForms, oct_jwk, secret_text
from worker.core.engine import compile_config, generate
from worker.core.errors import ErrorCode, NodeError
from worker.core.keygen import generate_keypair
from worker.core.keys import oct_from_password, thumbprint
from worker.core.tokens import Signer, compact_header

# The worker silences this at import; pytest resets warning filters per test.
pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")

EXPECTED_CLAIMS = {
    "iat": IAT,
    "iss": "https://idp.example.com",
    "sub": "u-42",
    "exp": IAT + 3600,
    "email": "ada@example.com",
    "roles": ["admin", "ops"],
    "level": 2,
}


def signing_cases(
    rsa2048: KeyForms, ec_keys: dict[str, KeyForms], ed25519_key: KeyForms
) -> dict[str, tuple[dict[str, Any], cjwk.JWK]]:
    """alg -> (signature config, jwcrypto verification key)."""
    cases: dict[str, tuple[dict[str, Any], cjwk.JWK]] = {}
    for alg, n in (("HS256", 32), ("HS384", 48), ("HS512", 64)):
        password = secret_text(n)
        cases[alg] = ({"type": "symmetric", "alg": alg, "kid": f"k-{alg}", "password": password}, oct_jwk(password))
    for alg in ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"):
        sig = {"type": "asymmetric", "key_type": "RSA", "alg": alg, "kid": f"k-{alg}", "private_key": rsa2048.pkcs8}
        cases[alg] = (sig, rsa2048.public)
    for alg, curve in (("ES256", "P-256"), ("ES384", "P-384"), ("ES512", "P-521")):
        forms = ec_keys[curve]
        sig = {"type": "asymmetric", "key_type": "EC", "alg": alg, "kid": f"k-{alg}", "private_key": forms.traditional}
        cases[alg] = (sig, forms.public)
    for alg in ("Ed25519", "EdDSA"):
        sig = {"type": "asymmetric", "key_type": "OKP", "alg": alg, "kid": f"k-{alg}", "private_key": ed25519_key.pkcs8}
        cases[alg] = (sig, ed25519_key.public)
    return cases


SIGNING_ALGS = [
    "HS256",
    "HS384",
    "HS512",
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "Ed25519",
    "EdDSA",
]

# (alg, enc) pairs: every key management alg, every enc at least once.
ENCRYPTION_CASES = [
    ("A128KW", "A128GCM"),
    ("A192KW", "A192GCM"),
    ("A256KW", "A256GCM"),
    ("A256KW", "A256CBC-HS512"),
    ("A128GCMKW", "A128CBC-HS256"),
    ("A192GCMKW", "A192CBC-HS384"),
    ("A256GCMKW", "A256GCM"),
    ("dir", "A128GCM"),
    ("dir", "A256GCM"),
    ("dir", "A192CBC-HS384"),
    ("dir", "A256CBC-HS512"),
    ("RSA-OAEP", "A256GCM"),
    ("RSA-OAEP", "A128CBC-HS256"),
    ("RSA-OAEP-256", "A256GCM"),
    ("RSA-OAEP-256", "A192GCM"),
    ("ECDH-ES", "A256GCM"),
    ("ECDH-ES", "A128CBC-HS256"),
    ("ECDH-ES+A128KW", "A128GCM"),
    ("ECDH-ES+A192KW", "A192GCM"),
    ("ECDH-ES+A256KW", "A256CBC-HS512"),
]


def encryption_case(
    alg: str, enc: str, rsa2048: KeyForms, ec_keys: dict[str, KeyForms], curve: str = "P-256"
) -> tuple[dict[str, Any], cjwk.JWK]:
    """(encryption config, jwcrypto decryption key)."""
    kid = f"e-{alg}"
    if alg in WRAP_BYTES or alg == "dir":
        password = secret_text(ENC_BYTES[enc] if alg == "dir" else WRAP_BYTES[alg])
        return {"type": "symmetric", "alg": alg, "enc": enc, "kid": kid, "password": password}, oct_jwk(password)
    if alg.startswith("RSA"):
        config = {"type": "asymmetric", "key_type": "RSA", "alg": alg, "enc": enc, "kid": kid}
        config["public_key"] = rsa2048.public_pem
        return config, rsa2048.private
    forms = ec_keys[curve]
    config = {
        "type": "asymmetric",
        "key_type": "EC",
        "alg": alg,
        "enc": enc,
        "kid": kid,
        "public_jwk": forms.public_jwk,
    }
    return config, forms.private


@pytest.mark.parametrize("alg", SIGNING_ALGS)
def test_signed_only(alg: str, rsa2048: KeyForms, ec_keys: dict[str, KeyForms], ed25519_key: KeyForms) -> None:
    sig, key = signing_cases(rsa2048, ec_keys, ed25519_key)[alg]
    compiled = compile_config(base_config(signature=sig))
    out = generate(compiled, store=STORE, iat=IAT, execution_id="e-1")
    assert out.token.count(".") == 2
    assert verify(out.token, key, alg, f"k-{alg}") == EXPECTED_CLAIMS  # header exactly {alg, typ, kid}
    assert out.token_info == {"alg": alg, "enc": None, "kid": f"k-{alg}", "iat": IAT, "exp": IAT + 3600}


@pytest.mark.parametrize(("alg", "enc"), ENCRYPTION_CASES)
def test_encrypted_only(alg: str, enc: str, rsa2048: KeyForms, ec_keys: dict[str, KeyForms]) -> None:
    encryption, key = encryption_case(alg, enc, rsa2048, ec_keys)
    compiled = compile_config(base_config(signature=None, encryption=encryption))
    out = generate(compiled, store=STORE, iat=IAT, execution_id="e-1")
    assert out.token.count(".") == 4
    header, payload = decrypt(out.token, key, alg, enc)
    assert {k: header[k] for k in ("alg", "enc", "kid", "typ")} == {
        "alg": alg,
        "enc": enc,
        "kid": f"e-{alg}",
        "typ": "JWT",
    }
    assert "cty" not in header
    assert json.loads(payload) == EXPECTED_CLAIMS
    assert out.token_info == {"alg": alg, "enc": enc, "kid": f"e-{alg}", "iat": IAT, "exp": IAT + 3600}


@pytest.mark.parametrize(
    ("sig_alg", "alg", "enc"),
    [
        ("HS256", "A256KW", "A256GCM"),
        ("HS512", "dir", "A256CBC-HS512"),
        ("RS256", "RSA-OAEP-256", "A256GCM"),
        ("PS384", "RSA-OAEP", "A192CBC-HS384"),
        ("ES256", "ECDH-ES", "A128GCM"),
        ("ES512", "ECDH-ES+A256KW", "A256GCM"),
        ("ES384", "A128GCMKW", "A128CBC-HS256"),
        ("Ed25519", "ECDH-ES+A128KW", "A192GCM"),
    ],
)
def test_nested(
    sig_alg: str, alg: str, enc: str, rsa2048: KeyForms, ec_keys: dict[str, KeyForms], ed25519_key: KeyForms
) -> None:
    sig, verify_key = signing_cases(rsa2048, ec_keys, ed25519_key)[sig_alg]
    encryption, decrypt_key = encryption_case(alg, enc, rsa2048, ec_keys, curve="P-384")
    compiled = compile_config(base_config(signature=sig, encryption=encryption))
    out = generate(compiled, store=STORE, iat=IAT, execution_id="e-1")
    header, inner = decrypt(out.token, decrypt_key, alg, enc)
    assert header["cty"] == "JWT" and header["kid"] == f"e-{alg}" and "typ" not in header
    # inner header exactly {alg, typ, kid}
    assert verify(inner.decode(), verify_key, sig_alg, f"k-{sig_alg}") == EXPECTED_CLAIMS
    assert out.token_info == {"alg": sig_alg, "enc": enc, "kid": f"k-{sig_alg}", "iat": IAT, "exp": IAT + 3600}


def test_kid_defaults_to_thumbprint(rsa2048: KeyForms) -> None:
    sig = {"type": "asymmetric", "key_type": "RSA", "alg": "RS256", "private_key": rsa2048.pkcs8}
    compiled = compile_config(base_config(signature=sig))
    out = generate(compiled, store=STORE, iat=IAT, execution_id="e-1")
    expected = rsa2048.thumbprint()
    verify(out.token, rsa2048.public, "RS256", expected)  # the header's kid is the thumbprint
    assert out.token_info["kid"] == expected


def test_symmetric_encryption_kid_defaults_to_thumbprint() -> None:
    password = secret_text(32)
    encryption = {"type": "symmetric", "alg": "A256KW", "password": password}
    compiled = compile_config(base_config(signature=None, encryption=encryption))
    assert compiled.kid == thumbprint(oct_from_password(password)) == oct_jwk(password).thumbprint()


def test_pyjwt_accepts_hs256() -> None:
    compiled = compile_config(base_config())
    out = generate(compiled, store=STORE, iat=IAT, execution_id="e-1")
    decoded = pyjwt.decode(
        out.token,
        HS256_SECRET,
        algorithms=["HS256"],
        options={"verify_exp": False, "verify_iat": False},
    )
    assert decoded == EXPECTED_CLAIMS


# ----------------------------------------------------------------------------- kid from a JWK


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
    # docs/contract.md §2: without a kid in the config, the header names the RFC 7638 thumbprint.
    private, _ = generate_keypair("EC", None, "P-256", "ES256", "ec-2026")
    expected = cjwk.JWK(**private).thumbprint()
    assert signed_with(private)["kid"] == expected


def test_thumbprint_when_neither_names_one() -> None:
    private, _ = generate_keypair("EC", None, "P-256", "ES256", None)
    private.pop("kid", None)
    expected = cjwk.JWK(**private).thumbprint()  # RFC 7638, by an independent implementation
    assert signed_with(private)["kid"] == expected


# Deterministic signatures: the same bytes as joserfc's own serialize_compact.
@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "Ed25519", "EdDSA"])
def test_a_signer_checks_header_and_key_once_and_signs_as_joserfc_does(
    alg: str, rsa2048: KeyForms, ec_keys: dict[str, KeyForms], ed25519_key: KeyForms
) -> None:
    sig, _ = signing_cases(rsa2048, ec_keys, ed25519_key)[alg]
    signer = compile_config(base_config(signature=sig)).signer
    assert signer is not None and signer.prepared is not None  # checked when built, not per token
    assert (signer.prepared[2] is not None) == alg.startswith("HS")  # HMAC in OpenSSL's one-shot call
    payload = b'{"sub":"u-42","n":1}'
    assert signer.sign(payload) == jws.serialize_compact(signer.header(), payload, signer.key, registry=signer.registry)


def test_a_key_that_does_not_fit_is_refused_by_joserfc_at_each_signature(rsa2048: KeyForms) -> None:
    signer = Signer.build("HS256", "k", RSAKey.import_key(rsa2048.pkcs8))
    assert signer.prepared is None
    with pytest.raises(NodeError) as caught:
        signer.sign(b"{}")
    assert caught.value.code is ErrorCode.SIGNING_FAILED
    assert "HS256" in caught.value.message
