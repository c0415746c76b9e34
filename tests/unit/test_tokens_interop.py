"""Every signing and encryption algorithm, checked by jwcrypto (an independent JOSE implementation)."""

from __future__ import annotations

import json
from typing import Any

import jwt as pyjwt
import pytest
from conftest import STORE, KeyForms, base_config
from jwcrypto import jwe as cjwe
from jwcrypto import jwk as cjwk
from jwcrypto import jws as cjws

from worker.core.engine import compile_config, generate
from worker.core.keys import oct_from_password, thumbprint

# The worker silences this at import; pytest resets warning filters per test.
pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")

IAT = 1764355200
ENCS = ["A128GCM", "A192GCM", "A256GCM", "A128CBC-HS256", "A192CBC-HS384", "A256CBC-HS512"]
ENC_BYTES = {"A128GCM": 16, "A192GCM": 24, "A256GCM": 32, "A128CBC-HS256": 32, "A192CBC-HS384": 48, "A256CBC-HS512": 64}
WRAP_BYTES = {"A128KW": 16, "A192KW": 24, "A256KW": 32, "A128GCMKW": 16, "A192GCMKW": 24, "A256GCMKW": 32}
EXPECTED_CLAIMS = {
    "iat": IAT,
    "iss": "https://idp.example.com",
    "sub": "u-42",
    "exp": IAT + 3600,
    "email": "ada@example.com",
    "roles": ["admin"],
    "level": 2,
}


def secret(n: int) -> str:
    return ("s3cr3t-" * 20)[:n]


def oct_jwk(password: str) -> cjwk.JWK:
    return cjwk.JWK(**oct_from_password(password).as_dict())


def pem_jwk(pem: str) -> cjwk.JWK:
    return cjwk.JWK.from_pem(pem.encode())


def signing_cases(
    rsa2048: KeyForms, ec_keys: dict[str, KeyForms], ed25519_key: KeyForms
) -> dict[str, tuple[dict[str, Any], cjwk.JWK]]:
    """alg -> (signature config, jwcrypto verification key)."""
    cases: dict[str, tuple[dict[str, Any], cjwk.JWK]] = {}
    for alg, n in (("HS256", 32), ("HS384", 48), ("HS512", 64)):
        cases[alg] = ({"type": "symmetric", "alg": alg, "kid": f"k-{alg}", "password": secret(n)}, oct_jwk(secret(n)))
    for alg in ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"):
        sig = {"type": "asymmetric", "key_type": "RSA", "alg": alg, "kid": f"k-{alg}", "private_key": rsa2048.pkcs8}
        cases[alg] = (sig, pem_jwk(rsa2048.public_pem))
    for alg, curve in (("ES256", "P-256"), ("ES384", "P-384"), ("ES512", "P-521")):
        forms = ec_keys[curve]
        sig = {"type": "asymmetric", "key_type": "EC", "alg": alg, "kid": f"k-{alg}", "private_key": forms.traditional}
        cases[alg] = (sig, pem_jwk(forms.public_pem))
    for alg in ("Ed25519", "EdDSA"):
        sig = {"type": "asymmetric", "key_type": "OKP", "alg": alg, "kid": f"k-{alg}", "private_key": ed25519_key.pkcs8}
        cases[alg] = (sig, pem_jwk(ed25519_key.public_pem))
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
        password = secret(ENC_BYTES[enc] if alg == "dir" else WRAP_BYTES[alg])
        return {"type": "symmetric", "alg": alg, "enc": enc, "kid": kid, "password": password}, oct_jwk(password)
    if alg.startswith("RSA"):
        config = {"type": "asymmetric", "key_type": "RSA", "alg": alg, "enc": enc, "kid": kid}
        config["public_key"] = rsa2048.public_pem
        return config, pem_jwk(rsa2048.pkcs8)
    forms = ec_keys[curve]
    config = {
        "type": "asymmetric",
        "key_type": "EC",
        "alg": alg,
        "enc": enc,
        "kid": kid,
        "public_jwk": forms.public_jwk,
    }
    return config, pem_jwk(forms.pkcs8)


