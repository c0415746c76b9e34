"""The golden recording's test keys, in every form a config may carry them, and certificates derived from them."""

from __future__ import annotations

import base64
import datetime
import hashlib
import secrets
from collections.abc import Callable
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from joserfc.jwk import ECKey, OKPKey, RSAKey, import_key

from tests.support.pki import key_usage
from worker.core.sealed import seal


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _pkcs8(key: Any) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _encrypted(pem: str, password: str, fmt: serialization.PrivateFormat) -> str:
    """`pem` under `password`: PKCS#8 (-----BEGIN ENCRYPTED PRIVATE KEY-----) or traditional (Proc-Type)."""
    native = serialization.load_pem_private_key(pem.encode(), None)
    encryption = serialization.BestAvailableEncryption(password.encode())
    return native.private_bytes(serialization.Encoding.PEM, fmt, encryption).decode()  # type: ignore[union-attr]


def _rsa(keys: dict[str, Any]) -> str:
    return _pkcs8(rsa.generate_private_key(65537, 2048))


def _ec(curve: ec.EllipticCurve) -> Callable[[dict[str, Any]], str]:
    return lambda keys: _pkcs8(ec.generate_private_key(curve))


def _ed25519(keys: dict[str, Any]) -> str:
    return _pkcs8(ed25519.Ed25519PrivateKey.generate())


def _oct(size: int) -> Callable[[dict[str, Any]], str]:
    return lambda keys: b64url(secrets.token_bytes(size))


def _password(size: int, label: str = "golden-test-password-") -> Callable[[dict[str, Any]], str]:
    return lambda keys: (label + secrets.token_hex(size))[:size]


# Each test key and how to make it, in the order of keys.json. An encrypted PEM has a random
# salt, so it is made once and committed like the keys; certificates are derived (Material).
KEY_MAKERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "kek": lambda keys: {**RSAKey.generate_key(2048, private=True).as_dict(private=True), "kid": "golden-kek"},
    "rsa-sign": _rsa,
    "rsa-sign-2": _rsa,
    "rsa-enc": _rsa,
    **{
        f"ec-{use}-{name}": _ec(curve)
        for name, curve in (("p256", ec.SECP256R1()), ("p384", ec.SECP384R1()), ("p521", ec.SECP521R1()))
        for use in ("sign", "enc")
    },
    "ec-sign-p256-2": _ec(ec.SECP256R1()),
    "ed25519": _ed25519,
    **{f"oct-{size}": _oct(size) for size in (16, 24, 32, 48, 64)},
    **{f"password-{size}": _password(size) for size in (32, 48, 64)},
    # Since the node's extensions: a retired key of each rotation, the test CA, encrypted PEMs, PBES2.
    "rsa-sign-3": _rsa,
    "ec-sign-p256-3": _ec(ec.SECP256R1()),
    "ca-ed25519": _ed25519,
    "pem-password": _password(24, "golden-pem-"),
    "rsa-sign-2-encrypted-pkcs8": lambda keys: _encrypted(
        keys["rsa-sign-2"], keys["pem-password"], serialization.PrivateFormat.PKCS8
    ),
    "ed25519-encrypted-pkcs8": lambda keys: _encrypted(
        keys["ed25519"], keys["pem-password"], serialization.PrivateFormat.PKCS8
    ),
    "ec-sign-p384-encrypted-sec1": lambda keys: _encrypted(
        keys["ec-sign-p384"], keys["pem-password"], serialization.PrivateFormat.TraditionalOpenSSL
    ),
    "pbes2-password": _password(28, "golden-pbes2-"),
}


def complete_keys(keys: dict[str, Any]) -> dict[str, Any]:
    """`keys` with every missing test key made: new options get keys, the committed ones stay."""
    out = {"comment": "TEST KEYS for the golden recording only; never use them elsewhere", **keys}
    for name, make in KEY_MAKERS.items():
        if name not in out:
            out[name] = make(out)
    return out


