"""`jwtgen broker` from a wheel in a fresh venv, run outside the repository.

The broker's POM must come from the installed package, and an install with
the same POM must use the shared jar cache that the checkout filled.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.support.processes import REPO, free_port
from worker.devtools import broker

pytestmark = pytest.mark.integration


def build_wheel(tmp: Path) -> Path:
    # Built from a copy, so the checkout gets no build/ or *.egg-info.
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "worker", source / "worker", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = tmp / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = dist.glob("jwtgen_worker-*.whl")
    return wheel


def fresh_venv(tmp: Path, wheel: Path) -> Path:
    """A new venv holding only the wheel; third-party packages come from the test's environment.

    They are appended to sys.path by a .pth file: such a path is not a site
    directory, so the checkout's editable-install hook in it never runs, and
    `worker` can only come from the wheel.
    """
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    deps = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    Path(site, "_test_dependencies.pth").write_text("\n".join(sorted(deps)) + "\n")
    return venv


async def create_and_list(bootstrap: str, topic: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
        return set(await admin.list_topics())
    finally:
        await admin.close()


def test_broker_runs_from_a_wheel_outside_the_repo(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    assert "worker/devtools/kafka-broker.pom.xml" in zipfile.ZipFile(wheel).namelist()
    venv = fresh_venv(tmp_path, wheel)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)

    where = run(str(venv / "bin" / "python"), "-c", "import worker.devtools.broker as b; print(b.__file__)")
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout + where.stderr

    # Same POM text as the checkout's: the same cache directory, filled once for both.
    jars = broker.DEFAULT_JARS_ROOT / broker.cache_key(broker.packaged_pom())
    was_cached = jars.is_dir()
    port, data = free_port(), tmp_path / "broker"
    started = run(str(venv / "bin" / "jwtgen"), "broker", "start", "--port", str(port), "--data-dir", str(data))
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert "serving" in started.stdout
        if was_cached:
            assert "fetching" not in started.stdout, started.stdout
        cmdline = Path(f"/proc/{(data / 'broker.pid').read_text().strip()}/cmdline").read_text().split("\0")
        classpath = cmdline[cmdline.index("-cp") + 1].split(os.pathsep)
        assert classpath and all(Path(entry).parent == jars for entry in classpath), classpath[:3]
        assert "wheel-check" in asyncio.run(create_and_list(f"127.0.0.1:{port}", "wheel-check"))
    finally:
        stopped = run(str(venv / "bin" / "jwtgen"), "broker", "stop", "--data-dir", str(data))
    assert stopped.returncode == 0 and "broker stopped" in stopped.stdout, stopped.stdout + stopped.stderr
    assert not (data / "broker.pid").exists()
