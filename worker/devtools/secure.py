"""The local broker's secured mode: a SASL_SSL listener, SCRAM users and Kafka's StandardAuthorizer.

Everything lives in the broker's data dir:

    tls/ca.pem            the throwaway CA (clients: KAFKA_SSL_CA_FILE)
    tls/ca.key            its key (0600)
    tls/broker.pem        the broker's key and certificate chain (0600), a PEM keystore
    users/NAME.password   each SCRAM user's password (0600), "admin" included
    users/NAME.crt, .key  each user's client certificate (CN=NAME) and key (0600)
    users/NAME.env        KAFKA_* variables that connect jwtgen as NAME by SCRAM (0600)
    users/NAME.mtls.env   the same by client certificate (0600)
    admin.properties      client properties for Kafka's own tools (--command-config, 0600)

Clients reach the broker on SASL_SSL (SCRAM-SHA-512), or on a second, SSL
listener with a client certificate (mTLS). Both log a user in as the same
principal, User:NAME (a certificate's CN=NAME maps to NAME), so one set of
ACLs covers both ways. The controller listener speaks mTLS too: the broker's
own certificate is its principal there; it and "admin" are the super users.
Nothing else is allowed without an ACL (allow.everyone.if.no.acl.found=false).
"""

from __future__ import annotations

import json
import re
import secrets
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worker.devtools import tls

MECHANISM = "SCRAM-SHA-512"
ADMIN = "admin"
BROKER_COMMON_NAME = "jwtgen-local-broker"
HOSTS = ("127.0.0.1", "localhost")  # the advertised host is 127.0.0.1: certificates must name it
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"

_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
# What StorageTool's --add-scram and a JAAS line carry without quoting rules.
_PASSWORD = re.compile(r"[^\s,\[\]\"'\\=;]{1,128}")


class SecureSetupError(ValueError):
    pass


@dataclass(frozen=True)
class User:
    name: str
    password: str = field(repr=False)

    @classmethod
    def parse(cls, spec: str) -> User:
        """NAME or NAME:PASSWORD; without one, a stored password is kept or a new one generated."""
        name, sep, password = spec.partition(":")
        if not _NAME.fullmatch(name):
            raise SecureSetupError(f"user name {name!r}: use 1-64 of A-Z a-z 0-9 . _ -")
        if sep and not _PASSWORD.fullmatch(password):
            # Never quote the password itself.
            raise SecureSetupError(
                f"password of user {name!r}: 1-128 characters, no spaces, quotes, backslashes or , [ ] = ;"
            )
        return cls(name, password)

    @property
    def principal(self) -> str:
        return f"User:{self.name}"


@dataclass(frozen=True)
class SecureFiles:
    data_dir: Path

    @property
    def state(self) -> Path:
        return self.data_dir / "secure.json"

    @property
    def tls_dir(self) -> Path:
        return self.data_dir / "tls"

    @property
    def ca_file(self) -> Path:
        return self.tls_dir / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.tls_dir / "ca.key"

    @property
    def keystore(self) -> Path:
        return self.tls_dir / "broker.pem"

    @property
    def users_dir(self) -> Path:
        return self.data_dir / "users"

    def password_file(self, name: str) -> Path:
        return self.users_dir / f"{name}.password"

    def env_file(self, name: str) -> Path:
        return self.users_dir / f"{name}.env"

    def mtls_env_file(self, name: str) -> Path:
        return self.users_dir / f"{name}.mtls.env"

    def certificate(self, name: str) -> Path:
        return self.users_dir / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.users_dir / f"{name}.key"

    @property
    def admin_properties(self) -> Path:
        return self.data_dir / "admin.properties"

    def is_secure(self) -> bool:
        return self.state.exists()

    def stored_password(self, name: str) -> str | None:
        try:
            return self.password_file(name).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def admin(self) -> User:
        password = self.stored_password(ADMIN)
        if password is None:
            raise SecureSetupError(f"no admin password in {self.password_file(ADMIN)}: is this a secured broker?")
        return User(ADMIN, password)


def prepare(files: SecureFiles, users: tuple[User, ...]) -> tuple[list[User], list[User]]:
    """Create what is missing (CA, keystore, admin password) and store the users' passwords.

    Returns (every user to format the storage with, users whose password is new
    or changed). The admin's password is generated once and kept.
    """
    if not files.ca_file.exists() or not files.keystore.exists():
        authority = tls.new_authority("jwtgen local broker CA")
        broker = tls.issue(authority, BROKER_COMMON_NAME, HOSTS)
        tls.write_private(files.ca_key, authority.key_pem())
        tls.write_private(files.keystore, broker.key_pem() + broker.certificate_pem() + authority.certificate_pem())
        tls.write_public(files.ca_file, authority.certificate_pem())
    else:
        authority = tls.load(files.ca_key, files.ca_file)
    if any(user.name == ADMIN for user in users):
        raise SecureSetupError(f"'{ADMIN}' is the broker's own super user: choose another name")
    wanted = [
        User(user.name, user.password or files.stored_password(user.name) or secrets.token_urlsafe(18))
        for user in (User(ADMIN, ""), *users)
    ]
    changed = [user for user in wanted if files.stored_password(user.name) != user.password]
    for user in changed:
        tls.write_private(files.password_file(user.name), user.password.encode())
    for user in wanted:
        if not files.certificate(user.name).exists():
            issued = tls.issue(authority, user.name)
            tls.write_private(files.key(user.name), issued.key_pem())
            tls.write_public(files.certificate(user.name), issued.certificate_pem())
    known = json.loads(files.state.read_text()) if files.state.exists() else {"users": []}
    names = sorted({*known["users"], *(user.name for user in wanted)})
    files.state.write_text(json.dumps({"mechanism": MECHANISM, "users": names}, indent=2) + "\n")
    everyone = [User(name, files.stored_password(name) or "") for name in names]
    return everyone, changed


