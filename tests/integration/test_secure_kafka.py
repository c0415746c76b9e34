"""The worker and the CLI on a secured broker: SASL_SSL (SCRAM-SHA-512), mTLS, StandardAuthorizer, no ACL no access.

One broker for the module (`jwtgen broker start --secure`); each principal gets
exactly the ACLs the README lists for its role (tests/readme_acls.py parses
them from the README). Every password contains TOP-SECRET, and no output or
log may show one.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from jwcrypto import jwk

from tests.support import readme_acls
from tests.support.jose_check import verify
from tests.support.kafkaio import WorkerProcess, unique_prefix
from tests.support.processes import free_port
from tests.support.readme_acls import ORCHESTRATOR, PUBLISHER, WORKER
from tests.support.securekafka import SecureBroker, jwtgen
from worker.devtools import tls
from worker.stream.topics import TopicNames, ensure_topics

pytestmark = pytest.mark.integration

HMAC_SECRET = "TOP-SECRET-hmac-key-for-secure-tests-0123"
USERS = {
    "jwtgen-worker": "TOP-SECRET-worker-pw",
    "jwtgen-configs": "TOP-SECRET-configs-pw",
    "flow-orchestrator": "TOP-SECRET-orchestrator-pw",
    "half-worker": "TOP-SECRET-half-pw",  # only the worker's Read ACLs
    "groupless": "TOP-SECRET-groupless-pw",  # the worker's ACLs but its group
}
IAT = 1764355200
CLAIMS = {"iat": IAT, "exp": IAT + 600, "iss": "https://idp.example.com", "sub": "u-42"}


def name(principal: str) -> str:
    return principal.removeprefix("User:")


def config(config_id: str) -> dict[str, Any]:
    return {
        "id": config_id,
        "version": 1,
        "ttl": 600,
        "claims": {"issuer": "https://idp.example.com", "subject": "{{user.id}}"},
        "signature": {"type": "symmetric", "kid": "hs-secure", "alg": "HS256", "password": HMAC_SECRET},
        "encryption": None,
        "store": {"variable": "jwt", "attributes": ["token"], "frontend": False},
    }


def request_for(config_id: str) -> dict[str, Any]:
    return {
        "execution_id": str(uuid.uuid4()),
        "flow": {"id": "checkout", "type": "Authentication", "run_id": "r-1"},
        "node": {"id": "jwt-1"},
        "config": {"id": config_id},
        "store": {"user": {"id": "u-42"}},
        "issued_at": IAT,
    }


def write(path: Path, value: Any) -> Path:
    path.write_bytes(orjson.dumps(value))
    return path


def one_line(output: str) -> str:
    """The single line a refusal prints; a traceback or a log line beside it fails the test."""
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert "Traceback" not in output and "TOP-SECRET" not in output, output
    return lines[0]


def token_claims(answer: dict[str, Any]) -> dict[str, Any]:
    key = jwk.JWK(kty="oct", k=base64.urlsafe_b64encode(HMAC_SECRET.encode()).decode().rstrip("="))
    return verify(answer["store_delta"][0]["values"]["token"], key, "HS256", "hs-secure")


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    started = SecureBroker.start(tmp_path_factory.mktemp("secure-broker"), [f"{u}:{p}" for u, p in USERS.items()])
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def prefix(broker: SecureBroker) -> str:
    """Topics the worker creates itself: the README's ACLs for every role, Create included."""
    prefix = unique_prefix("secure")
    for principal in (WORKER, PUBLISHER, ORCHESTRATOR):
        broker.grant_readme(principal, prefix)
    return prefix


