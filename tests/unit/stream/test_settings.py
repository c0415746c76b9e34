"""Settings from the environment: defaults, every variable read, and errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.devtools import tls
from worker.stream.settings import ENVIRONMENT, Settings, SettingsError


def test_defaults_when_the_environment_is_empty() -> None:
    assert Settings.from_mapping({}) == Settings()


def test_every_variable_is_read(tmp_path: Path) -> None:
    authority = tls.new_authority("ca")
    client = tls.issue(authority, "worker")
    ca = tls.write_public(tmp_path / "ca.pem", authority.certificate_pem())
    cert = tls.write_public(tmp_path / "client.crt", client.certificate_pem())
    key = tls.write_private(tmp_path / "client.key", client.key_pem())
    ca_file = tmp_path / "jwks-ca.pem"
    ca_file.write_text("-----BEGIN CERTIFICATE-----")
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": "k1:9092,k2:9092",
        "JWTGEN_TOPIC_PREFIX": "p",
        "JWTGEN_REQUEST_PARTITIONS": "12",
        "JWTGEN_REPLICATION_FACTOR": "3",
        "JWTGEN_CONFIG_WAIT_SECONDS": "0.5",
        "JWTGEN_BATCH_MAX": "100",
        "JWTGEN_MAX_ANSWER_BYTES": "2048",
        "JWTGEN_SESSION_TIMEOUT_SECONDS": "30",
        "JWTGEN_DATA_DIR": "/var/tmp/x",
        "JWTGEN_LOG_LEVEL": "WARNING",
        "JWTGEN_LOG_FORMAT": "json",
        "JWTGEN_KEK": '{"kty":"oct","k":"AAAA"}',
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
        "KAFKA_SASL_USERNAME": "w",
        "KAFKA_SASL_PASSWORD": "TOP-SECRET",
        "KAFKA_SSL_CA_FILE": str(ca),
        "KAFKA_SSL_CERT_FILE": str(cert),
        "KAFKA_SSL_KEY_FILE": str(key),
        "KAFKA_SSL_CHECK_HOSTNAME": "false",
        "JWTGEN_AUDIT": "Yes",
        "JWTGEN_JWKS_CA_FILE": str(ca_file),
        "JWTGEN_JWKS_TIMEOUT_SECONDS": "2.5",
        # Outages, restarts and rebalances (tests/unit/stream/test_operations.py checks their values).
        "JWTGEN_STARTUP_WAIT_SECONDS": "60",
        "JWTGEN_SHUTDOWN_TIMEOUT_SECONDS": "15",
        "JWTGEN_LOG_REPEAT_SECONDS": "30",
        "JWTGEN_GROUP_INSTANCE_ID": "pod-1",
        "JWTGEN_LEAVE_GROUP_ON_SHUTDOWN": "true",
        "KAFKA_RECONNECT_BACKOFF_MAX_MS": "2000",
    }
    settings = Settings.from_mapping(env)
    assert settings.bootstrap_servers == "k1:9092,k2:9092"
    assert (settings.request_partitions, settings.replication_factor, settings.batch_max) == (12, 3, 100)
    assert (settings.config_wait_seconds, settings.session_timeout_seconds) == (0.5, 30.0)
    assert (settings.max_answer_bytes, settings.data_dir, settings.log_level) == (2048, "/var/tmp/x", "warning")
    assert settings.kek == env["JWTGEN_KEK"] and settings.log_format == "json"
    assert settings.group_id == "p.worker"
    kafka = settings.kafka
    assert (kafka.security_protocol, kafka.sasl_mechanism, kafka.sasl_username) == ("SASL_SSL", "SCRAM-SHA-256", "w")
    assert (kafka.sasl_password, kafka.ssl_ca_file, kafka.ssl_cert_file) == ("TOP-SECRET", str(ca), str(cert))
    assert (kafka.ssl_key_file, kafka.ssl_check_hostname) == (str(key), False)
    assert "TOP-SECRET" not in repr(settings)
    assert (settings.audit, settings.jwks_ca_file, settings.jwks_timeout_seconds) == (True, str(ca_file), 2.5)
    assert {variable for variable, _ in ENVIRONMENT.values()} <= set(env)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("JWTGEN_BATCH_MAX", "abc", "JWTGEN_BATCH_MAX='abc' is not an integer"),
        ("JWTGEN_BATCH_MAX", "0", "JWTGEN_BATCH_MAX='0' must be an integer >= 1"),
        ("JWTGEN_REQUEST_PARTITIONS", "8.5", "JWTGEN_REQUEST_PARTITIONS='8.5' is not an integer"),
        ("JWTGEN_CONFIG_WAIT_SECONDS", "soon", "JWTGEN_CONFIG_WAIT_SECONDS='soon' is not a number of seconds"),
        ("JWTGEN_SESSION_TIMEOUT_SECONDS", "-1", "JWTGEN_SESSION_TIMEOUT_SECONDS='-1' must be a number of seconds > 0"),
        ("JWTGEN_LOG_LEVEL", "loud", "JWTGEN_LOG_LEVEL='loud' must be one of debug, info, warning, error"),
        ("JWTGEN_AUDIT", "maybe", "JWTGEN_AUDIT='maybe' must be true or false"),
        ("JWTGEN_JWKS_TIMEOUT_SECONDS", "0", "JWTGEN_JWKS_TIMEOUT_SECONDS='0' must be a number of seconds > 0"),
    ],
)
def test_a_bad_value_names_the_variable_and_the_value(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_mapping({variable: value})
    assert str(caught.value) == message


def test_kek_from_a_file_and_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "kek.json"
    path.write_text('{"kty":"oct","k":"TOP-SECRET"}')
    assert Settings.from_mapping({"JWTGEN_KEK_FILE": str(path)}).kek == '{"kty":"oct","k":"TOP-SECRET"}'
    with pytest.raises(SettingsError) as caught:
        Settings.from_mapping({"JWTGEN_KEK_FILE": str(tmp_path / "missing.json")})
    assert "JWTGEN_KEK_FILE=" in str(caught.value) and "cannot be read" in str(caught.value)


def test_audit_off_by_default_and_an_unreadable_ca_file(tmp_path: Path) -> None:
    assert Settings.from_mapping({}).audit is False
    assert Settings.from_mapping({"JWTGEN_AUDIT": "off"}).audit is False
    with pytest.raises(SettingsError) as caught:
        Settings.from_mapping({"JWTGEN_JWKS_CA_FILE": str(tmp_path / "missing.pem")})
    assert str(caught.value).startswith("JWTGEN_JWKS_CA_FILE=") and "cannot be read" in str(caught.value)


def test_overrides_win_unless_none() -> None:
    settings = Settings.from_mapping({"JWTGEN_TOPIC_PREFIX": "env"}, topic_prefix="flag", web_port=None)
    assert (settings.topic_prefix, settings.web_port) == ("flag", 6066)
