"""The golden recording replayed offline: 0 differences, and a changed key shows exactly the requests it affects."""

from __future__ import annotations

import base64
import datetime
import json
import secrets
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import ECKey, Key, RSAKey, import_key

from worker.cli.main import main
from worker.core.sealed import import_kek
from worker.replay.compare import Report, Status, judge
from worker.replay.offline import answer_offline
from worker.replay.plan import make_plan
from worker.replay.recording import Record, Recording, read_recording

# joserfc warns about the EdDSA alias the golden recording uses on purpose (RFC 9864).
pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")

GOLDEN_DIR = Path(__file__).resolve().parents[2] / "golden"
GOLDEN = GOLDEN_DIR / "golden.jsonl"
KEK_TEXT = (GOLDEN_DIR / "kek.json").read_text()
RECIPIENTS: list[Key] = [import_key(k) for k in json.loads((GOLDEN_DIR / "recipients.json").read_text())["keys"]]


@pytest.fixture(scope="module")
def golden() -> Recording:
    return read_recording(GOLDEN)


def offline(recording: Recording, decryption_keys: list[Key] = RECIPIENTS) -> Report:
    plan = make_plan(recording)
    kek = import_kek(KEK_TEXT)
    return judge(plan, answer_offline(plan, kek=kek), kek=kek, decryption_keys=decryption_keys)


def body(record: Record) -> Any:
    return orjson.loads(record.value or b"null")