@pytest.fixture(scope="module")
def worker(broker: SecureBroker, prefix: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    log = tmp_path_factory.mktemp("secure-worker") / "worker.log"
    # At debug level, where aiokafka logs every request: still no password.
    env = {**broker.user_env(name(WORKER)), "JWTGEN_LOG_LEVEL": "debug"}
    proc = WorkerProcess(prefix, env["KAFKA_BOOTSTRAP_SERVERS"], free_port(), log, extra_env=env).start()
    try:
        yield proc
    finally:
        proc.stop()
        assert "TOP-SECRET" not in proc.log()


def put_and_request(broker: SecureBroker, prefix: str, tmp_path: Path, mtls: bool = False) -> dict[str, Any]:
    """Publish a config as the README's publisher, send a request as its orchestrator; the answer."""
    config_id = f"login-{uuid.uuid4().hex[:6]}"
    put = jwtgen(
        "config", "put", str(write(tmp_path / "c.json", config(config_id))), env=broker.env(name(PUBLISHER), prefix)
    )
    assert put.returncode == 0, put.stdout + put.stderr
    sent = jwtgen(
        "request",
        str(write(tmp_path / "r.json", request_for(config_id))),
        env=broker.env(name(ORCHESTRATOR), prefix, mtls),
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "TOP-SECRET" not in put.stdout + put.stderr + sent.stdout + sent.stderr
    assert sent.stdout.startswith(f"answer on {prefix}.true:")
    answer: dict[str, Any] = orjson.loads(sent.stdout.split("\n", 1)[1])
    return answer


# ----------------------------------------------------------------------------- the documented ACLs suffice


def test_a_worker_with_the_readme_acls_answers_end_to_end(
    broker: SecureBroker, prefix: str, worker: WorkerProcess, tmp_path: Path
) -> None:
    answer = put_and_request(broker, prefix, tmp_path)
    assert answer["outcome"] == "True"
    assert token_claims(answer) == CLAIMS
    assert "Authenticated as jwtgen-worker via SCRAM-SHA-512" in worker.log()
    assert "<SASL bytes hidden>" in worker.log(), "the debug log shows the SASL exchange, without its bytes"
    assert "TOP-SECRET" not in worker.log()


def test_the_orchestrator_drives_it_by_client_certificate_too(
    broker: SecureBroker, prefix: str, worker: WorkerProcess, tmp_path: Path
) -> None:
    # The mTLS listener maps CN=flow-orchestrator to the same principal: the same ACLs apply.
    answer = put_and_request(broker, prefix, tmp_path, mtls=True)
    assert answer["outcome"] == "True" and token_claims(answer) == CLAIMS


def test_a_worker_by_client_certificate_on_pre_created_topics_needs_no_create(
    broker: SecureBroker, tmp_path: Path
) -> None:
    prefix = unique_prefix("precreated")
    created = asyncio.run(ensure_topics(broker.kafka("admin"), TopicNames(prefix), 8, 1))
    assert len(created) == 5
    broker.grant_readme(WORKER, prefix, create=False)
    for principal in (PUBLISHER, ORCHESTRATOR):
        broker.grant_readme(principal, prefix)
    # mTLS: CN=jwtgen-worker is the principal User:jwtgen-worker, so the same ACLs apply.
    env = broker.user_env(name(WORKER), mtls=True)
    assert env["KAFKA_SECURITY_PROTOCOL"] == "SSL"
    proc = WorkerProcess(prefix, env["KAFKA_BOOTSTRAP_SERVERS"], free_port(), tmp_path / "w.log", extra_env=env)
    proc.start()
    try:
        answer = put_and_request(broker, prefix, tmp_path)
        assert answer["outcome"] == "True"
    finally:
        proc.stop()
    assert "TOP-SECRET" not in proc.log()
    # Without them pre-created, the same ACLs do not let it start: Create is the one right missing.
    fresh = unique_prefix("nocreate")
    broker.grant_readme(WORKER, fresh, create=False)
    refused = jwtgen("worker", "--web-port", str(free_port()), env=broker.env(name(WORKER), fresh), timeout=90)
    assert refused.returncode == 1
    assert one_line(refused.stdout + refused.stderr).startswith(
        f"Error: Kafka at {broker.bootstrap} denies User:jwtgen-worker Create on topic {fresh}.configs, "
        f"{fresh}.deadletter, {fresh}.failure, {fresh}.requests, {fresh}.true (missing, or not visible to it)"
    )


# ----------------------------------------------------------------------------- and they do not over-grant


def test_the_orchestrator_cannot_publish_a_config(broker: SecureBroker, prefix: str, tmp_path: Path) -> None:
    path = write(tmp_path / "c.json", config("not-allowed"))
    done = jwtgen("config", "put", str(path), env=broker.env(name(ORCHESTRATOR), prefix))
    assert done.returncode == 1
    assert one_line(done.stdout + done.stderr) == (
        f"Error: Kafka at {broker.bootstrap} denies User:flow-orchestrator Write on topic {prefix}.configs "
        '(missing ACL; see "Production Kafka" in the README for the ACLs of each role)'
    )


def test_the_publisher_cannot_send_requests(broker: SecureBroker, prefix: str, tmp_path: Path) -> None:
    done = jwtgen("request", str(write(tmp_path / "r.json", request_for("x"))), env=broker.env(name(PUBLISHER), prefix))
    assert done.returncode == 1
    assert one_line(done.stdout + done.stderr).startswith(
        f"Error: Kafka at {broker.bootstrap} denies User:jwtgen-configs Write on topic {prefix}.requests; "
        f"Read on topic {prefix}.true; Read on topic {prefix}.failure (missing ACLs;"
    )


# ----------------------------------------------------------------------------- refusals: one line naming the cause


@pytest.fixture(scope="module")
def unknown_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    authority = tls.new_authority("a CA the broker does not use")
    return tls.write_public(tmp_path_factory.mktemp("other-ca") / "ca.pem", authority.certificate_pem())


@pytest.fixture(scope="module")
def wrong_password(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("wrong") / "password"
    path.write_text("TOP-SECRET-but-wrong\n")
    return path


@pytest.fixture(scope="module")
def partial_acls(broker: SecureBroker, prefix: str) -> None:
    """Principals holding part of the worker's README ACLs on the module's prefix."""
    read, write, _create = readme_acls.of(WORKER)
    as_half = read.without("--allow-principal")  # Read only, no Write
    broker.grant(*as_half.with_prefix(prefix), "--allow-principal", "User:half-worker")
    for command in (read, write):
        as_groupless = command.without("--allow-principal").without("--group")
        broker.grant(*as_groupless.with_prefix(prefix), "--allow-principal", "User:groupless")


WORKER_REFUSALS = {
    "wrong password": (
        {"KAFKA_SASL_PASSWORD_FILE": "{wrong_password}"},
        "jwtgen-worker",
        "Error: Kafka at {bootstrap} refused the login of user 'jwtgen-worker' (SCRAM-SHA-512): "
        "wrong KAFKA_SASL_USERNAME or password",
    ),
    "unknown CA": (
        {"KAFKA_SSL_CA_FILE": "{unknown_ca}"},
        "jwtgen-worker",
        "Error: the TLS certificate of Kafka at {bootstrap} is not trusted (self-signed certificate in certificate "
        "chain): it is signed by no CA in KAFKA_SSL_CA_FILE={unknown_ca}",
    ),
    "missing Write ACLs": (
        {},
        "half-worker",
        "Error: Kafka at {bootstrap} denies User:half-worker Write on topic {prefix}.true; Write on topic "
        "{prefix}.failure; Write on topic {prefix}.deadletter (missing ACLs; {prefix}.deadletter, {prefix}.failure, "
        "{prefix}.true may be absent too, and Create on them is denied: pre-create them or grant Create; "
        'see "Production Kafka" in the README for the ACLs of each role)',
    ),
    "missing group ACL": (
        {},
        "groupless",
        "Error: Kafka at {bootstrap} denies User:groupless Read on group {prefix}.worker (missing ACL; "
        'see "Production Kafka" in the README for the ACLs of each role)',
    ),
}


@pytest.mark.parametrize("cause", list(WORKER_REFUSALS))
def test_the_worker_exits_with_one_line_naming_the_cause(
    broker: SecureBroker,
    prefix: str,
    worker: WorkerProcess,
    partial_acls: None,
    unknown_ca: Path,
    wrong_password: Path,
    cause: str,
) -> None:
    # `worker` ran first: the topics exist, so each line is about the cause alone.
    extra, user, expected = WORKER_REFUSALS[cause]
    values = {
        "bootstrap": broker.bootstrap,
        "prefix": prefix,
        "unknown_ca": unknown_ca,
        "wrong_password": wrong_password,
    }
    env = broker.env(user, prefix, **{k: v.format(**values) for k, v in extra.items()})
    done = jwtgen("worker", "--web-port", str(free_port()), env=env, timeout=90)
    assert done.returncode == 1, done.stdout + done.stderr
    assert one_line(done.stdout + done.stderr) == expected.format(**values)


CLI_REFUSALS = {
    "wrong password": (
        {"KAFKA_SASL_PASSWORD_FILE": "{wrong_password}"},
        "Error: Kafka at {bootstrap} refused the login of user 'flow-orchestrator' (SCRAM-SHA-512): "
        "wrong KAFKA_SASL_USERNAME or password",
    ),
    "unknown CA": (
        {"KAFKA_SSL_CA_FILE": "{unknown_ca}"},
        "Error: the TLS certificate of Kafka at {bootstrap} is not trusted (self-signed certificate in certificate "
        "chain): it is signed by no CA in KAFKA_SSL_CA_FILE={unknown_ca}",
    ),
    "PLAINTEXT to the SASL_SSL listener": (
        {"KAFKA_SECURITY_PROTOCOL": "PLAINTEXT", "KAFKA_SASL_MECHANISM": "", "KAFKA_SASL_USERNAME": "",
         "KAFKA_SASL_PASSWORD_FILE": "", "KAFKA_SSL_CA_FILE": ""},
        "Error: Kafka at {bootstrap} closed the connection during the handshake: "
        "does KAFKA_SECURITY_PROTOCOL=PLAINTEXT match its listener?",
    ),
}  # fmt: skip


@pytest.mark.parametrize("cause", list(CLI_REFUSALS))
@pytest.mark.parametrize("command", ["request", "config put"])
def test_the_commands_exit_with_one_line_naming_the_cause(
    broker: SecureBroker,
    prefix: str,
    unknown_ca: Path,
    wrong_password: Path,
    tmp_path: Path,
    command: str,
    cause: str,
) -> None:
    extra, expected = CLI_REFUSALS[cause]
    values = {"bootstrap": broker.bootstrap, "unknown_ca": unknown_ca, "wrong_password": wrong_password}
    env = broker.env(name(ORCHESTRATOR), prefix, **{k: v.format(**values) for k, v in extra.items()})
    body = request_for("x") if command == "request" else config("x")
    done = jwtgen(*command.split(), str(write(tmp_path / "in.json", body)), env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert one_line(done.stdout + done.stderr) == expected.format(**values)


def test_a_user_named_later_is_added_to_the_running_broker(broker: SecureBroker, prefix: str, tmp_path: Path) -> None:
    again = jwtgen("broker", "start", "--secure", "--data-dir", str(broker.data_dir), "--user", "late:TOP-SECRET-late")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already running" in again.stdout and "user late set" in again.stdout
    assert "TOP-SECRET" not in again.stdout + again.stderr
    # It logs in (the refusal is about its ACLs, not its password).
    done = jwtgen("config", "put", str(write(tmp_path / "c.json", config("x"))), env=broker.env("late", prefix))
    assert one_line(done.stdout + done.stderr).startswith(
        f"Error: Kafka at {broker.bootstrap} denies User:late Write on topic {prefix}.configs"
    )
