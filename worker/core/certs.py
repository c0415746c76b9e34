"""X.509 certificates as key sources: a recipient's certificate (PEM), a JWS `x5c` chain and its thumbprints.

Every failure is a `keys.KeyProblem` whose text never quotes the certificate.
"""

from __future__ import annotations

import base64
import binascii
import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from worker.core import keys as keyops
from worker.core.keys import AsymmetricKey, KeyProblem

__all__ = ["Certificate", "from_der_b64", "from_pem", "is_pem_certificate", "x5t", "x5t_s256"]

_PEM_BEGIN = "-----BEGIN CERTIFICATE-----"


@dataclass(frozen=True)
class Certificate:
    native: x509.Certificate
    public_key: AsymmetricKey

    @property
    def der(self) -> bytes:
        return self.native.public_bytes(Encoding.DER)

    def expired(self, now: datetime.datetime) -> bool:
        return now > self.native.not_valid_after_utc

    def not_after(self) -> str:
        return self.native.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")

    def allows_key_transport(self) -> bool:
        """False when a KeyUsage extension forbids wrapping a content key to this key.

        RSA keys encrypt the key (keyEncipherment), EC keys agree on one (keyAgreement).
        """
        try:
            usage = self.native.extensions.get_extension_for_class(x509.KeyUsage).value
        except x509.ExtensionNotFound:
            return True
        native_key = self.native.public_key()
        if isinstance(native_key, rsa.RSAPublicKey):
            return bool(usage.key_encipherment)
        if isinstance(native_key, ec.EllipticCurvePublicKey):
            return bool(usage.key_agreement)
        return True


def is_pem_certificate(value: object) -> bool:
    return isinstance(value, str) and value.lstrip().startswith(_PEM_BEGIN)


def from_pem(value: object) -> Certificate:
    """The first certificate of a PEM text."""
    if not isinstance(value, str) or _PEM_BEGIN not in value:
        raise KeyProblem("is not a PEM certificate (-----BEGIN CERTIFICATE-----)")
    try:
        native = x509.load_pem_x509_certificate(value.encode("ascii", "replace"))
    except ValueError:
        raise KeyProblem("PEM certificate cannot be read") from None
    return _wrap(native)


def from_der_b64(value: object) -> Certificate:
    """One `x5c` entry: base64 (standard alphabet, RFC 7515 §4.1.6) of a DER certificate."""
    if not isinstance(value, str) or not value:
        raise KeyProblem("is not a base64 DER certificate")
    try:
        der = base64.b64decode(value, validate=True)
        native = x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError):
        raise KeyProblem("is not a base64 DER certificate (x5c holds standard base64, not PEM)") from None
    return _wrap(native)


def x5t(cert: Certificate) -> str:
    """RFC 7515 §4.1.7: base64url SHA-1 of the DER certificate."""
    return _b64url(cert.native.fingerprint(hashes.SHA1()))  # the header's definition, not a security choice


def x5t_s256(cert: Certificate) -> str:
    """RFC 7515 §4.1.8: base64url SHA-256 of the DER certificate."""
    return _b64url(cert.native.fingerprint(hashes.SHA256()))


def _wrap(native: x509.Certificate) -> Certificate:
    try:
        public = native.public_key()
    except ValueError:
        raise KeyProblem("certificate's public key cannot be read") from None
    return Certificate(native, keyops.from_native_public(public))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")
