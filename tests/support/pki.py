"""Throwaway X.509: a test CA, certificates for the tests' keys, and TLS server certificates for 127.0.0.1."""

from __future__ import annotations

import base64
import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

DAY = datetime.timedelta(days=1)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@dataclass
class CA:
    key: Any
    cert: x509.Certificate

    @classmethod
    def create(cls, name: str = "jwtgen test CA") -> CA:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - DAY)
            .not_valid_after(now + 30 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(key_usage(cert_sign=True), critical=True)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    def issue(
        self,
        public_key: Any,
        name: str,
        *,
        usage: x509.KeyUsage | None = None,
        ip: str | None = None,
        expired: bool = False,
    ) -> x509.Certificate:
        """A certificate for `public_key`, valid now unless `expired`; `ip` adds it as a subjectAltName."""
        now = datetime.datetime.now(datetime.UTC)
        start, end = (now - 10 * DAY, now - DAY) if expired else (now - DAY, now + 30 * DAY)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        if usage is not None:
            builder = builder.add_extension(usage, critical=True)
        if ip is not None:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False
            )
        return builder.sign(self.key, hashes.SHA256())

    def write(self, path: Path) -> Path:
        path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        return path


def key_usage(
    *, cert_sign: bool = False, signature: bool = False, encipherment: bool = False, agreement: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signature,
        content_commitment=False,
        key_encipherment=encipherment,
        data_encipherment=False,
        key_agreement=agreement,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


SIGNING = key_usage(signature=True)
KEY_ENCIPHERMENT = key_usage(encipherment=True)
KEY_AGREEMENT = key_usage(agreement=True)


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def der_b64(cert: x509.Certificate) -> str:
    """An `x5c` entry: standard base64 of the DER certificate."""
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def thumbprints(cert: x509.Certificate) -> dict[str, str]:
    """x5t and x5t#S256 of `cert`, computed here independently of the worker."""

    def b64url(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    return {"x5t": b64url(cert.fingerprint(hashes.SHA1())), "x5t#S256": b64url(cert.fingerprint(hashes.SHA256()))}


def server_files(ca: CA, directory: Path) -> tuple[Path, Path]:
    """(certificate, key) PEM files of a TLS server on 127.0.0.1, issued by `ca`."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = ca.issue(key.public_key(), "127.0.0.1", ip="127.0.0.1")
    cert_file, key_file = directory / "server.pem", directory / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file
