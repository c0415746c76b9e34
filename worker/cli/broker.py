"""`jwtgen broker`: the local single-node Kafka for development and tests."""

from __future__ import annotations

from pathlib import Path

import click

from worker.devtools import broker as local_broker


@click.group()
def broker() -> None:
    """Run a local single-node Apache Kafka (KRaft) for development and tests.

    \b
    Jars: on first use Maven copies Kafka from Maven Central (about 100 MB),
    following the POM shipped in the package (worker/devtools/kafka-broker.pom.xml),
    into <cache root>/<hash of the POM text>/. Every checkout and install with
    the same POM shares that directory; a new POM gets a new one. A filled
    directory is never changed or deleted, so brokers keep running from it.
    Cache root: env JWTGEN_KAFKA_JARS, by default ~/.cache/jwtgen/kafka-jars.

    \b
    JVM: env KAFKA_HEAP_OPTS (default -Xms1g -Xmx1g -Xmn256m) and
    KAFKA_JVM_PERFORMANCE_OPTS (default -XX:+UseSerialGC -XX:TieredStopAtLevel=1
    -XX:MaxTenuringThreshold=1), as Kafka's own scripts read them. C1 only and
    the serial collector by default: on a small machine shared with the
    workers, C2's compiling and G1's threads slow what runs beside them; a
    large young generation whose survivors are promoted at once stops the
    broker every few seconds instead of every second.

    \b
    Ports: --port must be free on 127.0.0.1; the controller port is chosen
    for you. Prefer ports below the kernel's ephemeral range (Linux:
    32768-60999, see /proc/sys/net/ipv4/ip_local_port_range): there, a client
    reconnecting to a stopped broker can take the port and block a restart.

    \b
    Secured mode (start --secure): SASL_SSL with SCRAM-SHA-512 users, a
    throwaway CA and Kafka's StandardAuthorizer; nothing is allowed without an
    ACL except to the "admin" super user. `jwtgen broker grant` adds ACLs.
    """


DATA_DIR_OPTION = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=local_broker.DEFAULT_DATA_DIR,
    show_default=True,
    help="Where the broker keeps its pid file, logs and KRaft storage (env JWTGEN_BROKER_DIR).",
)


@broker.command("start")
@click.option(
    "--port",
    type=int,
    default=9092,
    show_default=True,
    help="PLAINTEXT listener port on 127.0.0.1; best below the ephemeral range (32768 on Linux).",
)
@DATA_DIR_OPTION
@click.option("--wait", type=float, default=120.0, show_default=True, help="Seconds to wait until it serves.")
@click.option(
    "--secure", is_flag=True, help="SASL_SSL (SCRAM-SHA-512) with TLS from a throwaway CA, and ACLs enforced."
)
@click.option(
    "--user",
    "users",
    multiple=True,
    metavar="NAME[:PASSWORD]",
    help="With --secure: a SCRAM user (repeatable); without PASSWORD one is generated.",
)
def broker_start(port: int, data_dir: Path, wait: float, secure: bool, users: tuple[str, ...]) -> None:
    """Start the broker in the background and return once it serves.

    Starting a broker that already runs for this data dir does nothing. A
    port in use is an error (exit 1); so is a broker that exits while
    starting, with its reason from DATA_DIR/server.log. The first start with
    a new POM fetches the jars (see `jwtgen broker --help`; needs mvn).
    Stop it with `jwtgen broker stop --data-dir DIR`.

    \b
    With --secure it writes into DATA_DIR (keys and passwords mode 0600):
      tls/ca.pem          the CA to trust (KAFKA_SSL_CA_FILE)
      users/NAME.env      KAFKA_* variables that connect as NAME, e.g.
                          `set -a; . DATA_DIR/users/admin.env; set +a`
      users/NAME.password the password (KAFKA_SASL_PASSWORD_FILE)
      admin.properties    --command-config for Kafka's own tools
    "admin" is a super user; other users can do nothing until granted ACLs
    (`jwtgen broker grant`). Naming a new --user (or a new password) for a
    running or formatted broker adds it with Kafka's kafka-configs tool.
    """
    from worker.devtools.secure import SecureSetupError, User

    try:
        parsed = tuple(User.parse(spec) for spec in users)
    except SecureSetupError as exc:
        raise click.BadParameter(str(exc), param_hint="--user") from None
    try:
        local_broker.start(
            port=port, data_dir=data_dir, wait_seconds=wait, say=click.echo, secured=secure, users=parsed
        )
    except local_broker.BrokerError as exc:
        raise click.ClickException(str(exc)) from exc


@broker.command("grant")
@DATA_DIR_OPTION
@click.option("--allow-principal", "principal", required=True, metavar="User:NAME", help="Who gets the ACLs.")
@click.option("--operation", "operations", multiple=True, required=True, help="Read, Write, Create, Describe ...")
@click.option("--topic", "topics", multiple=True, help="A topic (or, with --resource-pattern-type prefixed, a prefix).")
@click.option("--group", "groups", multiple=True, help="A consumer group (or a prefix).")
@click.option("--transactional-id", "transactional_ids", multiple=True, help="A transactional id (or a prefix).")
@click.option("--cluster", is_flag=True, help="The cluster itself (say, Create for every topic).")
@click.option(
    "--resource-pattern-type",
    "pattern_type",
    type=click.Choice(["literal", "prefixed"]),
    default="literal",
    show_default=True,
)
@click.option("--add", is_flag=True, hidden=True, help="Accepted for kafka-acls compatibility; grant always adds.")
def broker_grant(
    data_dir: Path,
    principal: str,
    operations: tuple[str, ...],
    topics: tuple[str, ...],
    groups: tuple[str, ...],
    transactional_ids: tuple[str, ...],
    cluster: bool,
    pattern_type: str,
    add: bool,
) -> None:
    """Add ALLOW ACLs on the local secured broker, as `kafka-acls.sh --add` does.

    Every --operation applies to every resource given; the options are
    kafka-acls's own, so `kafka-acls.sh --bootstrap-server B --command-config
    DATA_DIR/admin.properties --add ARGS` and `jwtgen broker grant --data-dir
    DATA_DIR ARGS` make the same ACLs. Runs as the broker's admin.
    """
    import asyncio

    from worker.devtools import acls

    try:
        wanted = acls.bindings(principal, operations, topics, groups, cluster, transactional_ids, pattern_type)
        options = local_broker.admin_client_options(data_dir)
        asyncio.run(acls.create_acls(options, wanted))
    except (acls.AclError, local_broker.BrokerError) as exc:
        raise click.ClickException(str(exc)) from None
    for acl in wanted:
        click.echo(f"granted {acl}")


@broker.command("stop")
@DATA_DIR_OPTION
def broker_stop(data_dir: Path) -> None:
    """Stop the broker that runs for this data dir (SIGTERM, then SIGKILL after 60 s)."""
    local_broker.stop(data_dir=data_dir, say=click.echo)
