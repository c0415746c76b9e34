"""Make the golden recording: a real worker answers a few hundred requests covering every option.

    .venv/bin/python -m tests.golden.make_recording                  # starts and stops its own broker
    .venv/bin/python -m tests.golden.make_recording --bootstrap 127.0.0.1:9092

Run it again (and commit tests/golden/golden.jsonl and golden.kcat.jsonl) when
a change to the engine is meant to change answers, or when an option is added
(cover it here): tests/unit/replay/test_golden.py and
tests/integration/test_replay.py replay the recording and require 0
differences, and the unit test checks what the recording covers. The keys are
test keys, committed in tests/golden/keys.json: a run adds the keys a new
option needs and keeps the others (`--new-keys` makes all of them anew). The
script derives the key-encryption key (kek.json, for JWTGEN_KEK), the private
keys of the JWE recipients (recipients.json, for `jwtgen replay
--decryption-keys`) and the certificates from them: a test CA (Ed25519, so its
signatures are deterministic) with fixed serials and dates, valid from 2025 to
2125, because the worker checks a recipient certificate is valid *now*, also
when the recording is replayed. Encrypted PEMs (random salts) are committed in
keys.json like the keys.

The cases are in cases.py (the node's own options, and the requests of every
phase) and extensions.py (the options beyond them); material.py holds the keys
and certificates; this module drives the worker and records.

What it covers, in three phases separated by config changes:
- every signature algorithm (HS*, RS*, PS*, ES*, Ed25519 and EdDSA) and key
  form (password, oct JWK, PKCS#8, PKCS#1 and SEC1 PEM, encrypted PKCS#8 and
  SEC1 PEM with `private_key_password`, JWK, sealed), kid set or left to the
  thumbprint;
- every JWE mode (A*KW, A*GCMKW, dir, PBES2-* with `iterations` and
  `salt_bytes` set or defaulted, RSA-OAEP*, ECDH-ES*) with every `enc`, and
  nested tokens; recipient keys as PEM, JWK, `certificate` (also given as
  `public_key`) and inline `jwks` (chosen by kid or by key type and `use`);
- custom claims of every type (static and templated), nbf and jti; `aud` as a
  string, a list with a template and an array from the store; `on_missing`
  `fail`, `omit` and `default` (of every type) on custom claims, and
  `issuer_on_missing`, `subject_on_missing` and `aud_on_missing` (`omit`,
  `default`), each with the variable found and missing;
- `signature.headers`: `typ`, `cty`, members of any JSON type, `x5c` (leaf
  and test CA) with `x5t` and `x5t#S256`, and on a nested token;
- `max_token_bytes`, a token that fits and one over it;
- key rotation: `next_key` (private, and public only) with `retired_keys`,
  tokens signed with the current key, then a version switched to the next key;
- every store attribute, `frontend` true and false;
- every failure code a request can reach: MALFORMED_EVENT,
  FLOW_TYPE_NOT_SUPPORTED, CONFIG_NOT_FOUND (unknown id, version not arrived,
  deleted config), CONFIG_VERSION_MISMATCH, CONFIG_INVALID (a rule broken,
  an extension's rule broken, an expired certificate, not JSON),
  VARIABLE_NOT_FOUND, CLAIM_TYPE_MISMATCH, TOKEN_TOO_LARGE, ANSWER_TOO_LARGE
  (an answer over the size limit). SIGNING_FAILED and ENCRYPTION_FAILED cannot
  be reached: every config is probed with a signature and an encryption when
  it is compiled. INTERNAL is a fault;
- dead letters (not JSON, not an object, no execution id, a tombstone, bytes
  that are not UTF-8, no key);
- request headers (text, bytes, null, repeated names), requests without key,
  with and without `issued_at` (iat from the record timestamp);
- a config updated (with a new key) and one deleted between phases, requests
  naming a version and requests naming none.

Left out on purpose:
- `encryption.jwks_url` and KEY_UNAVAILABLE: a key set fetched over HTTP needs
  a live server at replay time, and a URL that cannot be fetched is not
  deterministic either: the worker's fetcher may or may not have tried it
  before a request arrives ("not fetched yet" or "cannot be fetched (...)"),
  and the offline replay never fetches. tests/integration/test_features.py
  covers them.
- the audit topic (`JWTGEN_AUDIT`): `jwtgen record` and `jwtgen replay`
  handle the five contract topics only, so the worker runs without it.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from tests.golden.cases import (
    Outgoing,
    as_record,
    asymmetric,
    configs,
    failure_requests,
    phase_requests,
    request,
    symmetric,
)
from tests.golden.extensions import NOT_PHASE_REQUESTED, extension_configs, extension_requests, rotated
from tests.golden.material import Material, complete_keys
from tests.support.kafkaio import KafkaIO, WorkerProcess
from tests.support.processes import JWTGEN, REPO, free_port

HERE = Path(__file__).resolve().parent
KEYS = HERE / "keys.json"
KEK = HERE / "kek.json"
RECIPIENTS = HERE / "recipients.json"
RECORDING = HERE / "golden.jsonl"


# ----------------------------------------------------------------------------- the run


def send(io: KafkaIO, records: list[Outgoing]) -> list[str]:
    """Send requests; returns the answer keys to wait for (dead letters are counted apart)."""
    keys = []
    for key, value, headers in records:
        io.send_raw("requests", key, value, headers)  # type: ignore[arg-type]  # aiokafka sends a None header value
        parsed = _execution_id(value)
        if parsed:
            keys.append(key.decode() if key is not None else parsed)
    return keys


def _execution_id(value: bytes | None) -> str | None:
    try:
        body = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return None
    if isinstance(body, dict) and isinstance(body.get("execution_id"), str) and body["execution_id"].strip():
        return str(body["execution_id"])
    return None


def dead_letter_count(records: list[Outgoing]) -> int:
    return sum(1 for _, value, _ in records if _execution_id(value) is None)


def drive(io: KafkaIO, m: Material) -> None:
    phase1 = configs(m) + extension_configs(m)
    for c in phase1:
        io.put_config(c)
    io.send_raw("configs", b"not-json-config", b"{this is not json")
    time.sleep(1.0)
    ids = [c["id"] for c in phase1 if c["id"] not in NOT_PHASE_REQUESTED]
    letters = 0
    records = phase_requests(ids, 1) + failure_requests(1) + extension_requests(1)
    records.append(
        as_record(request("pinned-v1-p1", "hs256-password", 3, config={"id": "hs256-password", "version": 1}))
    )
    io.wait_for(send(io, records), timeout=120)
    letters += dead_letter_count(records)
    io.deadletters(count=letters, timeout=60)

    # Phase 2: hs256-password gets version 2 (a longer ttl, a new secret), es256-sec1
    # version 2 with a new key, rotation-rs256 switches to its next key, to-delete is deleted.
    by_id = {c["id"]: c for c in phase1}
    hs_v2 = {
        **by_id["hs256-password"],
        "version": 2,
        "ttl": 900,
        "signature": symmetric("HS256", "hs-1b", password=m.password(64)[:40]),
    }
    es_v2 = {
        **by_id["es256-sec1"],
        "version": 2,
        "signature": asymmetric("EC", "ES256", "es-1b", private_key=m.pem("ec-sign-p256-2")),
    }
    io.put_config(hs_v2)
    io.put_config(es_v2)
    io.put_config(rotated(by_id["rotation-rs256"], m))
    io.put_config(None, "to-delete")
    time.sleep(1.0)
    records = [
        *phase_requests(["hs256-password", "es256-sec1", "to-delete", "rs256-pkcs8", "rotation-rs256"], 2),
        as_record(request("mismatch-p2", "hs256-password", 1, config={"id": "hs256-password", "version": 1})),
        as_record(request("pinned-v2-p2", "hs256-password", 2, config={"id": "hs256-password", "version": 2})),
        # A version that never comes: the worker waits for it, then CONFIG_NOT_FOUND (retryable).
        as_record(request("future-p2", "hs256-password", 3, config={"id": "hs256-password", "version": 9})),
    ]
    io.wait_for(send(io, records), timeout=120)

    # Phase 3: rs256-pkcs8 version 2 signs with another key; a few of everything again.
    rs_v2 = {
        **by_id["rs256-pkcs8"],
        "version": 2,
        "signature": asymmetric("RSA", "RS256", "rs-1", private_key=m.pem("rsa-sign-2")),
    }
    io.put_config(rs_v2)
    time.sleep(1.0)
    records = phase_requests(["rs256-pkcs8", "hs256-password", "nested-es256-ecdh", "claims-all-types"], 3)
    records += failure_requests(3) + extension_requests(3)
    io.wait_for(send(io, records), timeout=120)
    letters += dead_letter_count(records)
    io.deadletters(count=letters, timeout=60)


def record_with_kcat(bootstrap: str, prefix: str, out: Path) -> None:
    """The same topics as `kcat -C -J` writes them, for the test that replay reads kcat's format.

    The oversized request and its answer are left out, to keep the file small.
    """
    lines = []
    for topic in ("configs", "requests", "true", "failure", "deadletter"):
        done = subprocess.run(
            ["kcat", "-b", bootstrap, "-C", "-J", "-e", "-q", "-t", f"{prefix}.{topic}"],
            capture_output=True,
            check=True,
        )
        lines += [line for line in done.stdout.splitlines(keepends=True) if b'"too-big"' not in line]
    out.write_bytes(b"".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", help="use this broker instead of starting one")
    parser.add_argument("--out", type=Path, default=RECORDING)
    parser.add_argument("--new-keys", action="store_true", help="make new test keys (tests/golden/keys.json)")
    args = parser.parse_args()

    committed = {} if args.new_keys or not KEYS.exists() else json.loads(KEYS.read_text())
    keys = complete_keys(committed)
    if keys != committed:
        KEYS.write_text(json.dumps(keys, indent=2) + "\n")
    m = Material(keys)
    KEK.write_text(json.dumps(m.keys["kek"], indent=2) + "\n")
    RECIPIENTS.write_text(json.dumps(m.recipients(), indent=2) + "\n")

    with tempfile.TemporaryDirectory(prefix="jwtgen-golden-") as tmp:
        broker_dir = Path(tmp) / "broker"
        bootstrap = args.bootstrap
        if bootstrap is None:
            port = free_port()
            subprocess.run([*JWTGEN, "broker", "start", "--port", str(port), "--data-dir", str(broker_dir)], check=True)
            bootstrap = f"127.0.0.1:{port}"
        prefix = f"golden-{secrets.token_hex(4)}"
        worker = WorkerProcess(prefix, bootstrap, free_port(), Path(tmp) / "worker.log")
        worker.extra_env["JWTGEN_KEK"] = json.dumps(m.keys["kek"])
        try:
            worker.start()
            io = KafkaIO(bootstrap, prefix).open()
            try:
                drive(io, m)
            finally:
                io.close()
            env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "JWTGEN_TOPIC_PREFIX": prefix}
            subprocess.run([*JWTGEN, "record", "--out", str(args.out), "--overwrite"], env=env, cwd=REPO, check=True)
            # Beside the recording: golden.jsonl -> golden.kcat.jsonl.
            kcat_out = args.out.with_name(f"{args.out.stem}.kcat.jsonl")
            if shutil.which("kcat"):
                record_with_kcat(bootstrap, prefix, kcat_out)
            else:
                print(f"kcat is not installed: {kcat_out} left as it is", file=sys.stderr)
        finally:
            worker.stop()
            if args.bootstrap is None:
                subprocess.run([*JWTGEN, "broker", "stop", "--data-dir", str(broker_dir)], check=False)
    env = {**os.environ, "JWTGEN_KEK": json.dumps(m.keys["kek"])}
    check = [*JWTGEN, "replay", str(args.out), "--offline", "--decryption-keys", str(RECIPIENTS)]
    sys.exit(subprocess.run(check, env=env, cwd=REPO).returncode)


if __name__ == "__main__":
    main()
