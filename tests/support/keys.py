"""Key material for the tests: every form of a key, and symmetric keys by algorithm.

The worker parses keys with joserfc; the tests check its tokens with jwcrypto,
an independent implementation. `KeyForms` gives both views of one key, so a
test builds a config from one form and verifies with the other library.
"""

from __future__ import annotations

import base64
import json
import secrets
import warnings
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc.jwk import ECKey, OKPKey, RSAKey
from jwcrypto.jwk import JWK

# Symmetric key sizes in bytes (RFC 7518): HMAC keys at least the hash size,
# key-wrap keys exactly the AES size, `dir` keys exactly what `enc` uses.
HMAC_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
WRAP_BYTES = {"A128KW": 16, "A192KW": 24, "A256KW": 32, "A128GCMKW": 16, "A192GCMKW": 24, "A256GCMKW": 32}
ENC_BYTES = {"A128GCM": 16, "A192GCM": 24, "A256GCM": 32, "A128CBC-HS256": 32, "A192CBC-HS384": 48, "A256CBC-HS512": 64}
ENCS = list(ENC_BYTES)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def secret_text(n: int) -> str:
    """A fresh password of exactly n bytes; its 'TOP-SECRET' prefix makes the worker fixture look for it in the log."""
    return ("TOP-SECRET-" + secrets.token_hex(n))[:n]


def oct_jwk(secret: str | bytes) -> JWK:
    """jwcrypto's view of a symmetric key given as a password (its UTF-8 bytes) or raw bytes."""
    raw = secret.encode() if isinstance(secret, str) else secret
    return JWK(kty="oct", k=b64url(raw))


def pem_body_lines(pem: str) -> list[str]:
    """The base64 lines of a PEM: none of them may show up where a secret must not."""
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


def _private_pem(native: Any, fmt: serialization.PrivateFormat) -> str:
    return str(native.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode())


def _public_pem(native: Any, fmt: serialization.PublicFormat) -> str:
    return str(native.public_key().public_bytes(serialization.Encoding.PEM, fmt).decode())


class KeyForms:
    """One private key (RSA, EC or Ed25519) in every form a config may carry it.

    PEM: `pkcs8`, `traditional` (PKCS#1 for RSA, SEC1 for EC, None for Ed25519),
    `public_pem` (SubjectPublicKeyInfo), `public_pkcs1` (RSA only).
    JWK dicts without a kid: `jwk` (private) and `public_jwk`.
    Library views: `joserfc` (the worker's), `private` and `public` (jwcrypto's).
    """

    def __init__(self, native: Any) -> None:
        self.native = native
        is_rsa = isinstance(native, rsa.RSAPrivateKey)
        self.pkcs8 = _private_pem(native, serialization.PrivateFormat.PKCS8)
        self.traditional = (
            None
            if isinstance(native, ed25519.Ed25519PrivateKey)
            else _private_pem(native, serialization.PrivateFormat.TraditionalOpenSSL)
        )
        self.public_pem = _public_pem(native, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.public_pkcs1 = _public_pem(native, serialization.PublicFormat.PKCS1) if is_rsa else None
        cls = RSAKey if is_rsa else ECKey if isinstance(native, ec.EllipticCurvePrivateKey) else OKPKey
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # 1024-bit RSA is a deliberate bad fixture
            self.joserfc = cls.import_key(self.pkcs8)
        self.jwk: dict[str, Any] = dict(self.joserfc.as_dict(private=True))
        self.public_jwk: dict[str, Any] = dict(self.joserfc.as_dict(private=False))
        self.private = JWK.from_pem(self.pkcs8.encode())
        self.public = JWK.from_pem(self.public_pem.encode())

    def private_form(self, form: str) -> Any:
        """The private key as a config's `private_key`: pkcs8 | pkcs1 | sec1 | jwk | jwkstr."""
        return {
            "pkcs8": self.pkcs8,
            "pkcs1": self.traditional,
            "sec1": self.traditional,
            "jwk": dict(self.jwk),
            "jwkstr": json.dumps(self.jwk),
        }[form]

    def public_form(self, form: str) -> Any:
        """The public key as a config's `public_key` / `public_jwk`: pem | pkcs1pem | jwk | jwkstr."""
        return {
            "pem": self.public_pem,
            "pkcs1pem": self.public_pkcs1,
            "jwk": dict(self.public_jwk),
            "jwkstr": json.dumps(self.public_jwk),
        }[form]

    def thumbprint(self) -> str:
        """RFC 7638 thumbprint, computed by jwcrypto."""
        return str(self.public.thumbprint())
