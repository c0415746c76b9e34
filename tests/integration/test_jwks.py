"""Verifiers fetch the workers' key sets over HTTP and verify their tokens by kid, across a key rotation under load.

Independent JOSE libraries do the verifying: PyJWT's PyJWKClient (as a
service would use it) and jwcrypto. Two workers of one group run here; the
module's workers log JSON (JWTGEN_LOG_FORMAT=json), which is checked too.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from jwcrypto import jwk

from tests.support.configs import LEAN_CLAIMS, TOP_SECRET, asymmetric_signature, hs256_config, request_for
from tests.support.fixtures import running_worker
from tests.support.jose_check import assert_public_key_set, verify_by_kid
from tests.support.kafkaio import KafkaIO, WorkerProcess
from tests.support.keys import KeyForms
from tests.support.processes import jwtgen
from worker.core.keygen import generate_keypair

pytestmark = pytest.mark.integration

STORE_TOKEN = {"variable": "jwt", "attributes": ["token", "kid"]}


@pytest.fixture(scope="module")
def worker_env() -> dict[str, str]:
    return {"JWTGEN_LOG_FORMAT": "json"}


@pytest.fixture(scope="module")
def second_worker(
    kafka: str, prefix: str, worker: WorkerProcess, worker_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    """Another worker of the same group: it holds the same configs, so it must serve the same sets."""
    with running_worker(kafka, prefix, worker_env, tmp_path_factory.mktemp("second")) as proc:
        yield proc


def fetch(worker: WorkerProcess, path: str, etag: str | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{worker.web_port}{path}")
    if etag is not None:
        request.add_header("If-None-Match", etag)
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def url(worker: WorkerProcess, path: str) -> str:
    return f"http://127.0.0.1:{worker.web_port}{path}"


def config(config_id: str, signature: dict[str, Any], version: int = 1) -> dict[str, Any]:
    return hs256_config(config_id, version, claims=LEAN_CLAIMS, signature=signature, store=STORE_TOKEN)


def tokens_for(io: KafkaIO, config_id: str, count: int = 1) -> list[str]:
    """Tokens the workers sign for `config_id` now (issued_at now, so verifiers check exp for real)."""
    requests = [request_for(config_id, issued_at=int(time.time())) for _ in range(count)]
    io.send_requests(requests)
    answers = io.wait_for([r["execution_id"] for r in requests])
    out = []
    for kind, body in answers.values():
        assert kind == "true", body
        out.append(body["store_delta"][0]["values"]["token"])
    return out


def test_key_sets_verify_worker_tokens_by_kid(
    io: KafkaIO, worker: WorkerProcess, rsa2048: KeyForms, ec_keys: dict[str, KeyForms], ed25519_key: KeyForms
) -> None:
    configs = {
        "rsa": (config("rsa", asymmetric_signature(rsa2048.pkcs8, "PS256", "RSA", "rsa-1")), "PS256"),
        "ec": (config("ec", asymmetric_signature(ec_keys["P-384"].jwk, "ES384", "EC")), "ES384"),
        "ed": (config("ed", asymmetric_signature(ed25519_key.pkcs8, "EdDSA", "OKP", "ed-1")), "EdDSA"),
        "hmac": (hs256_config("hmac", claims=LEAN_CLAIMS, store=STORE_TOKEN), "HS256"),
    }
    io.put_configs([c for c, _ in configs.values()])
    tokens = {config_id: tokens_for(io, config_id)[0] for config_id in configs}

    status, headers, body = fetch(worker, "/jwks.json")
    assert status == 200 and headers["Content-Type"] == "application/jwk-set+json"
    assert headers["Cache-Control"] == "public, max-age=300" and headers["ETag"].startswith('"')
    assert TOP_SECRET.encode() not in body
    published = assert_public_key_set(json.loads(body))
    assert {k["kid"] for k in published} == {"rsa-1", ec_keys["P-384"].thumbprint(), "ed-1"}  # no HMAC key

    # PyJWT, as a service verifies: the kid of the token picks the key from the fetched set.
    everything = jwt.PyJWKClient(url(worker, "/jwks.json"), cache_jwk_set=True, lifespan=60)
    for config_id in ("rsa", "ec"):
        alg = configs[config_id][1]
        own = jwt.PyJWKClient(url(worker, f"/configs/{config_id}/jwks.json"))
        for client in (everything, own):
            key = client.get_signing_key_from_jwt(tokens[config_id])
            claims = jwt.decode(tokens[config_id], key.key, algorithms=[alg])
            assert claims["email"] == "ada@example.com"
    # jwcrypto for all three, Ed25519 included.
    for config_id in ("rsa", "ec", "ed"):
        kid, claims = verify_by_kid(tokens[config_id], json.loads(body))
        assert kid in {k["kid"] for k in published} and claims["email"] == "ada@example.com"

    # A config's own set holds its key only; symmetric and unknown configs have none.
    status, _, own_body = fetch(worker, "/configs/rsa/jwks.json")
    assert status == 200 and [k["kid"] for k in json.loads(own_body)["keys"]] == ["rsa-1"]
    for config_id in ("hmac", "no-such-config"):
        status, _, missing = fetch(worker, f"/configs/{config_id}/jwks.json")
        assert status == 404 and TOP_SECRET.encode() not in missing

    # Conditional requests: the current ETag gives 304 without a body; a new key changes it.
    etag = headers["ETag"]
    status, again, empty = fetch(worker, "/jwks.json", etag=f'W/"other", {etag}')
    assert status == 304 and empty == b"" and again["ETag"] == etag
    io.put_config(config("ec2", asymmetric_signature(ec_keys["P-256"].pkcs8, "ES256", "EC", "ec-2")))
    tokens_for(io, "ec2")
    status, changed, _ = fetch(worker, "/jwks.json", etag=etag)
    assert status == 200 and changed["ETag"] != etag

    metrics = worker.metrics()
    assert 'jwtgen_jwks_requests_total{scope="all",status="304"} 1.0' in metrics
    assert 'jwtgen_jwks_requests_total{scope="config",status="404"} 2.0' in metrics


def test_every_worker_of_the_group_serves_the_same_set(
    io: KafkaIO, worker: WorkerProcess, second_worker: WorkerProcess, rsa2048_other: KeyForms
) -> None:
    io.put_config(config("same", asymmetric_signature(rsa2048_other.pkcs8, "RS256", "RSA", "same-1")))
    deadline = time.monotonic() + 30
    while True:
        one, two = fetch(worker, "/jwks.json"), fetch(second_worker, "/jwks.json")
        if one[2] == two[2] and b"same-1" in one[2]:
            break
        assert time.monotonic() < deadline, (one[2][:200], two[2][:200])
        time.sleep(0.3)
    assert one[1]["ETag"] == two[1]["ETag"]
    assert fetch(second_worker, "/configs/same/jwks.json")[2] == fetch(worker, "/configs/same/jwks.json")[2]


class Verifier:
    """A verifier with its own refresh schedule: it re-reads the set every `every` seconds, alternating between
    workers, and verifies strictly from its cached copy (it never refetches on an unknown kid)."""

    def __init__(self, workers: list[WorkerProcess], path: str, every: float) -> None:
        self.workers = workers
        self.path = path
        self.every = every
        self.fetches = 0
        self.keys = jwk.JWKSet()
        self.next_refresh = 0.0

    def tick(self) -> None:
        now = time.monotonic()
        if now >= self.next_refresh:
            status, _, body = fetch(self.workers[self.fetches % len(self.workers)], self.path)
            assert status == 200, body
            self.keys = jwk.JWKSet.from_json(body.decode())
            self.fetches += 1
            self.next_refresh = now + self.every

    def verify(self, token: str) -> str:
        kid, _ = verify_by_kid(token, self.keys)
        return kid


def test_rotation_under_load(io: KafkaIO, worker: WorkerProcess, second_worker: WorkerProcess, tmp_path: Path) -> None:
    private, _ = generate_keypair("EC", None, None, "ES256", "rot-1")
    path = tmp_path / "rot.json"
    path.write_text(json.dumps(config("rot", asymmetric_signature(private, "ES256", "EC", "rot-1"))))
    io.put_config(json.loads(path.read_text()))
    tokens_for(io, "rot")  # both workers hold it

    refresh, wait = 1.0, 3  # the verifier's cache time; announce -> switch
    verifier = Verifier([worker, second_worker], "/configs/rot/jwks.json", refresh)
    steps = {"announce": 2.0, "switch": 2.0 + wait + refresh + 0.5}
    done: dict[str, float] = {}
    verified: list[tuple[float, str, str]] = []  # (second, kid, token)
    failures: list[str] = []
    start = time.monotonic()
    while time.monotonic() - start < steps["switch"] + 4.0 and len(verified) < 5000:
        elapsed = time.monotonic() - start
        for step, at in steps.items():
            if step not in done and elapsed >= at:
                result = jwtgen("keys", "rotate", str(path), "-o", str(path), "--wait", str(wait))
                assert result.returncode == 0, result.stderr
                io.put_config(json.loads(path.read_text()))
                done[step] = elapsed
        verifier.tick()
        for token in tokens_for(io, "rot", count=10):
            try:
                verified.append((time.monotonic() - start, verifier.verify(token), token))
            except Exception as exc:  # collected: every failure is reported at the end
                failures.append(f"{time.monotonic() - start:.2f}s: {type(exc).__name__} {exc}")
    assert not failures, f"{len(failures)} of {len(failures) + len(verified)} tokens failed: {failures[:5]}"
    rotated = json.loads(path.read_text())["signature"]
    new_kid = rotated["kid"]
    kids = [kid for _, kid, _ in verified]
    assert kids[0] == "rot-1" and kids[-1] == new_kid != "rot-1"
    before_switch = [kid for at, kid, _ in verified if at < done["switch"]]
    assert set(before_switch) == {"rot-1"} and kids.count(new_kid) >= 10, (len(kids), kids.count(new_kid))
    assert [k["kid"] for k in rotated["retired_keys"]] == ["rot-1"]
    assert verifier.fetches >= steps["switch"] / refresh - 1

    # After the rotation a fresh set still verifies the old key's tokens: it stays published until they expire.
    verifier.next_refresh = 0
    verifier.tick()
    for _, kid, token in verified:
        assert verifier.verify(token) == kid
    assert {k["kid"] for k in json.loads(fetch(worker, "/configs/rot/jwks.json")[2])["keys"]} == {"rot-1", new_kid}


def test_logs_are_json_lines_with_ids(io: KafkaIO, worker: WorkerProcess) -> None:
    bad = hs256_config("bad-config", signature={"type": "symmetric", "alg": "HS512", "password": TOP_SECRET})
    io.put_config(bad)
    request = request_for("bad-config")
    io.send_request(request)
    kind, body = io.answer(request["execution_id"])
    assert kind == "failure" and body["error"]["code"] == "CONFIG_INVALID"
    deadline = time.monotonic() + 10
    while "bad-config" not in worker.log() and time.monotonic() < deadline:
        time.sleep(0.2)
    lines = [line for line in worker.log().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line, Faust's own included
    assert len(entries) > 20
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= set(entry), entry
    assert {e["logger"].split(".")[0] for e in entries} >= {"faust", "worker"}
    [invalid] = [e for e in entries if "bad-config" in e["message"]]
    assert invalid["config_id"] == "bad-config" and invalid["level"] == "WARNING"
    assert TOP_SECRET not in worker.log()
