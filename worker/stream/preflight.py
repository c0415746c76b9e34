"""Before a client starts: can it log in to Kafka, and may it do what it is about to do?

Left to themselves, Kafka clients report a wrong password or an untrusted
certificate as "Unable to bootstrap" (the cause only in a log line per host
and retry), and a missing ACL only when the operation needing it runs, one
resource at a time. The worker and every CLI command ask first and fail in
one line that names the cause and what to fix:

- `check_login` opens one connection per bootstrap host until one logs in;
- `check_access` asks the broker which operations our principal holds on the
  topics and group we need (worker/stream/authorized.py) and lists every
  missing ACL at once.

`KafkaRefused` (retrying cannot help: fix a setting or an ACL) and
`KafkaUnreachable` (no broker answered: it may come back) keep the two apart.
No message here carries a credential.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka.client import AIOKafkaClient
from aiokafka.conn import collect_hosts, create_conn
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    IllegalSaslStateError,
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.protocol.metadata import MetadataRequest

from worker.stream import authorized
from worker.stream.connection import ACL_HELP, KafkaConnection, KafkaRefused, KafkaUnreachable
from worker.stream.topics import TopicNames, TopicsNotCreated, ensure_topics

log = logging.getLogger(__name__)

# OpenSSL's verify codes for a certificate that does not name the host or IP connected to.
_NAME_MISMATCH = {62, 64}


@dataclass(frozen=True)
class Need:
    """One ACL a role needs: `operation` (Read, Write, Create, Describe) on a topic or a group."""

    operation: str
    resource: str
    name: str

    def __str__(self) -> str:
        return f"{self.operation} on {self.resource} {self.name}"


def worker_needs(names: TopicNames, group_id: str, audit: bool = False) -> list[Need]:
    """What `jwtgen worker` does: read configs and requests in its group, write the answers (and audit events)."""
    needs = [
        Need("Read", "topic", names.configs),
        Need("Read", "topic", names.requests),
        Need("Write", "topic", names.true),
        Need("Write", "topic", names.failure),
        Need("Write", "topic", names.deadletter),
        Need("Read", "group", group_id),
    ]
    if audit:
        needs.append(Need("Write", "topic", names.audit))
    return needs


def publisher_needs(names: TopicNames) -> list[Need]:
    """What `jwtgen config put|delete` does."""
    return [Need("Write", "topic", names.configs)]


def requester_needs(names: TopicNames) -> list[Need]:
    """What `jwtgen request` (an orchestrator) does: send a request, read its answer without a group."""
    return [
        Need("Write", "topic", names.requests),
        Need("Read", "topic", names.true),
        Need("Read", "topic", names.failure),
    ]


async def prepare_worker(
    kafka: KafkaConnection,
    names: TopicNames,
    group_id: str,
    request_partitions: int,
    replication: int,
    audit: bool = False,
) -> None:
    """What `jwtgen worker` does before Faust starts: log in, create missing topics, check the ACLs."""
    await check_login(kafka)
    needs = worker_needs(names, group_id, audit)
    try:
        await ensure_topics(kafka, names, request_partitions, replication, audit=audit)
    except TopicsNotCreated as exc:
        # Kafka hides a topic we may not Describe, so "missing" may mean "not ours":
        # name every right lacking, and Create for the case they are indeed absent.
        missing = await missing_acls(kafka, needs)
        if not missing:
            raise
        raise KafkaRefused(_denial(kafka, missing, absent=exc.topics)) from None
    await check_access(kafka, needs)


async def check(kafka: KafkaConnection, needs: Iterable[Need] = (), timeout: float = 15.0) -> None:
    """What a command does before it runs: log in, then check the ACLs of its role."""
    await check_login(kafka, timeout)
    needs = list(needs)
    if needs:
        await check_access(kafka, needs)


async def check_login(kafka: KafkaConnection, timeout: float = 15.0) -> None:
    """Log in to the first bootstrap server that answers; KafkaRefused or KafkaUnreachable otherwise."""
    options = kafka.client_options()
    del options["bootstrap_servers"]
    unreachable: list[str] = []
    for host, port, _family in collect_hosts(kafka.bootstrap_servers):
        where = f"{host}:{port}"
        try:
            conn = await create_conn(host, port, request_timeout_ms=int(timeout * 1000), **options)
            try:
                # Some listeners accept the connection and refuse the first real request.
                await conn.send(MetadataRequest([]))
            finally:
                conn.close()
            return
        except Exception as exc:
            refused = _refusal(kafka, where, exc)
            if refused is not None:
                raise KafkaRefused(refused) from None
            unreachable.append(f"{where} ({_reason(exc)})")
    raise KafkaUnreachable(f"cannot reach Kafka at {', '.join(unreachable)}")


def _refusal(kafka: KafkaConnection, where: str, exc: BaseException) -> str | None:
    """The one line for an error that means "we were refused", or None for "nobody answered"."""
    protocol = f"KAFKA_SECURITY_PROTOCOL={kafka.security_protocol}"
    if isinstance(exc, SaslAuthenticationFailed):
        return (
            f"Kafka at {where} refused the login of user '{kafka.sasl_username}' ({kafka.sasl_mechanism}): "
            "wrong KAFKA_SASL_USERNAME or password"
        )
    if isinstance(exc, UnsupportedSaslMechanismError | IllegalSaslStateError):
        return (
            f"Kafka at {where} does not offer SASL {kafka.sasl_mechanism} on this listener: "
            f"check KAFKA_SASL_MECHANISM and {protocol}"
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        if exc.verify_code in _NAME_MISMATCH:
            return (
                f"the TLS certificate of Kafka at {where} does not name that host ({exc.verify_message}): "
                "connect by a name it carries, or set KAFKA_SSL_CHECK_HOSTNAME=false"
            )
        trusted = (
            f"signed by no CA in KAFKA_SSL_CA_FILE={kafka.ssl_ca_file}"
            if kafka.ssl_ca_file
            else "signed by no CA the system trusts: set KAFKA_SSL_CA_FILE to its CA"
        )
        return f"the TLS certificate of Kafka at {where} is not trusted ({exc.verify_message}): it is {trusted}"
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or type(exc).__name__
        if "CERTIFICATE" in reason or "UNKNOWN_CA" in reason:
            return (
                f"Kafka at {where} refused our client certificate ({reason}): "
                "check KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE"
            )
        return f"TLS with Kafka at {where} failed ({reason}): is it a TLS listener? ({protocol})"
    if isinstance(exc, KafkaConnectionError) and "closed" in str(exc):
        # TCP worked, then the broker hung up during the handshake: it expects another protocol
        # (or, with TLS 1.3, a client certificate: that refusal arrives after the handshake).
        certificate = kafka.uses_tls and not kafka.ssl_cert_file
        return f"Kafka at {where} closed the connection during the handshake: does {protocol} match its listener" + (
            ", or does it want a client certificate (KAFKA_SSL_CERT_FILE)?" if certificate else "?"
        )
    if isinstance(exc, ConnectionResetError) and kafka.uses_tls:
        return f"Kafka at {where} reset the TLS handshake: does {protocol} match its listener?"
    return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "no answer in time"
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno)
    return str(exc) or type(exc).__name__


async def check_access(kafka: KafkaConnection, needs: list[Need]) -> None:
    """Raise KafkaRefused listing every ACL in `needs` that our principal lacks.

    A broker too old to report authorized operations (before Kafka 2.3) is
    not checked: the operations themselves will fail if an ACL is missing.
    """
    held = await _authorized(kafka, needs)
    missing = _missing(needs, held)
    # Visible but absent, and not ours to create: using it would try to auto-create it.
    uncreatable = sorted(
        name
        for (kind, name), allowed in held.items()
        if kind == "topic"
        and allowed is not None
        and not allowed.exists
        and allowed.allows("Describe")
        and not allowed.allows("Create")
    )
    if missing:
        raise KafkaRefused(_denial(kafka, missing))
    if uncreatable:
        raise KafkaRefused(
            f"topic {', '.join(uncreatable)} does not exist on Kafka at {kafka.bootstrap_servers} and "
            f"{kafka.principal()} may not create it: start a worker first (it creates the contract topics) "
            "or create it"
        )


async def missing_acls(kafka: KafkaConnection, needs: list[Need]) -> list[Need]:
    """The ACLs in `needs` that our principal lacks, as far as the brokers tell."""
    return _missing(needs, await _authorized(kafka, needs))


Held = dict[tuple[str, str], authorized.Authorized | None]


async def _authorized(kafka: KafkaConnection, needs: list[Need]) -> Held:
    client = AIOKafkaClient(**kafka.client_options())
    held: Held = {}
    try:
        await client.bootstrap()
        topics = sorted({need.name for need in needs if need.resource == "topic"})
        groups = sorted({need.name for need in needs if need.resource == "group"})
        for topic, allowed in (await authorized.topic_operations(client, topics)).items():
            held[("topic", topic)] = allowed
        for group in groups:
            held[("group", group)] = await authorized.group_operations(client, group)
    except (NotImplementedError, KafkaError) as exc:
        log.info("cannot ask Kafka which ACLs we hold (%s): not checked", type(exc).__name__)
        return {}
    finally:
        await client.close()
    return held


def _missing(needs: list[Need], held: Held) -> list[Need]:
    return [
        need
        for need in needs
        if (allowed := held.get((need.resource, need.name))) is not None and not allowed.allows(need.operation)
    ]


def _denial(kafka: KafkaConnection, missing: list[Need], absent: list[str] | None = None) -> str:
    plural = "s" if len(missing) > 1 else ""
    note = (
        f"; {', '.join(absent)} may be absent too, and Create on them is denied: pre-create them or grant Create"
        if absent
        else ""
    )
    return (
        f"Kafka at {kafka.bootstrap_servers} denies {kafka.principal()} "
        f"{'; '.join(str(need) for need in missing)} (missing ACL{plural}{note}; {ACL_HELP})"
    )


def explain(exc: BaseException, kafka: KafkaConnection) -> str:
    """One line for a Kafka error a client raised after the checks (say, an ACL removed meanwhile)."""
    if isinstance(exc, TopicAuthorizationFailedError | GroupAuthorizationFailedError):
        return f"Kafka at {kafka.bootstrap_servers} denies {kafka.principal()} access: {exc} ({ACL_HELP})"
    if isinstance(exc, TransactionalIdAuthorizationFailed):
        return f"Kafka at {kafka.bootstrap_servers} denies {kafka.principal()} a transactional id: {exc}"
    return f"cannot reach Kafka at {kafka.describe()}: {exc}"
