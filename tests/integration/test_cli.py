"""The `jwtgen` command line as a user runs it: a subprocess, against the module's worker on a real broker."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest
from jwcrypto import jwk

from tests.support.configs import LEAN_CLAIMS, LEAN_TOKEN_CLAIMS, TOP_SECRET, hs256, hs256_config, request_for
from tests.support.jose_check import decrypt, verify
from tests.support.kafkaio import KafkaIO, WorkerProcess, check_answer
from tests.support.keys import oct_jwk
from tests.support.processes import jwtgen

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def env(kafka: str, prefix: str, worker: WorkerProcess) -> dict[str, str]:
    """The environment a user would export: the broker and the module worker's prefix."""
    base = {k: v for k, v in os.environ.items() if k not in ("JWTGEN_KEK", "JWTGEN_KEK_FILE")}
    return {**base, "KAFKA_BOOTSTRAP_SERVERS": kafka, "JWTGEN_TOPIC_PREFIX": prefix, "PYTHONUNBUFFERED": "1"}


def write(tmp_path: Path, name: str, value: Any) -> Path:
    path = tmp_path / name
    path.write_bytes(orjson.dumps(value, option=orjson.OPT_INDENT_2))
    return path


def config(config_id: str, **overrides: Any) -> dict[str, Any]:
    """The module's config: one custom claim, kid hs-cli; `overrides` replace top-level fields."""
    defaults = {
        "claims": LEAN_CLAIMS,
        "signature": hs256(TOP_SECRET, kid="hs-cli"),
        "store": {"variable": "jwt", "attributes": ["token", "kid"], "frontend": False},
    }
    return hs256_config(config_id, **{**defaults, **overrides})


# Several problems at once; each entry is a field the output must name.
BROKEN = config(
    "broken",
    version=0,
    ttl=0,
    colour="red",
    claims={"custom": [{"key": "email", "value": "x", "type": "Date"}]},
    signature={"type": "symmetric", "alg": "HS512", "password": TOP_SECRET},
    store={"variable": "jwt", "attributes": ["token", "refresh_token"]},
)
BROKEN_FIELDS = [
    "colour",
    "version",
    "ttl",
    "claims.issuer",
    "claims.subject",
    "claims.custom[0].type",
    "signature.password",
    "store.attributes[1]",
]


