"""How to reach Kafka: one object holds it, for Faust and for every aiokafka client.

The worker's Faust app (through worker/stream/faustkafka.py), its config
feed, topic creation and every CLI command connect through a
`KafkaConnection`, so TLS and SASL reach all of them at once. Its fields
mirror Kafka's client properties (security.protocol, sasl.mechanism,
ssl.truststore ...); worker/stream/settings.py reads them from the KAFKA_*
environment and checks their combinations.

The password is a field like the others but never shown: not in repr(), not
in `describe()`, not in any message built here.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
SECURITY_PROTOCOLS: tuple[SecurityProtocol, ...] = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS: tuple[SaslMechanism, ...] = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
ACL_HELP = 'see "Production Kafka" in the README for the ACLs of each role'


class KafkaRefused(RuntimeError):
    """Kafka answered and refused: a wrong password, an untrusted certificate, a missing ACL.

    Retrying cannot help; the one-line message names what to fix.
    """


class KafkaUnreachable(RuntimeError):
    """No bootstrap server answered (down, wrong address, a firewall); it may come back."""


@dataclass(frozen=True)
class KafkaConnection:
    bootstrap_servers: str = "localhost:9092"
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_ca_file: str | None = None  # None: the system's trusted CAs
    ssl_cert_file: str | None = None  # with ssl_key_file: a client certificate (mTLS)
    ssl_key_file: str | None = None
    ssl_check_hostname: bool = True

    @classmethod
    def of(cls, target: KafkaConnection | str) -> KafkaConnection:
        """A connection from itself or from a bootstrap string (host:port[,host:port])."""
        return target if isinstance(target, KafkaConnection) else cls(bootstrap_servers=target)

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    @cached_property
    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of every connection (built once: it reads the CA and key files).

        Raises OSError or ssl.SSLError if a file is missing or not PEM;
        settings.py builds it at start-up to report that against the variable.
        """
        if not self.uses_tls:
            return None
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ssl_ca_file)
        # Verification of the chain stays on; only the name check may be waived
        # (brokers reached through an address their certificate does not carry).
        context.check_hostname = self.ssl_check_hostname
        if self.ssl_cert_file:
            context.load_cert_chain(self.ssl_cert_file, self.ssl_key_file)
        return context

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for AIOKafkaConsumer, AIOKafkaProducer, AIOKafkaAdminClient and AIOKafkaClient."""
        hide_sasl_bytes_in_logs()
        options: dict[str, Any] = {"bootstrap_servers": self.bootstrap_servers}
        options["security_protocol"] = self.security_protocol
        if self.uses_tls:
            options["ssl_context"] = self.ssl_context
        if self.uses_sasl:
            options["sasl_mechanism"] = self.sasl_mechanism
            # aiokafka calls them "plain" but uses them for SCRAM too.
            options["sasl_plain_username"] = self.sasl_username
            options["sasl_plain_password"] = self.sasl_password
        return options

    def principal(self) -> str:
        """Who Kafka will see, for messages: the SASL user, the client certificate or ANONYMOUS."""
        if self.uses_sasl:
            return f"User:{self.sasl_username}"
        if self.uses_tls and self.ssl_cert_file:
            # The broker names it after the subject (its ssl.principal.mapping.rules may shorten it).
            return f"the client certificate {_subject(self.ssl_cert_file)}"
        return "User:ANONYMOUS"

    def describe(self) -> str:
        """Where and how it connects, for messages (never a credential)."""
        if self.security_protocol == "PLAINTEXT":
            return self.bootstrap_servers
        how: str = self.security_protocol
        if self.uses_sasl:
            how += f" {self.sasl_mechanism} as {self.sasl_username}"
        return f"{self.bootstrap_servers} ({how})"


class _HideSaslBytes(logging.Filter):
    """aiokafka logs each request and response at debug level, SASL ones with their bytes:
    a PLAIN login's bytes are "user\\0user\\0password"."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(_is_sasl(arg) for arg in record.args):
            record.args = tuple("<SASL bytes hidden>" if _is_sasl(arg) else arg for arg in record.args)
        return True


def _is_sasl(value: object) -> bool:
    return type(value).__name__.startswith("SaslAuthenticate")


def hide_sasl_bytes_in_logs() -> None:
    """Install (once) the filter that keeps SASL bytes out of aiokafka's debug log."""
    logger = logging.getLogger("aiokafka.conn")
    if not any(isinstance(f, _HideSaslBytes) for f in logger.filters):
        logger.addFilter(_HideSaslBytes())


def _subject(certificate_file: str) -> str:
    """The subject of the first certificate in a PEM file (RFC 4514), or the file name if unreadable."""
    from cryptography import x509

    try:
        with open(certificate_file, "rb") as fh:
            return x509.load_pem_x509_certificate(fh.read()).subject.rfc4514_string()
    except (OSError, ValueError):
        return certificate_file
