"""A KafkaConnection as faust.App options (apart from connection.py so that offline commands never import Faust)."""

from __future__ import annotations

from typing import Any

from faust.auth import SASLCredentials, SSLCredentials

from worker.stream.connection import KafkaConnection, hide_sasl_bytes_in_logs


def faust_options(kafka: KafkaConnection) -> dict[str, Any]:
    """Keyword arguments for faust.App: the brokers and their credentials.

    Faust turns the credentials into the very aiokafka options that
    `kafka.client_options()` gives (faust.transport.drivers.aiokafka.credentials_to_aiokafka_auth),
    so the app and the plain clients connect alike. SASLCredentials means
    SASL_SSL only when given a TLS context, SASL_PLAINTEXT without.
    """
    hide_sasl_bytes_in_logs()
    options: dict[str, Any] = {
        "broker": [f"kafka://{hostport.strip()}" for hostport in kafka.bootstrap_servers.split(",")]
    }
    if kafka.uses_sasl:
        options["broker_credentials"] = SASLCredentials(
            username=kafka.sasl_username,
            password=kafka.sasl_password,
            mechanism=kafka.sasl_mechanism,
            ssl_context=kafka.ssl_context,
        )
    elif kafka.uses_tls:
        options["broker_credentials"] = SSLCredentials(kafka.ssl_context)
    return options
