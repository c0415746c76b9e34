"""Kafka security settings without a broker: the KAFKA_* variables, their combinations,
the options every client gets, and the one-line refusals of a TLS peer we do not trust.

The password used throughout contains TOP-SECRET: no repr, message or help text may show it.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka.errors import SaslAuthenticationFailed
from aiokafka.protocol.admin import SaslAuthenticateRequest_v1
from click.testing import CliRunner
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from worker.cli.main import main
from worker.devtools import tls
from worker.stream import preflight
from worker.stream.connection import KafkaConnection, KafkaRefused, KafkaUnreachable
from worker.stream.faustkafka import faust_options
from worker.stream.settings import Settings, SettingsError

PASSWORD = "TOP-SECRET-sasl-password"


@dataclass(frozen=True)
class Pki:
    ca: Path
    other_ca: Path
    client_cert: Path
    client_key: Path
    server: Path  # key + chain for a TLS test server, certified for "other.example" only


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root = tmp_path_factory.mktemp("pki")
    authority, stranger = tls.new_authority("test CA"), tls.new_authority("another CA")
    client = tls.issue(authority, "worker")
    server = tls.issue(authority, "broker", ("other.example",))
    return Pki(
        ca=tls.write_public(root / "ca.pem", authority.certificate_pem()),
        other_ca=tls.write_public(root / "other-ca.pem", stranger.certificate_pem()),
        client_cert=tls.write_public(root / "client.crt", client.certificate_pem()),
        client_key=tls.write_private(root / "client.key", client.key_pem()),
        server=tls.write_private(root / "server.pem", server.key_pem() + server.certificate_pem()),
    )


def sasl_ssl(pki: Pki, **extra: str) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": "k1:9093,k2:9093",
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SASL_USERNAME": "jwtgen-worker",
        "KAFKA_SASL_PASSWORD": PASSWORD,
        "KAFKA_SSL_CA_FILE": str(pki.ca),
        **extra,
    }


# ----------------------------------------------------------------------------- reading and combining


def test_sasl_ssl_reaches_faust_and_aiokafka_alike(pki: Pki) -> None:
    settings = Settings.from_mapping(sasl_ssl(pki))
    kafka = settings.kafka
    assert (kafka.security_protocol, kafka.sasl_mechanism, kafka.sasl_username) == (
        "SASL_SSL",
        "SCRAM-SHA-512",
        "jwtgen-worker",
    )
    assert kafka.sasl_password == PASSWORD and kafka.ssl_check_hostname
    options = kafka.client_options()
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert options == {
        "bootstrap_servers": "k1:9093,k2:9093",
        "security_protocol": "SASL_SSL",
        "ssl_context": context,
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "jwtgen-worker",
        "sasl_plain_password": PASSWORD,
    }
    # Faust's own translation of its credentials gives the same aiokafka options.
    app_options = faust_options(kafka)
    assert app_options["broker"] == ["kafka://k1:9093", "kafka://k2:9093"]
    assert dict(credentials_to_aiokafka_auth(app_options["broker_credentials"])) == {
        k: v for k, v in options.items() if k != "bootstrap_servers"
    }
    assert settings.kafka is kafka, "one connection (one TLS context) per settings"


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SSL", "SASL_PLAINTEXT"])
def test_every_protocol_gives_faust_and_aiokafka_the_same_options(pki: Pki, protocol: str) -> None:
    env = {"KAFKA_SECURITY_PROTOCOL": protocol.lower()}  # any case
    if protocol.startswith("SASL"):
        env |= {"KAFKA_SASL_MECHANISM": "plain", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": PASSWORD}
    if protocol == "SSL":
        env |= {"KAFKA_SSL_CA_FILE": str(pki.ca), "KAFKA_SSL_CHECK_HOSTNAME": "false"}
    kafka = Settings.from_mapping(env).kafka
    options = kafka.client_options()
    assert options["security_protocol"] == protocol
    app = faust_options(kafka)
    translated = credentials_to_aiokafka_auth(app.get("broker_credentials"))
    # None is aiokafka's default: the same effective options.
    assert {k: v for k, v in translated.items() if v is not None} == {
        k: v for k, v in options.items() if k != "bootstrap_servers"
    }
    if protocol == "SSL":
        assert options["ssl_context"].check_hostname is False
        assert options["ssl_context"].verify_mode == ssl.CERT_REQUIRED, "the chain is still verified"


def test_mtls_loads_the_client_certificate(pki: Pki) -> None:
    env = {
        "KAFKA_SECURITY_PROTOCOL": "SSL",
        "KAFKA_SSL_CA_FILE": str(pki.ca),
        "KAFKA_SSL_CERT_FILE": str(pki.client_cert),
        "KAFKA_SSL_KEY_FILE": str(pki.client_key),
    }
    kafka = Settings.from_mapping(env).kafka
    assert kafka.ssl_context is not None
    assert kafka.principal() == "the client certificate CN=worker"
    wrong_key = env | {"KAFKA_SSL_KEY_FILE": str(pki.server)}  # another key than the certificate's
    with pytest.raises(SettingsError) as caught:
        Settings.from_mapping(wrong_key)
    assert str(caught.value).startswith("KAFKA_SSL_CERT_FILE / KAFKA_SSL_KEY_FILE: cannot load the client certificate")


def test_the_password_may_come_from_a_file(pki: Pki, tmp_path: Path) -> None:
    path = tmp_path / "password"
    path.write_text(PASSWORD + "\n")  # as `echo` leaves it
    env = sasl_ssl(pki, KAFKA_SASL_PASSWORD="", KAFKA_SASL_PASSWORD_FILE=str(path))
    assert Settings.from_mapping(env).kafka.sasl_password == PASSWORD


PROTOCOL_CHOICES = "PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"
MECHANISM_CHOICES = "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512"
SASL_SSL_NEEDS = "KAFKA_SECURITY_PROTOCOL=SASL_SSL needs"
BAD_COMBINATIONS = [
    ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, f"KAFKA_SECURITY_PROTOCOL='TLS' must be one of {PROTOCOL_CHOICES}"),
    ({"KAFKA_SASL_MECHANISM": "GSSAPI"}, f"KAFKA_SASL_MECHANISM='GSSAPI' must be one of {MECHANISM_CHOICES}"),
    ({"KAFKA_SSL_CHECK_HOSTNAME": "maybe"}, "KAFKA_SSL_CHECK_HOSTNAME='maybe' must be true or false"),
    ({"KAFKA_SASL_MECHANISM": ""}, f"{SASL_SSL_NEEDS} KAFKA_SASL_MECHANISM ({MECHANISM_CHOICES})"),
    ({"KAFKA_SASL_USERNAME": ""}, f"{SASL_SSL_NEEDS} KAFKA_SASL_USERNAME"),
    ({"KAFKA_SASL_PASSWORD": ""}, f"{SASL_SSL_NEEDS} KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE"),
    (
        {"KAFKA_SECURITY_PROTOCOL": "SSL"},
        "KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD set but KAFKA_SECURITY_PROTOCOL=SSL "
        "does not use SASL: set KAFKA_SECURITY_PROTOCOL=SASL_SSL (or SASL_PLAINTEXT)",
    ),
    (
        {"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"},
        "KAFKA_SSL_CA_FILE set but KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT does not use TLS: "
        "set KAFKA_SECURITY_PROTOCOL=SSL or SASL_SSL",
    ),
    (
        {"KAFKA_SSL_CA_FILE": "/nonexistent/ca.pem"},
        "KAFKA_SSL_CA_FILE='/nonexistent/ca.pem' cannot be read (No such file or directory)",
    ),
    ({"KAFKA_SSL_KEY_FILE": "/etc/hostname"}, "KAFKA_SSL_KEY_FILE needs KAFKA_SSL_CERT_FILE (the client certificate)"),
    ({"KAFKA_SASL_PASSWORD_FILE": "/nonexistent/pw"}, "set KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE, not both"),
]


@pytest.mark.parametrize(("change", "message"), BAD_COMBINATIONS)
def test_a_combination_that_cannot_work_names_the_variable(pki: Pki, change: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_mapping(sasl_ssl(pki, **change))
    assert str(caught.value) == message
    assert PASSWORD not in str(caught.value)


def test_unreadable_empty_and_malformed_files_name_their_variable(pki: Pki, tmp_path: Path) -> None:
    empty, garbage = tmp_path / "empty", tmp_path / "garbage.pem"
    empty.write_text("\n")
    garbage.write_text("not a certificate")
    cases = {
        "KAFKA_SASL_PASSWORD_FILE": (
            {"KAFKA_SASL_PASSWORD": "", "KAFKA_SASL_PASSWORD_FILE": str(tmp_path / "missing")},
            f"KAFKA_SASL_PASSWORD_FILE='{tmp_path / 'missing'}' cannot be read (No such file or directory)",
        ),
        "empty password file": (
            {"KAFKA_SASL_PASSWORD": "", "KAFKA_SASL_PASSWORD_FILE": str(empty)},
            f"KAFKA_SASL_PASSWORD_FILE='{empty}' is empty",
        ),
        "CA not PEM": ({"KAFKA_SSL_CA_FILE": str(garbage)}, f"KAFKA_SSL_CA_FILE='{garbage}' holds no PEM certificate"),
    }
    for name, (change, message) in cases.items():
        with pytest.raises(SettingsError) as caught:
            Settings.from_mapping(sasl_ssl(pki, **change))
        assert str(caught.value).startswith(message), (name, str(caught.value))


# ----------------------------------------------------------------------------- the password stays hidden


def test_the_password_is_in_no_repr_and_no_description(pki: Pki) -> None:
    settings = Settings.from_mapping(sasl_ssl(pki))
    kafka = settings.kafka
    for text in (
        repr(settings),
        repr(kafka),
        str(kafka),
        kafka.describe(),
        kafka.principal(),
        repr(faust_options(kafka)),
    ):
        assert PASSWORD not in text, text
    assert kafka.describe() == "k1:9093,k2:9093 (SASL_SSL SCRAM-SHA-512 as jwtgen-worker)"
    wrong = preflight._refusal(kafka, "k1:9093", SaslAuthenticationFailed("Authentication failed"))
    assert wrong == (
        "Kafka at k1:9093 refused the login of user 'jwtgen-worker' (SCRAM-SHA-512): "
        "wrong KAFKA_SASL_USERNAME or password"
    )


def test_aiokafka_debug_logs_never_carry_the_sasl_bytes(pki: Pki, caplog: pytest.LogCaptureFixture) -> None:
    # aiokafka logs every request at debug level; a PLAIN login's bytes hold the password.
    Settings.from_mapping(sasl_ssl(pki, KAFKA_SASL_MECHANISM="PLAIN")).kafka.client_options()
    login = SaslAuthenticateRequest_v1(f"jwtgen-worker\0jwtgen-worker\0{PASSWORD}".encode())
    with caplog.at_level(logging.DEBUG, logger="aiokafka"):
        logging.getLogger("aiokafka.conn").debug("Request to %s:%d %d: %s", "k1", 9093, 7, login)
    [record] = [r for r in caplog.records if r.name == "aiokafka.conn"]
    assert record.getMessage() == "Request to k1:9093 7: <SASL bytes hidden>"
    assert PASSWORD not in caplog.text


@pytest.mark.parametrize("command", [["worker"], ["config", "put"], ["config", "delete"], ["request"]])
def test_help_names_the_variables_and_shows_no_value(
    pki: Pki, command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in sasl_ssl(pki).items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    for variable in (
        "KAFKA_SECURITY_PROTOCOL",
        "KAFKA_SASL_PASSWORD_FILE",
        "KAFKA_SSL_CA_FILE",
        "KAFKA_SSL_CHECK_HOSTNAME",
    ):
        assert variable in result.output, (variable, result.output)


def test_a_bad_setting_is_one_line_from_the_cli(pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in sasl_ssl(pki, KAFKA_SASL_USERNAME="").items():
        monkeypatch.setenv(name, value)
    request = tmp_path / "request.json"
    request.write_text('{"execution_id": "e-1"}')
    result = CliRunner().invoke(main, ["request", str(request)])
    assert result.exit_code == 1
    assert result.output == "Error: KAFKA_SECURITY_PROTOCOL=SASL_SSL needs KAFKA_SASL_USERNAME\n"


# ----------------------------------------------------------------------------- TLS refusals, on a local TLS server


async def refusal_from_tls_server(pki: Pki, ca: Path, check_hostname: bool) -> str:
    """Log in to a TLS server (not Kafka) whose certificate names only other.example; it hangs up at once."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.server)

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0, ssl=context)
    async with server:
        bootstrap = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
        kafka = KafkaConnection(bootstrap, "SSL", ssl_ca_file=str(ca), ssl_check_hostname=check_hostname)
        try:
            await preflight.check_login(kafka, timeout=5)
        except KafkaRefused as exc:
            return str(exc)
    raise AssertionError("the login was not refused")


@pytest.mark.parametrize(
    ("which_ca", "check_hostname", "expected"),
    [
        ("other_ca", True, "is not trusted (unable to get local issuer certificate): "
                           "it is signed by no CA in KAFKA_SSL_CA_FILE="),
        ("ca", True, "does not name that host (IP address mismatch, certificate is not valid for '127.0.0.1'.): "
                     "connect by a name it carries, or set KAFKA_SSL_CHECK_HOSTNAME=false"),
        # Name check off: TLS passes, and the server's hang-up is what remains.
        ("ca", False, "closed the connection during the handshake"),
    ],
)  # fmt: skip
def test_tls_refusals_are_one_line_naming_the_setting(
    pki: Pki, which_ca: str, check_hostname: bool, expected: str
) -> None:
    message = asyncio.run(refusal_from_tls_server(pki, getattr(pki, which_ca), check_hostname))
    assert expected in message, message
    assert "\n" not in message


def test_nobody_listening_is_unreachable_not_refused() -> None:
    with pytest.raises(KafkaUnreachable) as caught:
        asyncio.run(preflight.check_login(KafkaConnection("127.0.0.1:1"), timeout=5))
    assert str(caught.value) == "cannot reach Kafka at 127.0.0.1:1 (Connection refused)"
