"""`jwtgen keys rotate`: announce, refuse to switch too early, switch; the files are ready for `config put`."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tests.support.configs import asymmetric_signature, base_config
from tests.support.keys import KeyForms
from worker.cli.main import main
from worker.core.engine import validate_config


def test_two_steps(rsa2048: KeyForms, tmp_path: Path) -> None:
    path = tmp_path / "login.json"
    path.write_text(json.dumps(base_config(signature=asymmetric_signature(rsa2048.pkcs8, "RS256", "RSA", "r1"))))
    runner = CliRunner()

    announced = runner.invoke(
        main, ["keys", "rotate", str(path), "-o", str(path), "--kid", "r2"], env={"JWTGEN_KEK": ""}
    )
    assert announced.exit_code == 0, announced.output
    assert "announces key 'r2'" in announced.output and "jwtgen config put" in announced.output
    v4 = json.loads(path.read_text())
    assert v4["version"] == 4 and v4["signature"]["next_key"]["kid"] == "r2" and validate_config(v4) == []

    early = runner.invoke(main, ["keys", "rotate", str(path)], env={"JWTGEN_KEK": ""})
    assert early.exit_code == 1 and "verifiers may not have it until" in early.output
    assert json.loads(path.read_text()) == v4, "nothing written on refusal"

    switched = runner.invoke(main, ["keys", "rotate", str(path), "--wait", "0"], env={"JWTGEN_KEK": ""})
    assert switched.exit_code == 0, switched.output
    v5 = json.loads(switched.stdout)
    assert v5["version"] == 5 and v5["signature"]["kid"] == "r2"
    assert [k["kid"] for k in v5["signature"]["retired_keys"]] == ["r1"]
    assert "BEGIN" not in json.dumps(v5["signature"]["retired_keys"]), "the retired key is public only"
    assert validate_config(v5) == []


def test_symmetric_config_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hmac.json"
    path.write_text(json.dumps(base_config()))
    result = CliRunner().invoke(main, ["keys", "rotate", str(path)], env={"JWTGEN_KEK": ""})
    assert result.exit_code == 1 and "only asymmetric signing keys rotate" in result.output