def problems_of(stdout: str, path: Path) -> list[str]:
    """The '  - ' lines listed under `path`'s INVALID heading."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{path}: INVALID"))
    out = []
    for line in lines[start + 1 :]:
        if not line.startswith("  - "):
            break
        out.append(line[4:])
    return out


# ----------------------------------------------------------------------------- config validate


def test_validate_a_valid_file_prints_ok(tmp_path: Path) -> None:
    path = write(tmp_path, "good.json", config("good"))
    result = jwtgen("config", "validate", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"{path}: ok"


def test_validate_lists_every_problem_naming_its_field(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.json", BROKEN)
    result = jwtgen("config", "validate", str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    problems = problems_of(result.stdout, path)
    assert f"{path}: INVALID ({len(problems)} problems)" in result.stdout
    for name in BROKEN_FIELDS:
        assert any(p.startswith(f"{name}:") for p in problems), (name, problems)
    assert len(problems) >= len(BROKEN_FIELDS)
    assert TOP_SECRET not in result.stdout + result.stderr


def test_validate_reports_each_of_several_files(tmp_path: Path) -> None:
    good1 = write(tmp_path, "good1.json", config("good1"))
    bad1 = write(tmp_path, "bad1.json", config("bad1", ttl="soon"))
    unsigned = write(tmp_path, "unsigned.json", config("unsigned", signature=None, encryption=None))
    bad2 = write(tmp_path, "bad2.json", config("bad2", store={"variable": "jwt", "attributes": []}))
    result = jwtgen("config", "validate", str(good1), str(bad1), str(unsigned), str(bad2))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{good1}: ok" in result.stdout
    assert [p.split(":")[0] for p in problems_of(result.stdout, bad1)] == ["ttl"]
    assert [p.split(":")[0] for p in problems_of(result.stdout, unsigned)] == ["signature"]
    assert [p.split(":")[0] for p in problems_of(result.stdout, bad2)] == ["store.attributes"]
    order = [result.stdout.index(str(p) + ":") for p in (good1, bad1, unsigned, bad2)]
    assert order == sorted(order)
    all_good = jwtgen("config", "validate", str(good1), str(write(tmp_path, "good3.json", config("good3"))))
    assert all_good.returncode == 0, all_good.stdout
    assert all_good.stdout.count(": ok") == 2


# ----------------------------------------------------------------------------- config put / delete, request


def answer_of(result: subprocess.CompletedProcess[str], prefix: str, schemas: dict[str, Any]) -> dict[str, Any]:
    """The answer `jwtgen request` printed (after its 'answer on <topic>:' line), schema-checked."""
    first, _, rest = result.stdout.partition("\n")
    topic = first.removeprefix("answer on ").removesuffix(":")
    assert topic in (f"{prefix}.true", f"{prefix}.failure"), result.stdout
    body: dict[str, Any] = json.loads(rest)
    check_answer(schemas, "true" if topic.endswith(".true") else "failure", body)
    return body


def test_put_refuses_an_invalid_config_and_publishes_nothing(env: dict[str, str], io: KafkaIO, tmp_path: Path) -> None:
    path = write(tmp_path, "refused.json", config("refused", signature={"type": "symmetric", "alg": "none"}))
    result = jwtgen("config", "put", str(path), env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "not published" in result.stderr and "signature.alg" in result.stderr
    assert "published config" not in result.stdout
    request = request_for("refused")
    io.send_request(request)
    kind, body = io.answer(request["execution_id"])
    assert kind == "failure" and body["error"]["code"] == "CONFIG_NOT_FOUND", body


def test_put_publishes_a_valid_config_that_a_worker_then_uses(env: dict[str, str], io: KafkaIO, tmp_path: Path) -> None:
    path = write(tmp_path, "published.json", config("published"))
    result = jwtgen("config", "put", str(path), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"published config 'published' version 1 to {env['JWTGEN_TOPIC_PREFIX']}.configs" in result.stdout
    assert TOP_SECRET not in result.stdout + result.stderr
    request = request_for("published")
    io.send_request(request)
    kind, body = io.answer(request["execution_id"])
    assert kind == "true", body
    token = body["store_delta"][0]["values"]["token"]
    assert verify(token, oct_jwk(TOP_SECRET), "HS256", "hs-cli") == LEAN_TOKEN_CLAIMS


def test_request_exits_0_on_true_and_2_on_failure(env: dict[str, str], tmp_path: Path, schemas: dict[str, Any]) -> None:
    prefix = env["JWTGEN_TOPIC_PREFIX"]
    ok = write(tmp_path, "ok.json", config("req-ok"))
    assert jwtgen("config", "put", str(ok), env=env).returncode == 0
    weak = config("req-weak", signature={"type": "symmetric", "alg": "HS512", "password": TOP_SECRET})
    forced = jwtgen("config", "put", "--force", str(write(tmp_path, "weak.json", weak)), env=env)
    assert forced.returncode == 0, forced.stdout + forced.stderr

    good = jwtgen("request", str(write(tmp_path, "r1.json", request_for("req-ok"))), env=env)
    assert good.returncode == 0, good.stdout + good.stderr
    body = answer_of(good, prefix, schemas)
    assert body["outcome"] == "True" and body["token_info"]["kid"] == "hs-cli"
    token = body["store_delta"][0]["values"]["token"]
    assert verify(token, oct_jwk(TOP_SECRET), "HS256", "hs-cli") == LEAN_TOKEN_CLAIMS

    bad = jwtgen("request", str(write(tmp_path, "r2.json", request_for("req-weak"))), env=env)
    assert bad.returncode == 2, bad.stdout + bad.stderr
    body = answer_of(bad, prefix, schemas)
    assert body["outcome"] == "Failure" and body["error"]["code"] == "CONFIG_INVALID"
    assert "signature.password" in body["error"]["message"]
    assert TOP_SECRET not in bad.stdout


def test_request_without_execution_id_is_refused(env: dict[str, str], tmp_path: Path) -> None:
    event = request_for("req-ok")
    del event["execution_id"]
    result = jwtgen("request", str(write(tmp_path, "noid.json", event)), env=env)
    assert result.returncode == 1
    assert "execution_id" in result.stderr


def test_delete_publishes_a_tombstone(env: dict[str, str], io: KafkaIO, tmp_path: Path) -> None:
    assert jwtgen("config", "put", str(write(tmp_path, "doomed.json", config("doomed"))), env=env).returncode == 0
    request = request_for("doomed")
    io.send_request(request)
    assert io.answer(request["execution_id"])[0] == "true"
    result = jwtgen("config", "delete", "doomed", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    request = request_for("doomed")
    io.send_request(request)
    kind, body = io.answer(request["execution_id"])
    assert kind == "failure" and body["error"]["code"] == "CONFIG_NOT_FOUND", body


# ----------------------------------------------------------------------------- keys generate


def generate(*args: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    result = jwtgen("keys", "generate", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    printed = json.loads(result.stdout)
    assert set(printed) == {"private", "public"}
    return printed["private"], printed["public"]


def raw_bytes(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


ENCRYPTION_ALGS = {"A128KW", "A192KW", "A256KW", "dir", "RSA-OAEP", "RSA-OAEP-256", "ECDH-ES", "ECDH-ES+A256KW"}
GENERATED = [
    (["--type", "oct"], {"kty": "oct", "bytes": 32}),
    (["--type", "oct", "--alg", "HS256", "--kid", "hs-k"], {"kty": "oct", "bytes": 32, "alg": "HS256"}),
    (["--type", "oct", "--alg", "HS512"], {"kty": "oct", "bytes": 64, "alg": "HS512"}),
    (["--type", "oct", "--size", "384"], {"kty": "oct", "bytes": 48}),
    (["--type", "oct", "--alg", "A128KW"], {"kty": "oct", "bytes": 16, "alg": "A128KW"}),
    (["--type", "RSA"], {"kty": "RSA", "bits": 2048}),
    (["--type", "RSA", "--alg", "PS256", "--kid", "rsa-1"], {"kty": "RSA", "bits": 2048, "alg": "PS256"}),
    (["--type", "RSA", "--alg", "RSA-OAEP-256"], {"kty": "RSA", "bits": 2048, "alg": "RSA-OAEP-256"}),
    (["--type", "EC"], {"kty": "EC", "crv": "P-256"}),
    (["--type", "EC", "--curve", "P-384"], {"kty": "EC", "crv": "P-384"}),
    (["--type", "EC", "--alg", "ES512"], {"kty": "EC", "crv": "P-521", "alg": "ES512"}),
    (
        ["--type", "EC", "--alg", "ECDH-ES+A256KW", "--curve", "P-384", "--kid", "ec-enc"],
        {"kty": "EC", "crv": "P-384", "alg": "ECDH-ES+A256KW"},
    ),
    (["--type", "OKP"], {"kty": "OKP", "crv": "Ed25519"}),
    (["--type", "OKP", "--alg", "Ed25519", "--curve", "Ed25519"], {"kty": "OKP", "crv": "Ed25519", "alg": "Ed25519"}),
]


@pytest.mark.parametrize(("args", "expected"), GENERATED, ids=[" ".join(a) for a, _ in GENERATED])
def test_keys_generate_prints_private_and_public_jwk(args: list[str], expected: dict[str, Any]) -> None:
    private, public = generate(*args)
    assert private["kty"] == expected["kty"]
    kid = args[args.index("--kid") + 1] if "--kid" in args else None
    if "alg" in expected:
        use = "enc" if expected["alg"] in ENCRYPTION_ALGS else "sig"
        assert (private["alg"], private["use"]) == (expected["alg"], use)
    else:
        assert "alg" not in private and "use" not in private
    if expected["kty"] == "oct":
        assert public is None
        assert len(raw_bytes(private["k"])) == expected["bytes"]
        thumbprint = jwk.JWK(kty="oct", k=private["k"]).thumbprint()
        assert private["kid"] == (kid or thumbprint)
        return
    assert public is not None
    assert "d" in private and not {"d", "p", "q", "dp", "dq", "qi"} & set(public)
    if "crv" in expected:
        assert private["crv"] == public["crv"] == expected["crv"]
    if "bits" in expected:
        assert len(raw_bytes(public["n"])) * 8 == expected["bits"]
    private_key, public_key = jwk.JWK(**private), jwk.JWK(**public)
    assert private_key.thumbprint() == public_key.thumbprint()  # one key pair
    assert private["kid"] == public["kid"] == (kid or public_key.thumbprint())
    assert (public.get("alg"), public.get("use")) == (private.get("alg"), private.get("use"))


REFUSED = [
    (["--type", "RSA", "--size", "1024"], "2048"),
    (["--type", "EC", "--alg", "ES256", "--curve", "P-384"], "P-256"),
    (["--type", "oct", "--alg", "HS512", "--size", "256"], "512"),
    (["--type", "oct", "--alg", "A256KW", "--size", "128"], "256"),
    (["--type", "oct", "--alg", "none"], "none"),
    (["--type", "EC", "--alg", "RS256"], "RS256"),
    (["--type", "DSA"], "DSA"),
]


@pytest.mark.parametrize(("args", "says"), REFUSED, ids=[" ".join(a) for a, _ in REFUSED])
def test_keys_generate_refuses_impossible_keys(args: list[str], says: str) -> None:
    result = jwtgen("keys", "generate", *args)
    assert result.returncode != 0
    assert result.stdout == ""
    assert "Error" in result.stderr and says in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_generated_keys_in_configs_make_tokens_jwcrypto_accepts(
    env: dict[str, str], tmp_path: Path, schemas: dict[str, Any]
) -> None:
    """keys generate -> config put -> request, each as a user runs it; jwcrypto checks with the printed keys."""
    prefix = env["JWTGEN_TOPIC_PREFIX"]
    rsa_private, rsa_public = generate("--type", "RSA", "--alg", "PS256")
    okp_private, okp_public = generate("--type", "OKP", "--alg", "Ed25519", "--kid", "ed-cli")
    ec_private, ec_public = generate("--type", "EC", "--alg", "ECDH-ES+A256KW", "--curve", "P-384")
    hs_private, _ = generate("--type", "oct", "--alg", "HS384")
    wrap_private, _ = generate("--type", "oct", "--alg", "A256KW", "--kid", "wrap-cli")
    assert rsa_public is not None and okp_public is not None and ec_public is not None
    configs = {
        # no kid in the config: the header kid is the thumbprint, i.e. the printed kid
        "gen-rsa": config(
            "gen-rsa",
            signature={"type": "asymmetric", "key_type": "RSA", "alg": "PS256", "private_key": rsa_private},
        ),
        "gen-nested": config(
            "gen-nested",
            signature={
                "type": "asymmetric",
                "key_type": "OKP",
                "alg": "Ed25519",
                "kid": "ed-cli",
                "private_key": json.dumps(okp_private),
                "public_key": okp_public,
            },
            encryption={
                "type": "asymmetric",
                "key_type": "EC",
                "alg": "ECDH-ES+A256KW",
                "kid": ec_public["kid"],
                "public_jwk": ec_public,
            },
        ),
        "gen-oct": config(
            "gen-oct",
            signature={"type": "symmetric", "alg": "HS384", "kid": hs_private["kid"], "jwk": hs_private},
            encryption={"type": "symmetric", "alg": "A256KW", "kid": "wrap-cli", "jwk": wrap_private},
        ),
    }
    tokens: dict[str, str] = {}
    for config_id, value in configs.items():
        path = write(tmp_path, f"{config_id}.json", value)
        validated = jwtgen("config", "validate", str(path))
        assert validated.returncode == 0, validated.stdout
        put = jwtgen("config", "put", str(path), env=env)
        assert put.returncode == 0, put.stdout + put.stderr
        result = jwtgen("request", str(write(tmp_path, f"req-{config_id}.json", request_for(config_id))), env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        tokens[config_id] = answer_of(result, prefix, schemas)["store_delta"][0]["values"]["token"]

    assert verify(tokens["gen-rsa"], jwk.JWK(**rsa_public), "PS256", rsa_public["kid"]) == LEAN_TOKEN_CLAIMS

    header, inner = decrypt(tokens["gen-nested"], jwk.JWK(**ec_private), "ECDH-ES+A256KW")
    assert header["cty"] == "JWT" and header["kid"] == ec_public["kid"]
    assert verify(inner.decode(), jwk.JWK(**okp_public), "Ed25519", "ed-cli") == LEAN_TOKEN_CLAIMS

    header, inner = decrypt(tokens["gen-oct"], jwk.JWK(**wrap_private), "A256KW")
    assert header["kid"] == "wrap-cli"
    assert verify(inner.decode(), jwk.JWK(**hs_private), "HS384", hs_private["kid"]) == LEAN_TOKEN_CLAIMS


# ----------------------------------------------------------------------------- --help


HELP = [
    ([], ["broker", "config", "keys", "preview", "record", "replay", "request", "worker", "--version", "--help"]),
    (["broker"], ["start", "stop", "grant"]),
    (["broker", "start"], ["--port", "--data-dir", "--wait", "--secure", "--user"]),
    (["broker", "grant"], ["--allow-principal", "--operation", "--topic", "--group", "--resource-pattern-type"]),
    (["broker", "stop"], ["--data-dir"]),
    (["worker"], ["--web-port", "--web-host", "--bootstrap", "--prefix", "--log-level", "JWTGEN_KEK"]),
    (["config"], ["validate", "put", "delete"]),
    (["config", "validate"], ["FILES"]),
    (["config", "put"], ["FILE", "--bootstrap", "--prefix", "--force"]),
    (["config", "delete"], ["CONFIG_ID", "--bootstrap", "--prefix"]),
    (["request"], ["FILE", "--bootstrap", "--prefix", "--timeout"]),
    (["keys"], ["generate", "seal", "rotate"]),
    (["keys", "rotate"], ["CONFIG_FILE", "--output", "--kek", "--kid", "--wait", "--force", "--next-private-key"]),
    (["keys", "generate"], ["--type", "--size", "--curve", "--alg", "--kid", "oct", "RSA", "EC", "OKP"]),
    (["keys", "seal"], ["--kek", "--secret-file"]),
    (["preview"], ["CONFIG_FILE", "--store", "--issued-at", "--execution-id", "--decrypt", "--json"]),
]


@pytest.mark.parametrize(("command", "mentions"), HELP, ids=[" ".join(["jwtgen", *c]) for c, _ in HELP])
def test_help_exits_0_and_mentions_the_options(command: list[str], mentions: list[str]) -> None:
    for flag in ("--help", "-h"):
        result = jwtgen(*command, flag)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("Usage:")
        for word in mentions:
            assert word in result.stdout, (word, result.stdout)


def test_validate_reports_every_file_even_after_one_that_is_not_json(tmp_path: Path) -> None:
    garbled = tmp_path / "garbled.json"
    garbled.write_text("{not json")
    good = write(tmp_path, "good.json", config("good"))
    bad = write(tmp_path, "bad.json", config("bad", ttl=0))
    result = jwtgen("config", "validate", str(garbled), str(good), str(bad))
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert f"{garbled}: INVALID" in output and "JSON" in output
    assert f"{good}: ok" in output, output
    assert f"{bad}: INVALID" in output, output