def test_the_cli_replays_the_golden_recording_offline_with_no_difference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWTGEN_KEK", KEK_TEXT)
    args = ["replay", str(GOLDEN), "--offline", "--json", "--decryption-keys", str(GOLDEN_DIR / "recipients.json")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["passed"] is True and report["differences"] == []
    summary = report["summary"]
    assert summary["different"] == summary["missing"] == summary["extra"] == 0
    # Deterministic tokens come back byte for byte, randomized ones and dead letters as equivalent.
    assert summary["identical"] > 100 and summary["equivalent"] > 100
    assert (
        summary["identical"] + summary["equivalent"] == report["requests"] == len(read_recording(GOLDEN).of("requests"))
    )
    assert report["header_only"] == 0 and report["not_compared"] == 0


def test_without_the_kek_sealed_configs_cannot_be_replayed(golden: Recording, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JWTGEN_KEK", raising=False)
    monkeypatch.delenv("JWTGEN_KEK_FILE", raising=False)
    result = CliRunner().invoke(main, ["replay", str(GOLDEN), "--offline", "--json"])
    assert result.exit_code == 1
    different = {d["execution_id"] for d in json.loads(result.output)["differences"]}
    sealed = {"hs512-sealed", "hs256-sealed-jwk", "ps512-sealed", "a256gcmkw", "pkcs8-encrypted-ed25519-sealed"}
    assert different and {label.rsplit("-p", 1)[0] for label in different} == sealed


def test_the_golden_recording_covers_every_option(golden: Recording) -> None:
    """Regenerating the recording must not quietly drop a case: what it holds is checked here."""
    configs = [body(r) for r in golden.of("configs") if r.value is not None and r.value.startswith(b'{"')]
    signatures = {c["signature"]["alg"] for c in configs if c.get("signature")}
    assert signatures >= {"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
    assert signatures >= {"ES256", "ES384", "ES512", "Ed25519", "EdDSA"}
    encryptions = {
        (c["encryption"]["alg"], c["encryption"].get("enc", "A256GCM")) for c in configs if c.get("encryption")
    }
    algs = {alg for alg, _ in encryptions}
    assert algs >= {"A128KW", "A192KW", "A256KW", "A128GCMKW", "A192GCMKW", "A256GCMKW", "dir"}
    assert algs >= {"RSA-OAEP", "RSA-OAEP-256", "ECDH-ES", "ECDH-ES+A128KW", "ECDH-ES+A192KW", "ECDH-ES+A256KW"}
    assert algs >= {"PBES2-HS256+A128KW", "PBES2-HS384+A192KW", "PBES2-HS512+A256KW"}
    encs = {enc for _, enc in encryptions}
    assert encs == {"A128GCM", "A192GCM", "A256GCM", "A128CBC-HS256", "A192CBC-HS384", "A256CBC-HS512"}
    assert any(c.get("signature") and c.get("encryption") for c in configs)  # nested
    forms = {
        "sealed": lambda s: any(isinstance(v, dict) and "sealed" in v for v in s.values()),
        "jwk": lambda s: isinstance(s.get("private_key") or s.get("jwk"), dict),
        "pkcs8": lambda s: "BEGIN PRIVATE KEY" in str(s.get("private_key")),
        "pkcs1": lambda s: "BEGIN RSA PRIVATE KEY" in str(s.get("private_key")),
        "sec1": lambda s: "BEGIN EC PRIVATE KEY" in str(s.get("private_key")),
        "encrypted pkcs8": lambda s: "BEGIN ENCRYPTED PRIVATE KEY" in str(s.get("private_key")),
        "encrypted sec1": lambda s: "Proc-Type: 4,ENCRYPTED" in str(s.get("private_key")),
        "sealed pem password": lambda s: isinstance(s.get("private_key_password"), dict),
        "password": lambda s: isinstance(s.get("password"), str),
        "thumbprint kid": lambda s: "kid" not in s,
    }
    for name, has in forms.items():
        assert any(c.get("signature") and has(c["signature"]) for c in configs), name
    custom_types = {item["type"] for c in configs for item in c.get("claims", {}).get("custom", [])}
    assert custom_types == {"String", "Number", "Boolean", "Array", "Object"}
    attributes = {a for c in configs if c.get("store") for a in c["store"]["attributes"]}
    assert attributes == {"token", "header", "claims", "kid", "alg", "enc", "iat", "exp", "jti", "public_jwk"}
    assert {c["store"].get("frontend", False) for c in configs if c.get("store")} == {True, False}

    codes = {body(r)["error"]["code"] for r in golden.of("failure")}
    assert codes == {
        "MALFORMED_EVENT", "FLOW_TYPE_NOT_SUPPORTED", "CONFIG_NOT_FOUND", "CONFIG_VERSION_MISMATCH",
        "CONFIG_INVALID", "VARIABLE_NOT_FOUND", "CLAIM_TYPE_MISMATCH", "TOKEN_TOO_LARGE", "ANSWER_TOO_LARGE",
    }  # fmt: skip
    assert len(golden.of("deadletter")) >= 10
    requests = golden.of("requests")
    assert any(r.key is None for r in requests) and any(r.value is None for r in requests)
    assert any(r.headers for r in requests) and any(v is None for r in requests for _, v in r.headers)
    versions: dict[str, set[int]] = {}
    for c in configs:
        versions.setdefault(c["id"], set()).add(c["version"])
    assert [cid for cid, vs in versions.items() if len(vs) > 1]  # a config updated
    assert any(r.value is None for r in golden.of("configs"))  # one deleted
    assert len(requests) >= 250


def configs_of(golden: Recording) -> list[dict[str, Any]]:
    return [body(r) for r in golden.of("configs") if r.value is not None and r.value.startswith(b'{"')]


def answered(golden: Recording, config_id: str) -> dict[str, set[str]]:
    """Topic -> the execution ids answered with that config (a Failure names the config it used, if any)."""
    out: dict[str, set[str]] = {}
    for topic in ("true", "failure"):
        for r in golden.of(topic):
            if (body(r).get("config") or {}).get("id") == config_id and r.key is not None:
                out.setdefault(topic, set()).add(r.key.decode())
    return out


def test_the_golden_recording_covers_every_option_beyond_the_node(golden: Recording) -> None:
    """The extensions: headers, aud, on_missing, max_token_bytes, key sources, PBES2, rotation."""
    configs = configs_of(golden)
    signatures = [c["signature"] for c in configs if c.get("signature")]
    headers = [s["headers"] for s in signatures if s.get("headers")]
    assert {name for h in headers for name in h} >= {"typ", "cty", "x5c", "x5t", "x5t#S256"}
    assert any(set(h) - {"typ", "cty", "x5c", "x5t", "x5t#S256"} for h in headers)  # a member of the config's own
    assert any(
        c.get("encryption") and c["signature"].get("headers", {}).get("x5c") for c in configs if c.get("signature")
    )

    claims = [c["claims"] for c in configs if c.get("claims")]
    audiences = [c["aud"] for c in claims if "aud" in c]
    assert any(isinstance(a, str) and "{{" not in a for a in audiences)
    assert any(isinstance(a, list) and any("{{" in item for item in a) for a in audiences)
    assert any(isinstance(a, str) and a.startswith("{{") for a in audiences)  # a whole-value template: an array
    policies = {(name, c[f"{name}_on_missing"]) for c in claims for name in ("issuer", "subject", "aud")
                if f"{name}_on_missing" in c}  # fmt: skip
    assert {name for name, _ in policies} == {"issuer", "subject", "aud"}
    assert {policy for _, policy in policies} == {"omit", "default"}
    custom = [item for c in claims for item in c.get("custom", [])]
    assert {item["on_missing"] for item in custom if "on_missing" in item} == {"fail", "omit", "default"}
    defaulted = {item["type"] for item in custom if item.get("on_missing") == "default"}
    assert defaulted == {"String", "Number", "Boolean", "Array", "Object"}

    assert any(isinstance(c.get("max_token_bytes"), int) for c in configs)
    budget = next(c["id"] for c in configs if c.get("max_token_bytes"))
    assert set(answered(golden, budget)) == {"true", "failure"}  # a token that fits, one that does not

    encryptions = [c["encryption"] for c in configs if c.get("encryption")]
    pbes2 = [e for e in encryptions if e["alg"].startswith("PBES2-")]
    assert any("iterations" in e and "salt_bytes" in e for e in pbes2) and any("iterations" not in e for e in pbes2)
    assert {"password", "jwk"} <= {source for e in pbes2 for source in ("password", "jwk") if source in e}
    assert any(e.get("certificate") for e in encryptions)
    assert any("BEGIN CERTIFICATE" in str(e.get("public_key")) for e in encryptions)
    inline = [e for e in encryptions if e.get("jwks")]
    assert any(e.get("kid") for e in inline) and any(not e.get("kid") for e in inline)
    assert not any(e.get("jwks_url") for e in encryptions)  # needs a live server: see make_recording.py

    broken = {"invalid-header-alg", "expired-certificate"}  # CONFIG_INVALID on purpose
    users = [c for c in configs if c["id"] not in broken and extensions_of(c)]
    assert set().union(*(extensions_of(c) for c in users)) == {
        "max_token_bytes", "aud", "on_missing", "headers", "private_key_password", "PBES2", "certificate", "jwks",
        "next_key", "retired_keys",
    }  # fmt: skip
    for config in users:  # each answered with a token
        assert answered(golden, config["id"]).get("true"), config["id"]
    assert {"CONFIG_INVALID"} == {
        body(r)["error"]["code"]
        for r in golden.of("failure")
        if r.key and r.key.startswith((b"invalid-header-", b"expired-"))
    }


def extensions_of(config: dict[str, Any]) -> set[str]:
    """The options beyond the node's own that a config uses."""
    signature, encryption, claims = (config.get(k) or {} for k in ("signature", "encryption", "claims"))
    used = {name for name in ("headers", "private_key_password", "next_key", "retired_keys") if name in signature}
    used |= {"max_token_bytes"} if "max_token_bytes" in config else set()
    used |= {"aud"} if "aud" in claims else set()
    if any("on_missing" in k for k in claims) or any("on_missing" in item for item in claims.get("custom", [])):
        used.add("on_missing")
    if str(encryption.get("alg")).startswith("PBES2-"):
        used.add("PBES2")
    if "certificate" in encryption or "CERTIFICATE" in str(encryption.get("public_key")):
        used.add("certificate")
    return used | ({"jwks"} if "jwks" in encryption else set())


def test_rotation_configs_sign_with_their_current_key_only(golden: Recording) -> None:
    by_version = {(c["id"], c["version"]): c for c in configs_of(golden)}
    rotating = {key: c for key, c in by_version.items() if {"next_key", "retired_keys"} & set(c["signature"] or {})}
    assert any({"next_key", "retired_keys"} <= set(c["signature"]) for c in rotating.values())
    next_keys = [c["signature"]["next_key"] for c in rotating.values() if "next_key" in c["signature"]]
    assert {"private_key" in k for k in next_keys} == {True, False}  # the private half given, or kept elsewhere
    assert len({config_id for config_id, _ in rotating}) < len(rotating)  # one switched to its next key
    seen = 0
    for record in golden.of("true"):
        answer = body(record)
        config = rotating.get((answer["config"]["id"], answer["config"]["version"]))
        if config is None:
            continue
        signature = config["signature"]
        key_class = {"RSA": RSAKey, "EC": ECKey}[signature["key_type"]]
        current = signature.get("kid") or key_class.import_key(signature["private_key"]).thumbprint()
        others = [
            k.get("kid") or key_class.import_key(k["public_key"]).thumbprint()
            for k in [signature.get("next_key"), *signature.get("retired_keys", [])]
            if k
        ]
        assert answer["token_info"]["kid"] == current and current not in others
        seen += 1
    assert seen >= 10


def test_the_recorded_certificates_stay_valid_for_decades(golden: Recording) -> None:
    """A recipient certificate must be valid when the recording is replayed, years from now."""
    pems: list[str] = []
    ders: list[str] = []
    for config in configs_of(golden):
        encryption = config.get("encryption") or {}
        pems += [v for v in (encryption.get("certificate"), encryption.get("public_key")) if "CERTIFICATE" in str(v)]
        ders += (config.get("signature") or {}).get("headers", {}).get("x5c", [])
    certificates = [x509.load_pem_x509_certificate(p.encode()) for p in pems]
    certificates += [x509.load_der_x509_certificate(base64.b64decode(d)) for d in ders]
    assert len(certificates) >= 5
    decades = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=365 * 50)
    expired = [c for c in certificates if c.not_valid_after_utc < decades]
    assert [c.not_valid_after_utc.year for c in expired] == [2024]  # the one meant to be expired (CONFIG_INVALID)


def test_a_config_update_in_the_middle_replays_each_request_with_the_version_it_met(golden: Recording) -> None:
    """Requests that named no version were answered by version 1, then by version 2: the replay agrees."""
    unversioned = {}
    for request in golden.of("requests"):
        try:
            event = body(request)
        except orjson.JSONDecodeError:
            continue
        if isinstance(event, dict) and event.get("config") == {"id": "hs256-password"} and "flow" in event:
            unversioned[request.key] = event
    answered = {r.key: body(r)["config"]["version"] for r in golden.of("true") if r.key in unversioned}
    assert set(answered.values()) == {1, 2}
    plan = make_plan(golden)
    assert len(plan.epochs) >= 3 and plan.moved == 0
    report = offline(golden)
    assert report.passed and report.counts()["different"] == 0


def test_a_request_answered_with_the_old_version_just_after_the_update_stays_with_it(golden: Recording) -> None:
    """A race in the original: the update came first, the worker had not read it yet. The answer decides."""
    update = next(r for r in golden.of("configs") if r.key == b"hs256-password" and body(r)["version"] == 2)
    request = next(r for r in golden.of("requests") if r.key == b"hs256-password-p1-0")  # has issued_at
    assert next(body(r) for r in golden.of("true") if r.key == request.key)["config"]["version"] == 1
    # 1 ms after the update: by time alone it would meet version 2 (a longer ttl, another secret).
    raced = replace(request, timestamp=(update.timestamp or 0) + 1)
    recording = Recording(tuple(raced if r is request else r for r in golden.records), golden.prefix)
    assert make_plan(recording).moved == 1
    report = offline(recording)
    assert report.passed and report.problems() == []


# ----------------------------------------------------------------------------- one key changed


def pem(key: Any, traditional: bool = False) -> str:
    fmt = serialization.PrivateFormat.TraditionalOpenSSL if traditional else serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def affected(recording: Recording, config_id: str, version: int) -> set[str]:
    """Requests whose recorded answer is a token made with that config version: what a new key changes."""
    return {
        r.key.decode()
        for r in recording.of("true")
        if r.key is not None and body(r)["config"] == {"id": config_id, "version": version}
    }


def with_changed_key(recording: Recording, config_id: str, version: int, change: Any) -> Recording:
    records = []
    for record in recording.records:
        if record.topic == "configs" and record.key == config_id.encode() and record.value:
            config = body(record)
            if config["version"] == version:
                change(config)
                record = replace(record, value=orjson.dumps(config))
        records.append(record)
    return Recording(tuple(records), recording.prefix)


def new_password(config: dict[str, Any]) -> None:
    config["signature"]["password"] = "changed-" + secrets.token_hex(20)


def new_ec_key(config: dict[str, Any]) -> None:
    config["signature"]["private_key"] = pem(ec.generate_private_key(ec.SECP256R1()), traditional=True)


def new_wrap_key(config: dict[str, Any]) -> None:
    config["encryption"]["jwk"] = {"kty": "oct", "k": "A" * 42 + "w"}  # 32 bytes


def new_rsa_key(config: dict[str, Any]) -> None:
    config["signature"]["private_key"] = pem(rsa.generate_private_key(65537, 2048))


@pytest.mark.parametrize(
    ("config_id", "version", "change"),
    [
        ("hs256-password", 2, new_password),  # deterministic: the token bytes differ
        ("rs256-pkcs8", 2, new_rsa_key),  # deterministic RSA, the version after an update
        ("es256-sec1", 1, new_ec_key),  # randomized: the recorded token no longer verifies
        ("a256kw", 1, new_wrap_key),  # JWE: the recorded token no longer decrypts
        ("nested-hs256-a256kw", 1, new_password),  # nested: the inner JWS differs
    ],
)
def test_changing_one_key_reports_exactly_the_requests_it_affects(
    golden: Recording, config_id: str, version: int, change: Any
) -> None:
    expected = affected(golden, config_id, version)
    assert expected  # the golden recording has answers made with it
    report = offline(with_changed_key(golden, config_id, version, change))
    reported = {v.label for v in report.problems()}
    assert reported == expected
    assert {v.status for v in report.problems()} == {Status.DIFFERENT}
    assert all(v.path.startswith("$.") for v in report.problems())


def test_a_changed_asymmetric_encryption_key_needs_its_private_half_to_be_seen(golden: Recording) -> None:
    """RSA-OAEP to a new public key with the same kid: only the new private key shows the old tokens are stale."""
    new = RSAKey.generate_key(2048, private=True)

    def change(config: dict[str, Any]) -> None:
        config["encryption"]["public_jwk"] = dict(new.as_dict(private=False))
        config["encryption"].pop("public_key", None)

    changed = with_changed_key(golden, "rsa-oaep", 1, change)
    unseen = offline(changed)
    assert {v.label for v in unseen.problems()} == set() and unseen.header_only >= 5
    seen = offline(changed, [*RECIPIENTS, new])
    assert {v.label for v in seen.problems()} == affected(golden, "rsa-oaep", 1)