def verify_jws(token: str, key: cjwk.JWK, alg: str) -> tuple[dict[str, Any], dict[str, Any]]:
    obj = cjws.JWS()
    obj.allowed_algs = [alg]
    obj.deserialize(token)
    obj.verify(key, alg=alg)
    return obj.jose_header, json.loads(obj.payload)


def decrypt_jwe(token: str, key: cjwk.JWK, alg: str, enc: str) -> tuple[dict[str, Any], bytes]:
    obj = cjwe.JWE()
    obj.allowed_algs = [alg, enc]
    obj.deserialize(token, key=key)
    return obj.jose_header, obj.payload


@pytest.mark.parametrize("alg", SIGNING_ALGS)
def test_signed_only(alg: str, rsa2048: KeyForms, ec_keys: dict[str, KeyForms], ed25519_key: KeyForms) -> None:
    sig, key = signing_cases(rsa2048, ec_keys, ed25519_key)[alg]
    compiled = compile_config(base_config(signature=sig))
    out = generate(compiled, store=STORE, iat=IAT, execution_id="e-1")
    assert out.token.count(".") == 2
    header, claims = verify_jws(out.token, key, alg)
    assert header == {"alg": alg, "typ": "JWT", "kid": f"k-{alg}"}
    assert claims == EXPECTED_CLAIMS
    assert out.token_info == {"alg": alg, "enc": None, "kid": f"k-{alg}", "iat": IAT, "exp": IAT + 3600}


@pytest.mark.parametrize(("alg", "enc"), ENCRYPTION_CASES)
def test_encrypted_only(alg: str, enc: str, rsa2048: KeyForms, ec_keys: dict[str, KeyForms]) -> None:
    encryption, key = encryption_case(alg, enc, rsa2048, ec_keys)
    compiled = compile_config(base_config(signature=None, encryption=encryption))
    out = generate(compiled, store=STORE, iat=IAT, execution_id="e-1")
    assert out.token.count(".") == 4
    header, payload = decrypt_jwe(out.token, key, alg, enc)
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
    header, inner = decrypt_jwe(out.token, decrypt_key, alg, enc)
    assert header["cty"] == "JWT" and header["kid"] == f"e-{alg}" and "typ" not in header
    inner_header, claims = verify_jws(inner.decode(), verify_key, sig_alg)
    assert inner_header == {"alg": sig_alg, "typ": "JWT", "kid": f"k-{sig_alg}"}
    assert claims == EXPECTED_CLAIMS
    assert out.token_info == {"alg": sig_alg, "enc": enc, "kid": f"k-{sig_alg}", "iat": IAT, "exp": IAT + 3600}


def test_kid_defaults_to_thumbprint(rsa2048: KeyForms) -> None:
    sig = {"type": "asymmetric", "key_type": "RSA", "alg": "RS256", "private_key": rsa2048.pkcs8}
    compiled = compile_config(base_config(signature=sig))
    out = generate(compiled, store=STORE, iat=IAT, execution_id="e-1")
    expected = cjwk.JWK.from_pem(rsa2048.public_pem.encode()).thumbprint()
    header, _ = verify_jws(out.token, pem_jwk(rsa2048.public_pem), "RS256")
    assert header["kid"] == expected == out.token_info["kid"]


def test_symmetric_encryption_kid_defaults_to_thumbprint() -> None:
    password = secret(32)
    encryption = {"type": "symmetric", "alg": "A256KW", "password": password}
    compiled = compile_config(base_config(signature=None, encryption=encryption))
    assert compiled.kid == thumbprint(oct_from_password(password)) == oct_jwk(password).thumbprint()


def test_pyjwt_accepts_hs256() -> None:
    compiled = compile_config(base_config())
    out = generate(compiled, store=STORE, iat=IAT, execution_id="e-1")
    decoded = pyjwt.decode(
        out.token,
        "0123456789abcdef0123456789abcdef",
        algorithms=["HS256"],
        options={"verify_exp": False, "verify_iat": False},
    )
    assert decoded == EXPECTED_CLAIMS
