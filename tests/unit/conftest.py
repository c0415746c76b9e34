"""Unit-test fixtures: keys generated once per session, in every accepted form."""

from __future__ import annotations

import copy
import json
import os
import warnings
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc.jwk import ECKey, OKPKey, RSAKey

# shared/ sits beside the repository (in CI too); JOSE_COOKBOOK overrides.
COOKBOOK = Path(os.environ.get("JOSE_COOKBOOK", Path(__file__).resolve().parents[3] / "shared" / "jose-cookbook"))

HS256_SECRET = "0123456789abcdef0123456789abcdef"  # 32 bytes


def cookbook(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((COOKBOOK / name).read_text(encoding="utf-8"))
    return data


def base_config(**overrides: Any) -> dict[str, Any]:
    """A valid HS256 config; top-level keys in `overrides` replace the defaults."""
    config: dict[str, Any] = {
        "id": "login-token",
        "version": 3,
        "ttl": 3600,
        "claims": {
            "issuer": "https://idp.example.com",
            "subject": "{{user.id}}",
            "custom": [
                {"key": "email", "value": "{{user.email}}", "type": "String"},
                {"key": "roles", "value": "{{user.roles}}", "type": "Array"},
                {"key": "level", "value": "2", "type": "Number"},
            ],
        },
        "signature": {"type": "symmetric", "kid": "hs-1", "alg": "HS256", "password": HS256_SECRET},
        "encryption": None,
        "store": {"variable": "jwt", "attributes": ["token", "exp"], "frontend": False},
    }
    config.update(copy.deepcopy(overrides))
    return config


STORE: dict[str, Any] = {"user": {"id": "u-42", "email": "ada@example.com", "roles": ["admin"]}}


def _pem_private(key: Any, fmt: serialization.PrivateFormat) -> str:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def _pem_public(key: Any, fmt: serialization.PublicFormat = serialization.PublicFormat.SubjectPublicKeyInfo) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM, fmt).decode()


class KeyForms:
    """One private key in all the forms a config may carry it."""

    def __init__(self, native: Any, *, sec1: bool = False, pkcs1: bool = False) -> None:
        self.native = native
        self.pkcs8 = _pem_private(native, serialization.PrivateFormat.PKCS8)
        self.traditional = (
            _pem_private(native, serialization.PrivateFormat.TraditionalOpenSSL) if (sec1 or pkcs1) else None
        )
        self.public_pem = _pem_public(native)
        self.public_pkcs1 = _pem_public(native, serialization.PublicFormat.PKCS1) if pkcs1 else None
        cls = RSAKey if pkcs1 else ECKey if sec1 else OKPKey
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # 1024-bit RSA is a deliberate bad fixture
            joserfc_key = cls.import_key(self.pkcs8)
        self.jwk: dict[str, Any] = dict(joserfc_key.as_dict(private=True))
        self.public_jwk: dict[str, Any] = dict(joserfc_key.as_dict(private=False))


@pytest.fixture(scope="session")
def rsa2048() -> KeyForms:
    return KeyForms(rsa.generate_private_key(65537, 2048), pkcs1=True)


@pytest.fixture(scope="session")
def rsa2048_other() -> KeyForms:
    return KeyForms(rsa.generate_private_key(65537, 2048), pkcs1=True)


@pytest.fixture(scope="session")
def rsa1024() -> KeyForms:
    return KeyForms(rsa.generate_private_key(65537, 1024), pkcs1=True)


@pytest.fixture(scope="session")
def ec_keys() -> dict[str, KeyForms]:
    curves = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}
    return {name: KeyForms(ec.generate_private_key(curve), sec1=True) for name, curve in curves.items()}


@pytest.fixture(scope="session")
def ed25519_key() -> KeyForms:
    return KeyForms(ed25519.Ed25519PrivateKey.generate())


@pytest.fixture(scope="session")
def secp256k1_pem() -> str:
    return _pem_private(ec.generate_private_key(ec.SECP256K1()), serialization.PrivateFormat.PKCS8)