def scram_arguments(users: list[User]) -> list[str]:
    """StorageTool flags that create the users' SCRAM credentials when the storage is formatted."""
    args: list[str] = []
    for user in users:
        args += ["--add-scram", f"{MECHANISM}=[name={user.name},password={user.password}]"]
    return args


def server_properties(files: SecureFiles, port: int, tls_port: int, controller_port: int) -> list[str]:
    admin = files.admin()
    return [
        f"listeners=SASL_SSL://127.0.0.1:{port},SSL://127.0.0.1:{tls_port},CONTROLLER://127.0.0.1:{controller_port}",
        f"advertised.listeners=SASL_SSL://127.0.0.1:{port},SSL://127.0.0.1:{tls_port}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=SASL_SSL",
        "listener.security.protocol.map=SASL_SSL:SASL_SSL,SSL:SSL,CONTROLLER:SSL",
        f"sasl.enabled.mechanisms={MECHANISM}",
        f"sasl.mechanism.inter.broker.protocol={MECHANISM}",
        # The broker's own client login on its SASL_SSL listener (inter-broker).
        f"listener.name.sasl_ssl.{MECHANISM.lower()}.sasl.jaas.config={_jaas(admin)}",
        "ssl.keystore.type=PEM",
        f"ssl.keystore.location={files.keystore}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={files.ca_file}",
        # mTLS clients, and broker -> controller connections (the broker's certificate).
        "listener.name.ssl.ssl.client.auth=required",
        "listener.name.controller.ssl.client.auth=required",
        # A certificate's CN=NAME is the principal User:NAME, as NAME's SCRAM login is.
        "ssl.principal.mapping.rules=RULE:^CN=([^,]+)$/$1/,DEFAULT",
        f"authorizer.class.name={AUTHORIZER}",
        "allow.everyone.if.no.acl.found=false",
        f"super.users=User:{ADMIN};User:{BROKER_COMMON_NAME}",
    ]


def _jaas(user: User) -> str:
    return (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{user.name}" password="{user.password}";'
    )


def write_client_files(files: SecureFiles, port: int, tls_port: int) -> None:
    """admin.properties for Kafka's tools, NAME.env and NAME.mtls.env for jwtgen, for every stored user."""
    admin = files.admin()
    properties = [
        "security.protocol=SASL_SSL",
        f"sasl.mechanism={MECHANISM}",
        f"sasl.jaas.config={_jaas(admin)}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={files.ca_file}",
        "",
    ]
    tls.write_private(files.admin_properties, "\n".join(properties).encode())
    for path in sorted(files.users_dir.glob("*.password")):
        name = path.name.removesuffix(".password")
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": MECHANISM,
            "KAFKA_SASL_USERNAME": name,
            "KAFKA_SASL_PASSWORD_FILE": str(path),
            "KAFKA_SSL_CA_FILE": str(files.ca_file),
        }
        tls.write_private(files.env_file(name), _env_text(env))
        mtls = {
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{tls_port}",
            "KAFKA_SECURITY_PROTOCOL": "SSL",
            "KAFKA_SSL_CA_FILE": str(files.ca_file),
            "KAFKA_SSL_CERT_FILE": str(files.certificate(name)),
            "KAFKA_SSL_KEY_FILE": str(files.key(name)),
        }
        tls.write_private(files.mtls_env_file(name), _env_text(mtls))


def _env_text(env: dict[str, str]) -> bytes:
    return "".join(f"{key}={value}\n" for key, value in env.items()).encode()


def client_options(files: SecureFiles, user: User | None = None) -> dict[str, Any]:
    """aiokafka keyword arguments that connect as `user` (the admin by default)."""
    user = user or files.admin()
    return {
        "security_protocol": "SASL_SSL",
        "ssl_context": ssl.create_default_context(cafile=str(files.ca_file)),
        "sasl_mechanism": MECHANISM,
        "sasl_plain_username": user.name,
        "sasl_plain_password": user.password,
    }


def read_env_file(path: Path) -> dict[str, str]:
    """The variables of a NAME.env file, for a subprocess's environment."""
    pairs = (line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines() if "=" in line)
    return {key: value for key, value in pairs}
