"""The secured local broker's set-up without Java: users, ACL arguments, files and their modes."""

from __future__ import annotations

import ssl
import stat
from pathlib import Path

import pytest

from worker.devtools import acls, secure
from worker.devtools.secure import SecureFiles, SecureSetupError, User


def test_user_specs() -> None:
    assert User.parse("worker:TOP-SECRET-1") == User("worker", "TOP-SECRET-1")
    assert User.parse("worker") == User("worker", "")  # generated (or kept) by prepare()
    with pytest.raises(SecureSetupError) as caught:
        User.parse("worker:has,comma-TOP-SECRET")
    assert "TOP-SECRET" not in str(caught.value) and "password of user 'worker'" in str(caught.value)
    with pytest.raises(SecureSetupError):
        User.parse("no spaces")
    assert "TOP-SECRET" not in repr(User("w", "TOP-SECRET"))


def test_prepare_writes_private_files_and_keeps_passwords(tmp_path: Path) -> None:
    files = SecureFiles(tmp_path)
    everyone, changed = secure.prepare(files, (User.parse("worker:TOP-SECRET-w"), User.parse("orchestrator")))
    assert [u.name for u in everyone] == ["admin", "orchestrator", "worker"]
    assert {u.name for u in changed} == {"admin", "orchestrator", "worker"}
    secure.write_client_files(files, 20001, 20002)
    private = [files.keystore, files.ca_key, files.admin_properties, files.password_file("worker")]
    private += [files.key("worker"), files.env_file("worker"), files.mtls_env_file("worker")]
    for path in private:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert files.password_file("worker").read_text() == "TOP-SECRET-w"
    # The broker's keystore chains to the CA clients trust, and names the advertised host.
    context = ssl.create_default_context(cafile=str(files.ca_file))
    assert context.get_ca_certs()[0]["subject"] == ((("commonName", "jwtgen local broker CA"),),)
    env = secure.read_env_file(files.env_file("worker"))
    assert env == {
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:20001",
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SASL_USERNAME": "worker",
        "KAFKA_SASL_PASSWORD_FILE": str(files.password_file("worker")),
        "KAFKA_SSL_CA_FILE": str(files.ca_file),
    }
    mtls = secure.read_env_file(files.mtls_env_file("worker"))
    assert (mtls["KAFKA_SECURITY_PROTOCOL"], mtls["KAFKA_SSL_CERT_FILE"]) == ("SSL", str(files.certificate("worker")))
    generated = files.stored_password("orchestrator")
    # A second start keeps passwords, and changes only what is named anew.
    _, changed = secure.prepare(files, (User.parse("orchestrator"), User.parse("worker:TOP-SECRET-new")))
    assert [u.name for u in changed] == ["worker"]
    assert files.stored_password("orchestrator") == generated
    properties = "\n".join(secure.server_properties(files, 20001, 20002, 20003))
    assert "allow.everyone.if.no.acl.found=false" in properties
    assert "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer" in properties
    assert "listener.security.protocol.map=SASL_SSL:SASL_SSL,SSL:SSL,CONTROLLER:SSL" in properties
    with pytest.raises(SecureSetupError):
        secure.prepare(files, (User.parse("admin:x"),))


def test_acl_bindings_follow_kafka_acls() -> None:
    made = acls.bindings("User:w", ["Read"], topics=["p.configs"], groups=["p.worker"])
    assert [str(b) for b in made] == ["User:w Read on topic p.configs", "User:w Read on group p.worker"]
    prefixed = acls.bindings("User:w", ["Create"], topics=["p."], pattern_type="prefixed")
    assert str(prefixed[0]) == "User:w Create on topic p. (prefix)"
    with pytest.raises(acls.AclError, match="operation Write does not apply to a group"):
        acls.bindings("User:w", ["Write"], groups=["p.worker"])
    with pytest.raises(acls.AclError, match="unknown operation"):
        acls.bindings("User:w", ["Fly"], topics=["t"])
    with pytest.raises(acls.AclError, match="expected User:NAME"):
        acls.bindings("w", ["Read"], topics=["t"])
