"""A local single-node Apache Kafka (KRaft), assembled from Maven Central.

`start` resolves the broker's jars once with Maven (the packaged
worker/devtools/kafka-broker.pom.xml) into a cache keyed by the POM's content,
formats KRaft storage on first use and runs `kafka.Kafka` in the background,
returning only when the broker answers metadata requests. With `secure=True`
it serves SASL_SSL with SCRAM users and ACLs instead of PLAINTEXT
(worker/devtools/secure.py).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from worker.devtools import ports, secure
from worker.devtools.secure import SecureFiles, SecureSetupError, User

# The cache ROOT: each POM content gets its own subdirectory, <root>/<sha256 prefix>/.
DEFAULT_JARS_ROOT = Path(os.environ.get("JWTGEN_KAFKA_JARS", Path.home() / ".cache" / "jwtgen" / "kafka-jars"))
DEFAULT_DATA_DIR = Path(os.environ.get("JWTGEN_BROKER_DIR", Path.home() / ".cache" / "jwtgen" / "broker"))
POM_NAME = "kafka-broker.pom.xml"
KAFKA_JAR_GLOB = "kafka_2.13-*.jar"

Say = Callable[[str], None]

# The JVM's options, under the names Kafka's own scripts (kafka-run-class.sh) read.
# A whole 1 GiB heap from the start, as Kafka's kafka-server-start.sh sets it: from
# 256 MiB the old generation, a 128 MiB log-cleaner buffer and the broker's own state,
# was full about a minute into a paced run, and its first full collection stopped the
# broker for 55-62 ms. A young generation of 256 MiB: see the collector below.
DEFAULT_HEAP_OPTS = "-Xms1g -Xmx1g -Xmn256m"
# This broker shares a small machine with the workers and the load (README, Performance).
# C1 only: C2 compiling the broker's hot paths took 10-15 s of CPU over its first
# minutes of traffic (jstat -compiler), and requests answered beside it waited; C1's
# code served the same paced load with no more CPU, and a drained backlog as fast.
# The serial collector: a heap of at most 1 GiB needs no concurrent threads, and
# requests answered beside it had a shorter tail than beside G1's. Its young
# collections stop the broker: with the default young generation (~80 MiB) for
# ~10 ms about once a second at 14,000 requests a second, most of it copying the
# same few MiB between the survivor spaces up to 15 times. Objects that survive one
# collection are promoted (MaxTenuringThreshold=1), and a 256 MiB young generation
# is collected every ~3 s for ~10 ms: the stalls then touch under 1% of requests.
DEFAULT_JVM_PERFORMANCE_OPTS = "-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:MaxTenuringThreshold=1"


def jvm_options(env: Mapping[str, str] = os.environ) -> list[str]:
    """The broker JVM's options: $KAFKA_HEAP_OPTS and $KAFKA_JVM_PERFORMANCE_OPTS when set, else ours."""
    heap = env.get("KAFKA_HEAP_OPTS") or DEFAULT_HEAP_OPTS
    performance = env.get("KAFKA_JVM_PERFORMANCE_OPTS") or DEFAULT_JVM_PERFORMANCE_OPTS
    return [*shlex.split(heap), *shlex.split(performance), "-Djava.awt.headless=true"]


class BrokerError(RuntimeError):
    pass


