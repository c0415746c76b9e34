"""Every shared fixture, registered once by tests/conftest.py (`pytest_plugins`).

Keys are generated once per session (RSA generation is slow) and used by unit
and integration tests alike. The broker is started once per session through
`jwtgen broker start`; each integration module gets its own topic prefix and
worker.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from tests.support.kafkaio import KafkaIO, WorkerProcess, load_schemas, unique_prefix
from tests.support.keys import KeyForms
from tests.support.processes import JWTGEN, REPO, free_port

# ----------------------------------------------------------------------------- keys


@pytest.fixture(scope="session")
def rsa2048() -> KeyForms:
    return KeyForms(rsa.generate_private_key(65537, 2048))


@pytest.fixture(scope="session")
def rsa2048_other() -> KeyForms:
    return KeyForms(rsa.generate_private_key(65537, 2048))


@pytest.fixture(scope="session")
def rsa1024() -> KeyForms:
    return KeyForms(rsa.generate_private_key(65537, 1024))


@pytest.fixture(scope="session")
def ec_keys() -> dict[str, KeyForms]:
    """One key per curve the contract allows, by curve name."""
    curves = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}
    return {name: KeyForms(ec.generate_private_key(curve)) for name, curve in curves.items()}


@pytest.fixture(scope="session")
def ed25519_key() -> KeyForms:
    return KeyForms(ed25519.Ed25519PrivateKey.generate())


@pytest.fixture(scope="session")
def secp256k1_pem() -> str:
    """A PKCS#8 key on a curve the contract does not allow."""
    native = ec.generate_private_key(ec.SECP256K1())
    return native.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


# ----------------------------------------------------------------------------- Kafka


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of a real single-node Kafka, started and stopped by the project's CLI.

    Set JWTGEN_TEST_BOOTSTRAP to reuse a broker that already runs (local iteration).
    """
    existing = os.environ.get("JWTGEN_TEST_BOOTSTRAP")
    if existing:
        yield existing
        return
    port = free_port()
    data_dir = tmp_path_factory.mktemp("broker")
    start = subprocess.run(
        [*JWTGEN, "broker", "start", "--port", str(port), "--data-dir", str(data_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if start.returncode != 0:
        pytest.fail(f"jwtgen broker start failed:\n{start.stdout}\n{start.stderr}")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([*JWTGEN, "broker", "stop", "--data-dir", str(data_dir)], cwd=REPO, check=False)


@pytest.fixture(scope="session")
def schemas() -> dict[str, Any]:
    """schemas/*.schema.json by name (config, request, success, failure, deadletter)."""
    return load_schemas()


@pytest.fixture(scope="module")
def prefix(request: pytest.FixtureRequest) -> str:
    """The module's own topic prefix, named after it."""
    return unique_prefix(request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_"))


@pytest.fixture(scope="module")
def worker_env() -> dict[str, str]:
    """Environment the module's worker gets on top of the broker and prefix; a module may override it."""
    return {}


@pytest.fixture(scope="module")
def worker(
    kafka: str, prefix: str, worker_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    """One worker on the module's prefix."""
    with running_worker(kafka, prefix, worker_env, tmp_path_factory.mktemp("worker")) as proc:
        yield proc


@contextlib.contextmanager
def running_worker(kafka: str, prefix: str, env: dict[str, str], log_dir: Path) -> Iterator[WorkerProcess]:
    """A worker process on `prefix`, healthy when entered, stopped on exit; its log never holds a test secret."""
    proc = WorkerProcess(prefix, kafka, free_port(), log_dir / "worker.log", extra_env=env).start()
    try:
        yield proc
    finally:
        proc.stop()
        # The log must never carry key material; tests put secrets that say so.
        assert "TOP-SECRET" not in proc.log()


@pytest.fixture(scope="module")
def io(kafka: str, prefix: str, worker: WorkerProcess) -> Iterator[KafkaIO]:
    """A client on the module's prefix, its worker running."""
    kio = KafkaIO(kafka, prefix).open()
    try:
        yield kio
    finally:
        kio.close()
