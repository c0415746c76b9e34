"""The broker's jar cache: keyed by the POM's text, filled atomically, never deleted under a broker.

A stand-in `mvn` on PATH plays Maven (no network): it records each call and
writes a Kafka jar stamped with its own pid into -DoutputDirectory.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

from worker.devtools import broker

FAKE_MVN = """\
#!{python}
import os, sys, time
out = next(a.split("=", 1)[1] for a in sys.argv if a.startswith("-DoutputDirectory="))
with open(os.environ["FAKE_MVN_CALLS"], "a") as calls:
    calls.write(out + "\\n")
time.sleep(float(os.environ.get("FAKE_MVN_SECONDS", "0")))
if os.environ.get("FAKE_MVN_FAIL"):
    print("[ERROR] Could not resolve dependencies")
    sys.exit(1)
with open(os.path.join(out, "kafka_2.13-9.9.9.jar"), "w") as jar:
    jar.write(str(os.getpid()))
"""


@pytest.fixture
def mvn_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    mvn = bin_dir / "mvn"
    mvn.write_text(FAKE_MVN.format(python=sys.executable))
    mvn.chmod(0o755)
    calls = tmp_path / "mvn-calls"
    calls.touch()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_MVN_CALLS", str(calls))
    return calls


def calls(log: Path) -> list[str]:
    return log.read_text().splitlines()


def test_a_second_clone_with_the_same_pom_reuses_the_cache_it_does_not_replace_it(
    tmp_path: Path, mvn_calls: Path
) -> None:
    root = tmp_path / "kafka-jars"
    pom = broker.packaged_pom()
    jars = broker.ensure_jars(root, say=lambda _: None, pom=pom)
    assert jars == root / broker.cache_key(pom)
    assert jars.parent == root and len(jars.name) == 16
    assert len(calls(mvn_calls)) == 1
    jar = next(jars.glob(broker.KAFKA_JAR_GLOB))
    inode = jar.stat().st_ino
    assert (jars / broker.POM_NAME).read_bytes() == pom  # the recipe travels with its jars

    # Another checkout: the same POM text in a file of another age.
    clone_pom = tmp_path / "clone" / broker.POM_NAME
    clone_pom.parent.mkdir()
    clone_pom.write_bytes(pom)
    os.utime(clone_pom, (1_000_000_000, 1_000_000_000))
    assert broker.ensure_jars(root, say=lambda _: None, pom=clone_pom.read_bytes()) == jars
    assert len(calls(mvn_calls)) == 1  # no second download
    assert jar.stat().st_ino == inode  # the jars a broker may run from are untouched

    # A changed POM gets a directory of its own; the old one stays for brokers still using it.
    edited = pom.replace(b"<version>1</version>", b"<version>2</version>")
    assert edited != pom
    other = broker.ensure_jars(root, say=lambda _: None, pom=edited)
    assert other != jars and other.parent == root
    assert len(calls(mvn_calls)) == 2
    assert jar.stat().st_ino == inode
    assert sorted(p.name for p in root.iterdir()) == sorted([jars.name, other.name])


def test_concurrent_fills_end_in_one_complete_directory(
    tmp_path: Path, mvn_calls: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MVN_SECONDS", "1")
    root = tmp_path / "kafka-jars"
    results: list[Path] = []
    errors: list[BaseException] = []

    def fill() -> None:
        try:
            results.append(broker.ensure_jars(root, say=lambda _: None))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=fill) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert len(calls(mvn_calls)) == 2  # both raced to fill ...
    assert results[0] == results[1] == root / broker.cache_key(broker.packaged_pom())
    # ... one directory won, the other fill was dropped, nothing half-made is left.
    assert [p.name for p in root.iterdir()] == [results[0].name]
    [jar] = results[0].glob(broker.KAFKA_JAR_GLOB)
    assert jar.read_text().isdigit()  # written whole by one of the two runs


def test_a_failed_fill_leaves_no_directory(tmp_path: Path, mvn_calls: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_MVN_FAIL", "1")
    root = tmp_path / "kafka-jars"
    with pytest.raises(broker.BrokerError, match="Could not resolve dependencies"):
        broker.ensure_jars(root, say=lambda _: None)
    assert list(root.iterdir()) == []


def test_a_damaged_cache_is_reported_and_left_alone(tmp_path: Path, mvn_calls: Path) -> None:
    root = tmp_path / "kafka-jars"
    damaged = root / broker.cache_key(broker.packaged_pom())
    damaged.mkdir(parents=True)
    (damaged / "log4j-core-2.25.3.jar").write_text("x")
    with pytest.raises(broker.BrokerError, match="damaged"):
        broker.ensure_jars(root, say=lambda _: None)
    assert calls(mvn_calls) == []
    assert [p.name for p in damaged.iterdir()] == ["log4j-core-2.25.3.jar"]
