"""A secured local broker for tests (`jwtgen broker start --secure`), and clients of it as given users."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support import readme_acls
from tests.support.processes import JWTGEN, REPO, free_port
from worker.devtools.secure import SecureFiles, read_env_file
from worker.stream.connection import KafkaConnection
from worker.stream.settings import Settings

# Our variables only: a developer's own KAFKA_* or KEK must not leak into a test's process.
_OURS = ("KAFKA_", "JWTGEN_KEK")


def jwtgen(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*JWTGEN, *args], cwd=REPO, env=env or clean_env(), capture_output=True, text=True, timeout=timeout
    )


def clean_env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
    return {**base, "PYTHONUNBUFFERED": "1", **extra}


@dataclass(frozen=True)
class SecureBroker:
    data_dir: Path

    @property
    def files(self) -> SecureFiles:
        return SecureFiles(self.data_dir)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{(self.data_dir / 'broker.port').read_text().strip()}"

    def user_env(self, user: str, mtls: bool = False) -> dict[str, str]:
        """The KAFKA_* variables that connect as `user` (by SCRAM, or by client certificate)."""
        return read_env_file(self.files.mtls_env_file(user) if mtls else self.files.env_file(user))

    def env(self, user: str, prefix: str, mtls: bool = False, **extra: str) -> dict[str, str]:
        """A whole process environment: `user`'s connection, the topic prefix, and `extra` on top."""
        return clean_env(**{**self.user_env(user, mtls), "JWTGEN_TOPIC_PREFIX": prefix, **extra})

    def kafka(self, user: str) -> KafkaConnection:
        return Settings.from_mapping(self.user_env(user)).kafka

    def grant(self, *args: str) -> None:
        done = jwtgen("broker", "grant", "--data-dir", str(self.data_dir), *args)
        assert done.returncode == 0, done.stdout + done.stderr

    def grant_readme(self, principal: str, prefix: str, create: bool = True) -> None:
        """The README's ACL commands for `principal`, on `prefix` instead of the README's."""
        commands = readme_acls.of(principal, create)
        assert commands, f"the README grants nothing to {principal}"
        for command in commands:
            self.grant(*command.with_prefix(prefix))

    @classmethod
    def start(cls, data_dir: Path, users: list[str]) -> SecureBroker:
        args = [f"--user={user}" for user in users]
        done = jwtgen("broker", "start", "--secure", "--port", str(free_port()), "--data-dir", str(data_dir), *args)
        assert done.returncode == 0, done.stdout + done.stderr
        return cls(data_dir)

    def stop(self) -> None:
        jwtgen("broker", "stop", "--data-dir", str(self.data_dir))