@dataclass(frozen=True)
class BrokerPaths:
    data_dir: Path

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "broker.pid"

    @property
    def properties(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "kraft-logs"

    @property
    def stdout_log(self) -> Path:
        return self.data_dir / "broker.out"

    @property
    def server_log(self) -> Path:
        return self.data_dir / "server.log"

    @property
    def port_file(self) -> Path:
        return self.data_dir / "broker.port"

    @property
    def tls_port_file(self) -> Path:
        """The mTLS listener's port of a secured broker (chosen by the tool)."""
        return self.data_dir / "broker.tls-port"


def packaged_pom() -> bytes:
    """The POM shipped inside the package (a wheel or an editable install alike)."""
    return resources.files("worker.devtools").joinpath(POM_NAME).read_bytes()


def cache_key(pom: bytes) -> str:
    """Same POM text, same jars: clones and installs of one version share one cache directory."""
    return hashlib.sha256(pom).hexdigest()[:16]


def ensure_jars(jars_root: Path = DEFAULT_JARS_ROOT, say: Say = print, pom: bytes | None = None) -> Path:
    """The directory of Kafka's runtime jars for this POM, copied from Maven Central on first use.

    A cache directory appears complete or not at all (Maven fills a temporary
    sibling that is then renamed into place), and a complete one is never
    changed or deleted: brokers started by other checkouts may run from it.
    """
    pom = packaged_pom() if pom is None else pom
    jars_dir = jars_root / cache_key(pom)
    if jars_dir.is_dir():
        return _complete(jars_dir)
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError("Maven (mvn) is not on PATH: it is needed once to fetch Apache Kafka from Maven Central")
    say(f"fetching Apache Kafka jars from Maven Central into {jars_dir} (once per POM version) ...")
    jars_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{jars_dir.name}.", suffix=".filling", dir=jars_root))
    work.chmod(0o755)  # mkdtemp makes it private; the cache is not
    try:
        # The POM travels with its jars: it tells which recipe filled the directory.
        (work / POM_NAME).write_bytes(pom)
        cmd = [
            mvn, "-q", "-B", "-f", str(work / POM_NAME), "dependency:copy-dependencies",
            f"-DoutputDirectory={work}", "-DincludeScope=runtime",
        ]  # fmt: skip
        done = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
        if done.returncode != 0:
            raise BrokerError(f"mvn failed ({done.returncode}):\n{done.stdout[-4000:]}{done.stderr[-4000:]}")
        _complete(work)
        try:
            os.rename(work, jars_dir)
        except OSError:
            if not jars_dir.is_dir():
                raise
            # Another process filled it meanwhile: theirs is as good, and may be in use.
    finally:
        shutil.rmtree(work, ignore_errors=True)  # gone already once renamed
    return _complete(jars_dir)


def new_cluster_id() -> str:
    """A base64url-encoded 16-byte id, as StorageTool wants, never starting with '-'.

    One in 64 would, and StorageTool's argument parser then reads it as an
    option ("argument --cluster-id/-t: expected one argument"); Kafka's own
    Uuid.randomUuid() draws again in that case too.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _complete(jars_dir: Path) -> Path:
    if not any(jars_dir.glob(KAFKA_JAR_GLOB)):
        raise BrokerError(
            f"the jar cache {jars_dir} has no {KAFKA_JAR_GLOB}: it is damaged; "
            "remove that directory (no broker may run from it) and start again"
        )
    return jars_dir


def _classpath(jars_dir: Path) -> str:
    return os.pathsep.join(str(p) for p in sorted(jars_dir.glob("*.jar")))


def _plain_listeners(port: int, controller_port: int) -> list[str]:
    return [
        f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    ]


def _properties(port: int, controller_port: int, log_dir: Path, listeners: list[str] | None = None) -> str:
    # One combined broker+controller. Internal topics get replication factor 1
    # and the transaction log min ISR 1, so transactions work on one node.
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
            *(listeners or _plain_listeners(port, controller_port)),
            f"log.dirs={log_dir}",
            # Topics created by a client's first write (say, requests published
            # before any worker ran) get the contract's default partition count.
            "num.partitions=8",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=8",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=true",
            # Kafka's default segment size. At 16 MiB the answers topic rolled every
            # ~13 s at 13,600 answers a second, each roll of its 8 partitions a
            # stall of 40-125 ms in every client's latency (bench.latency, README).
            "log.segment.bytes=1073741824",
            "log.retention.check.interval.ms=60000",
            "",
        ]
    )


def read_pid(paths: BrokerPaths) -> int | None:
    """The broker's pid if it is alive; a stale pid file is removed."""
    try:
        pid = int(paths.pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        paths.pid_file.unlink(missing_ok=True)
        return None
    except PermissionError:
        return pid
    # A reused pid that is not our Java process counts as stale too.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return pid
    if b"kafka.Kafka" not in cmdline:
        paths.pid_file.unlink(missing_ok=True)
        return None
    return pid


def _answers_metadata(port: int, timeout: float = 2.0, options: dict[str, Any] | None = None) -> bool:
    """True once the broker answers an ApiVersions + Metadata round trip (`options`: how to log in)."""
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient

    # aiokafka logs every refused connection while the broker boots.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

    async def probe() -> bool:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=f"127.0.0.1:{port}", request_timeout_ms=int(timeout * 1000), **(options or {})
        )
        try:
            await asyncio.wait_for(admin.start(), timeout)
            await asyncio.wait_for(admin.list_topics(), timeout)
            return True
        except Exception:
            return False
        finally:
            await admin.close()

    try:
        return asyncio.run(probe())
    except Exception:
        return False


def start(
    port: int = 9092,
    data_dir: Path = DEFAULT_DATA_DIR,
    jars_root: Path = DEFAULT_JARS_ROOT,
    wait_seconds: float = 120.0,
    say: Say = print,
    secured: bool = False,
    users: tuple[User, ...] = (),
) -> int:
    """Start the broker (a no-op if it runs) and return its pid once it serves.

    `secured`: SASL_SSL with SCRAM `users` (and an admin super user) and ACLs
    (worker/devtools/secure.py). Users named again later are added to the
    running broker, or get their new password.
    """
    paths = BrokerPaths(data_dir.resolve())
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    files = SecureFiles(paths.data_dir)
    formatted = (paths.log_dir / "meta.properties").exists()
    if formatted and files.is_secure() != secured:
        made = "--secure" if files.is_secure() else "plain"
        raise BrokerError(f"the data dir {paths.data_dir} holds a {made} broker: start it the same way or use another")
    if users and not secured:
        raise BrokerError("--user needs --secure: a plain broker has no users")
    running = read_pid(paths)
    if running is not None:
        known_port = paths.port_file.read_text().strip() if paths.port_file.exists() else "?"
        say(f"broker already running (pid {running}, port {known_port}, data dir {paths.data_dir})")
        if secured and users:
            _set_users(paths, files, int(known_port), users, say)
        return running
    _require_free(port)
    ephemeral = ports.ephemeral_range()
    if ephemeral[0] <= port <= ephemeral[1]:
        say(
            f"note: port {port} is in the kernel's ephemeral range {ephemeral[0]}-{ephemeral[1]}: a client "
            "connection may take it while the broker is down; a port below the range is safer"
        )
    jars = ensure_jars(jars_root, say)
    classpath = _classpath(jars)
    java = shutil.which("java")
    if java is None:
        raise BrokerError("java is not on PATH: Apache Kafka needs Java 17 or newer")
    _require_free(port)  # again: fetching the jars may have taken minutes
    controller_port = ports.free_port(exclude={port})
    scram: list[str] = []
    listeners = None
    later: list[User] = []
    tls_port = 0
    if secured:
        try:
            everyone, changed = secure.prepare(files, users)
        except SecureSetupError as exc:
            raise BrokerError(str(exc)) from None
        scram = secure.scram_arguments(everyone)
        later = changed if formatted else []
        tls_port = ports.free_port(exclude={port, controller_port})
        paths.tls_port_file.write_text(str(tls_port))
        listeners = secure.server_properties(files, port, tls_port, controller_port)
    properties = _properties(port, controller_port, paths.log_dir, listeners)
    if secured:
        _write_private_text(paths.properties, properties)  # it holds the admin's password (the broker's own login)
    else:
        paths.properties.write_text(properties)
    if not formatted:
        cluster_id = new_cluster_id()
        fmt = subprocess.run(
            [java, "-cp", classpath, "kafka.tools.StorageTool", "format",
             "-t", cluster_id, "-c", str(paths.properties), *scram],
            capture_output=True, text=True,
        )  # fmt: skip
        if fmt.returncode != 0:
            raise BrokerError(f"formatting KRaft storage failed:\n{_without_passwords(fmt.stdout + fmt.stderr)}")
    log4j = paths.data_dir / "log4j2.properties"
    log4j.write_text(_LOG4J.format(log=paths.server_log))
    # server.log grows across runs: only what this run writes explains its failure.
    log_offset = paths.server_log.stat().st_size if paths.server_log.exists() else 0
    out = paths.stdout_log.open("ab")
    proc = subprocess.Popen(
        [java, *jvm_options(),
         f"-Dlog4j2.configurationFile={log4j}", "-cp", classpath, "kafka.Kafka", str(paths.properties)],
        stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,  # survives the CLI that started it
    )  # fmt: skip
    paths.pid_file.write_text(str(proc.pid))
    paths.port_file.write_text(str(port))
    if secured:
        secure.write_client_files(files, port, tls_port)
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            paths.pid_file.unlink(missing_ok=True)
            log = _log_since(paths.server_log, log_offset)
            raise BrokerError(_exit_reason(proc.returncode, log, port, paths))
        if _answers_metadata(port, options=secure.client_options(files) if secured else None):
            if not secured:
                say(f"broker serving on 127.0.0.1:{port} (pid {proc.pid}, data dir {paths.data_dir})")
                return proc.pid
            _alter_scram(files, port, later, say)
            say(
                f"broker serving SASL_SSL ({secure.MECHANISM}) on 127.0.0.1:{port} and SSL with client "
                f"certificates on 127.0.0.1:{tls_port}, ACLs enforced (pid {proc.pid}, data dir {paths.data_dir})"
            )
            say(f"  CA certificate:     {files.ca_file}")
            say(f"  admin (super user): {files.env_file(secure.ADMIN)} (KAFKA_* variables), {files.admin_properties}")
            for user in users:
                say(f"  user {user.name}: {files.env_file(user.name)} (SCRAM), {files.mtls_env_file(user.name)} (mTLS)")
            return proc.pid
        time.sleep(0.5)
    stop(paths.data_dir, say=lambda _: None)
    raise BrokerError(f"broker did not answer on port {port} within {wait_seconds:.0f}s; see {paths.server_log}")


def _set_users(paths: BrokerPaths, files: SecureFiles, port: int, users: tuple[User, ...], say: Say) -> None:
    """Create or update SCRAM users on a running secured broker (kafka-configs, as the admin)."""
    try:
        _, changed = secure.prepare(files, users)
    except SecureSetupError as exc:
        raise BrokerError(str(exc)) from None
    tls_port = int(paths.tls_port_file.read_text().strip())
    secure.write_client_files(files, port, tls_port)
    _alter_scram(files, port, changed, say)


def _alter_scram(files: SecureFiles, port: int, users: list[User], say: Say) -> None:
    if not users:
        return
    java = shutil.which("java") or "java"
    classpath = _classpath(ensure_jars(say=say))
    for user in users:
        done = subprocess.run(
            [java, "-cp", classpath, "kafka.admin.ConfigCommand", "--bootstrap-server", f"127.0.0.1:{port}",
             "--command-config", str(files.admin_properties), "--alter", "--entity-type", "users",
             "--entity-name", user.name, "--add-config", f"{secure.MECHANISM}=[password={user.password}]"],
            capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode != 0:
            raise BrokerError(f"could not set user {user.name}: {_without_passwords(done.stdout + done.stderr)}")
        say(f"user {user.name} set: {files.env_file(user.name)}")


_PASSWORD_IN_TEXT = re.compile(r"(password=)[^,\]\s\"]*")


def _without_passwords(text: str) -> str:
    return _PASSWORD_IN_TEXT.sub(r"\1***", text)


def _write_private_text(path: Path, text: str) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text)


def admin_client_options(data_dir: Path = DEFAULT_DATA_DIR) -> dict[str, Any]:
    """aiokafka options that connect to the running secured broker of `data_dir` as its admin."""
    paths = BrokerPaths(data_dir.resolve())
    files = SecureFiles(paths.data_dir)
    if not files.is_secure():
        raise BrokerError(f"the broker of {paths.data_dir} is not secured: start it with --secure")
    if read_pid(paths) is None:
        raise BrokerError(f"no broker running for data dir {paths.data_dir}")
    port = paths.port_file.read_text().strip()
    return {"bootstrap_servers": f"127.0.0.1:{port}", **secure.client_options(files)}


def _require_free(port: int) -> None:
    if not ports.can_bind(port):
        raise BrokerError(f"port {port} is in use: choose another with --port")


def _log_since(log: Path, offset: int) -> str:
    try:
        with log.open("rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


_BIND_FAILURE = re.compile(r"Socket server failed to bind to (?P<address>\S+?):(?P<port>\d+): (?P<reason>[^.\n]+)")
_ERROR_LINE = re.compile(r"^\[[^\]]+\] ERROR (?P<message>.+)$", re.MULTILINE)


def _exit_reason(returncode: int, log: str, port: int, paths: BrokerPaths) -> str:
    """One line on why the broker exited, from its server.log; not the JVM's shutdown noise on stderr."""
    bind = _BIND_FAILURE.search(log)
    if bind:
        failed = f"the broker could not bind {bind['address']}:{bind['port']} ({bind['reason']})"
        if int(bind["port"]) == port:
            return f"port {port} is in use: {failed}; choose another with --port"
        if paths.tls_port_file.exists() and paths.tls_port_file.read_text().strip() == bind["port"]:
            return f"mTLS port {bind['port']} is in use: {failed}; start again to pick another"
        # Another process took the controller port between our check and the broker's bind.
        return f"controller port {bind['port']} is in use: {failed}; start again to pick another"
    error = _ERROR_LINE.search(log)
    if error:
        return f"broker exited with {returncode}: {error['message']}; see {paths.server_log}"
    return f"broker exited with {returncode}; see {paths.server_log} and {paths.stdout_log}"


def stop(data_dir: Path = DEFAULT_DATA_DIR, timeout: float = 60.0, say: Say = print) -> bool:
    """Stop the broker cleanly (SIGTERM, then SIGKILL after `timeout`). False if none ran."""
    paths = BrokerPaths(data_dir.resolve())
    pid = read_pid(paths)
    if pid is None:
        say(f"no broker running for data dir {paths.data_dir}")
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            break
        time.sleep(0.2)
    else:
        os.kill(pid, signal.SIGKILL)
        say(f"broker pid {pid} did not stop in {timeout:.0f}s: killed")
    paths.pid_file.unlink(missing_ok=True)
    say(f"broker stopped (pid {pid})")
    return True


def _alive(pid: int) -> bool:
    try:
        # Reap it if it is our child; otherwise just probe.
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


_LOG4J = """\
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""


if __name__ == "__main__":  # pragma: no cover - manual smoke test
    start(port=int(sys.argv[1]) if len(sys.argv) > 1 else 9092)
