"""A local single-node Apache Kafka (KRaft), assembled from Maven Central.

`start` resolves the broker's jars once with Maven (worker/devtools/kafka-broker.pom.xml),
formats KRaft storage on first use and runs `kafka.Kafka` in the background,
returning only when the broker answers metadata requests.
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

DEFAULT_JARS_DIR = Path(os.environ.get("JWTGEN_KAFKA_JARS", Path.home() / ".cache" / "jwtgen" / "kafka-jars"))
DEFAULT_DATA_DIR = Path(os.environ.get("JWTGEN_BROKER_DIR", Path.home() / ".cache" / "jwtgen" / "broker"))

Say = Callable[[str], None]


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
    def port_file(self) -> Path:
        return self.data_dir / "broker.port"


POM = Path(str(resources.files("worker.devtools") / "kafka-broker.pom.xml"))


def _pom_stamp() -> str:
    return str(POM.stat().st_mtime_ns) + ":" + str(POM.stat().st_size)


def ensure_jars(jars_dir: Path = DEFAULT_JARS_DIR, say: Say = print) -> Path:
    """Copy Kafka and its runtime dependencies from Maven Central, once per POM change."""
    stamp = jars_dir / ".pom-stamp"
    if stamp.exists() and stamp.read_text() == _pom_stamp() and any(jars_dir.glob("kafka_2.13-*.jar")):
        return jars_dir
    if shutil.which("mvn") is None:
        raise BrokerError("Maven (mvn) is not on PATH: it is needed once to fetch Apache Kafka from Maven Central")
    say(f"fetching Apache Kafka jars from Maven Central into {jars_dir} (first run only) ...")
    if jars_dir.exists():
        shutil.rmtree(jars_dir)
    jars_dir.mkdir(parents=True)
    cmd = [
        "mvn", "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
        f"-DoutputDirectory={jars_dir}", "-DincludeScope=runtime",
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise BrokerError(f"mvn failed ({done.returncode}):\n{done.stdout[-4000:]}{done.stderr[-4000:]}")
    stamp.write_text(_pom_stamp())
    return jars_dir


def _classpath(jars_dir: Path) -> str:
    return os.pathsep.join(str(p) for p in sorted(jars_dir.glob("*.jar")))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _properties(port: int, controller_port: int, log_dir: Path) -> str:
    # One combined broker+controller. Internal topics get replication factor 1
    # and the transaction log min ISR 1, so transactions work on one node.
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
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
            "log.segment.bytes=16777216",
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


def _answers_metadata(port: int, timeout: float = 2.0) -> bool:
    """True once the broker answers an ApiVersions + Metadata round trip."""
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient

    # aiokafka logs every refused connection while the broker boots.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

    async def probe() -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}", request_timeout_ms=int(timeout * 1000))
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
    jars_dir: Path = DEFAULT_JARS_DIR,
    wait_seconds: float = 120.0,
    say: Say = print,
) -> int:
    """Start the broker (a no-op if it runs) and return its pid once it serves."""
    paths = BrokerPaths(data_dir.resolve())
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    running = read_pid(paths)
    if running is not None:
        known_port = paths.port_file.read_text().strip() if paths.port_file.exists() else "?"
        say(f"broker already running (pid {running}, port {known_port}, data dir {paths.data_dir})")
        return running
    jars = ensure_jars(jars_dir, say)
    classpath = _classpath(jars)
    java = shutil.which("java")
    if java is None:
        raise BrokerError("java is not on PATH: Apache Kafka needs Java 17 or newer")
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise BrokerError(f"port {port} is already in use by another process: choose one with --port")
    controller_port = _free_port()
    paths.properties.write_text(_properties(port, controller_port, paths.log_dir))
    if not (paths.log_dir / "meta.properties").exists():
        # StorageTool wants a base64url-encoded 16-byte id.
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        fmt = subprocess.run(
            [java, "-cp", classpath, "kafka.tools.StorageTool", "format",
             "-t", cluster_id, "-c", str(paths.properties)],
            capture_output=True, text=True,
        )  # fmt: skip
        if fmt.returncode != 0:
            raise BrokerError(f"formatting KRaft storage failed:\n{fmt.stdout}{fmt.stderr}")
    log4j = paths.data_dir / "log4j2.properties"
    log4j.write_text(_LOG4J.format(log=paths.data_dir / "server.log"))
    out = paths.stdout_log.open("ab")
    proc = subprocess.Popen(
        [java, "-Xms256m", "-Xmx1g", "-XX:+UseG1GC", "-Djava.awt.headless=true",
         f"-Dlog4j2.configurationFile={log4j}", "-cp", classpath, "kafka.Kafka", str(paths.properties)],
        stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,  # survives the CLI that started it
    )  # fmt: skip
    paths.pid_file.write_text(str(proc.pid))
    paths.port_file.write_text(str(port))
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            paths.pid_file.unlink(missing_ok=True)
            tail = paths.stdout_log.read_text(errors="replace")[-3000:]
            raise BrokerError(f"broker exited with {proc.returncode}; last output:\n{tail}")
        if _answers_metadata(port):
            say(f"broker serving on 127.0.0.1:{port} (pid {proc.pid}, data dir {paths.data_dir})")
            return proc.pid
        time.sleep(0.5)
    stop(paths.data_dir, say=lambda _: None)
    raise BrokerError(
        f"broker did not answer on port {port} within {wait_seconds:.0f}s; see {paths.data_dir}/server.log"
    )


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
