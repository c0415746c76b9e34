"""worker.cli.main without Kafka: `jwtgen keys seal`, option resolution, a broker that cannot be reached."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from joserfc.jwk import import_key

from tests.support.configs import HS256_SECRET, base_config
from worker.cli.main import main
from worker.core.engine import compile_config
from worker.core.keygen import generate_keypair
from worker.core.sealed import open_sealed


def test_seal_round_trip_through_a_config(tmp_path: Path) -> None:
    private, public = generate_keypair("RSA", None, None, "RSA-OAEP-256", "kek-1")
    (tmp_path / "kek-public.json").write_bytes(orjson.dumps(public))
    result = CliRunner().invoke(
        main, ["keys", "seal", "--kek", str(tmp_path / "kek-public.json")], input=HS256_SECRET + "\n"
    )
    assert result.exit_code == 0, result.output
    sealed = orjson.loads(result.output)
    assert set(sealed) == {"sealed"} and HS256_SECRET not in result.output
    kek = import_key(private)
    assert open_sealed(sealed, kek, "signature.password") == HS256_SECRET

    config = base_config()
    config["signature"]["password"] = sealed
    compiled = compile_config(config, kek=kek)
    assert compiled.alg == "HS256"


def test_seal_refuses_a_bad_kek_and_an_empty_secret(tmp_path: Path) -> None:
    (tmp_path / "kek.json").write_text('{"kty": "nope"}')
    bad = CliRunner().invoke(main, ["keys", "seal", "--kek", str(tmp_path / "kek.json")], input="x")
    assert bad.exit_code != 0 and "not a usable JWK" in bad.output
    _, public = generate_keypair("EC", None, "P-256", None, None)
    (tmp_path / "ec.json").write_bytes(orjson.dumps(public))
    empty = CliRunner().invoke(main, ["keys", "seal", "--kek", str(tmp_path / "ec.json")], input="\n")
    assert empty.exit_code != 0 and "empty" in empty.output


def test_worker_log_level_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from worker.cli.main import worker

    monkeypatch.setenv("JWTGEN_LOG_LEVEL", "debug")
    assert worker.make_context("worker", []).params["log_level"] == "debug"
    assert worker.make_context("worker", ["--log-level", "error"]).params["log_level"] == "error"


def test_unreachable_kafka_is_a_one_line_error(tmp_path: Path) -> None:
    config = tmp_path / "c.json"
    config.write_bytes(orjson.dumps(base_config()))
    result = CliRunner().invoke(main, ["config", "put", str(config), "--bootstrap", "127.0.0.1:1"])
    assert result.exit_code == 1
    assert "cannot reach Kafka at 127.0.0.1:1" in result.output
    assert "Traceback" not in result.output