CA_NAME = "golden test CA"
CERT_NOT_BEFORE = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
CERT_NOT_AFTER = datetime.datetime(2125, 1, 1, tzinfo=datetime.UTC)


def _certificate(
    subject: str,
    issuer: str,
    public_key: Any,
    ca_key: Any,
    not_after: datetime.datetime,
    usage: x509.KeyUsage,
    ca: bool = False,
) -> x509.Certificate:
    serial = int.from_bytes(hashlib.sha256(subject.encode()).digest()[:16]) >> 1  # positive, fixed per subject
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(min(CERT_NOT_BEFORE, not_after - datetime.timedelta(days=1)))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .sign(ca_key, None)  # Ed25519: no separate hash, and a deterministic signature
    )


class Material:
    """The committed test keys in every form a config may carry them."""

    def __init__(self, keys: dict[str, Any]) -> None:
        self.keys = keys
        self.kek = import_key(keys["kek"])

    def pem(self, name: str) -> str:
        return str(self.keys[name])

    def traditional(self, name: str) -> str:
        """PKCS#1 for RSA, SEC1 for EC."""
        native = serialization.load_pem_private_key(self.pem(name).encode(), None)
        return native.private_bytes(  # type: ignore[union-attr]
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ).decode()

    def public_pem(self, name: str) -> str:
        native = serialization.load_pem_private_key(self.pem(name).encode(), None)
        return (
            native.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def jwk(self, name: str, private: bool = True) -> dict[str, Any]:
        pem = self.pem(name)
        for cls in (RSAKey, ECKey, OKPKey):
            try:
                return dict(cls.import_key(pem).as_dict(private=private))
            except Exception:
                continue
        raise ValueError(name)

    def oct(self, size: int) -> dict[str, Any]:
        return {"kty": "oct", "k": self.keys[f"oct-{size}"]}

    def text(self, name: str) -> str:
        return str(self.keys[name])

    def password(self, size: int) -> str:
        return str(self.keys[f"password-{size}"])

    def sealed(self, secret: str) -> dict[str, Any]:
        return seal(secret, self.kek)

    def public_jwk_of(self, name: str, **members: Any) -> dict[str, Any]:
        return {**self.jwk(name, private=False), **members}

    # Certificates: issued by the test CA (an Ed25519 key, whose signatures are deterministic) with
    # fixed serials and dates, so every run derives the same bytes. A century of validity: the
    # worker checks a recipient certificate is valid *now*, at replay time too.

    def ca(self) -> x509.Certificate:
        key = self._native("ca-ed25519")
        return _certificate(CA_NAME, CA_NAME, key.public_key(), key, CERT_NOT_AFTER, key_usage(cert_sign=True), ca=True)

    def certificate(self, name: str, usage: x509.KeyUsage, not_after: datetime.datetime = CERT_NOT_AFTER) -> str:
        """A PEM certificate of the test key `name`, issued by the test CA."""
        public = self._native(name).public_key()
        cert = _certificate(f"golden {name}", CA_NAME, public, self._native("ca-ed25519"), not_after, usage)
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    def x5c_headers(self, name: str) -> dict[str, Any]:
        """x5c (leaf, then the CA) and the leaf's thumbprints, computed here apart from the worker."""
        leaf = x509.load_pem_x509_certificate(self.certificate(name, key_usage(signature=True)).encode())
        chain = [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in (leaf, self.ca())]
        return {
            "x5c": chain,
            "x5t": b64url(leaf.fingerprint(hashes.SHA1())),
            "x5t#S256": b64url(leaf.fingerprint(hashes.SHA256())),
        }

    def _native(self, name: str) -> Any:
        return serialization.load_pem_private_key(self.pem(name).encode(), None)

    def recipients(self) -> dict[str, Any]:
        return {"keys": [self.jwk(n) for n in ("rsa-enc", "ec-enc-p256", "ec-enc-p384", "ec-enc-p521")]}
