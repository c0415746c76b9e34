"""worker/stream/logs.py and JWTGEN_LOG_FORMAT: one JSON object per line, ids as fields."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from typing import Any

import pytest

from worker.stream import logs
from worker.stream.settings import Settings, SettingsError


def emit(config: dict[str, Any], stream: io.StringIO, call: Any) -> list[dict[str, Any]]:
    config["handlers"]["json"]["stream"] = stream
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logging.config.dictConfig(config)
        call()
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_with_execution_and_config_ids() -> None:
    config = logs.logging_config("json", "info")
    assert config is not None

    def log_some() -> None:
        log = logging.getLogger("worker.core.handler")
        log.error(
            "internal error answering execution %s: %s",
            "e-1",
            "KeyError",
            extra={"execution_id": "e-1", "config_id": "login"},
        )
        logging.getLogger("faust.transport").info("assigned %s", {("t", 1)})  # objects as arguments
        logging.getLogger("x").debug("below the level")
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("x").exception("failed")

    lines = emit(config, io.StringIO(), log_some)
    assert len(lines) == 3
    first, second, third = lines
    assert set(first) == {"time", "level", "logger", "message", "execution_id", "config_id"}
    assert first["level"] == "ERROR" and first["logger"] == "worker.core.handler"
    assert first["execution_id"] == "e-1" and first["config_id"] == "login"
    assert first["time"].endswith("Z") and "T" in first["time"]
    assert first["message"] == "internal error answering execution e-1: KeyError"
    assert set(second) == {"time", "level", "logger", "message"} and "('t', 1)" in second["message"]
    assert "ValueError" in third["exception"]


def test_text_keeps_fausts_format() -> None:
    assert logs.logging_config("text", "info") is None


def test_setting() -> None:
    assert Settings.from_mapping({}).log_format == "text"
    assert Settings.from_mapping({"JWTGEN_LOG_FORMAT": " JSON "}).log_format == "json"
    with pytest.raises(SettingsError, match="JWTGEN_LOG_FORMAT='xml' must be one of text, json"):
        Settings.from_mapping({"JWTGEN_LOG_FORMAT": "xml"})
