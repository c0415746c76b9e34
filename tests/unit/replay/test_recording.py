"""The recording file: exact bytes, kcat -J lines, and bad input named by line."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from worker.cli.main import main
from worker.cli.record import _create_private
from worker.replay.recording import (
    Record,
    RecordingError,
    parse_recording,
    parse_time,
    plaintext_secrets,
    read_recording,
    to_line,
    write_lines,
)

# joserfc warns about the EdDSA alias the golden recording uses on purpose (RFC 9864).
pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")

GOLDEN_DIR = Path(__file__).resolve().parents[2] / "golden"

BINARY = Record(
    topic="requests",
    partition=3,
    offset=17,
    timestamp=1764355200123,
    timestamp_type="CreateTime",
    key=b"\xc3\x28 not utf-8",
    value=b"\xff\xfe\x00\x80 raw",
    headers=(("traceparent", b"00-abc-01"), ("bin", b"\x80\x81"), ("none", None), ("dup", b"1"), ("dup", b"2")),
)
TEXT = Record("configs", 0, 4, 1764355200000, "LogAppendTime", "login-τoken".encode(), b'{"id": "x"}', ())
TOMBSTONE = Record("configs", 0, 5, 1764355200001, "CreateTime", b"login-token", None, ())
NO_KEY = Record("requests", 0, 9, None, None, None, b"{}", ())


def test_every_record_reads_back_byte_for_byte() -> None:
    data = write_lines([BINARY, TEXT, TOMBSTONE, NO_KEY])
    read = parse_recording(data)
    assert [r for r in read.records] == [BINARY, TEXT, TOMBSTONE, NO_KEY]
    lines = [json.loads(line) for line in data.splitlines()]
    # Text stays readable; only bytes that are not UTF-8 go to base64, in a field of their own.
    assert lines[0]["key_b64"] and "key" not in lines[0] and lines[0]["value_b64"]
    assert lines[0]["headers"][1] == {"key": "bin", "value_b64": "gIE="} and lines[0]["headers"][2]["value"] is None
    assert lines[1]["key"] == "login-τoken" and lines[1]["value"] == '{"id": "x"}'
    assert lines[2]["value"] is None and lines[3]["key"] is None and lines[3]["timestamp"] is None
    assert list(lines[1]) == ["topic", "partition", "offset", "timestamp", "timestamp_type", "headers", "key", "value"]


def kcat_line(**fields: object) -> bytes:
    """A line the way kcat's yajl writes it: bytes >= 0x80 copied raw, not escaped."""
    base: dict[str, object] = {"topic": "jwt-generator.requests", "partition": 0, "offset": 1}
    base.update(fields)
    text = json.dumps(base, ensure_ascii=False)
    return text.encode("utf-8", "surrogateescape") + b"\n"


def test_kcat_lines_are_read_with_their_raw_bytes_and_flat_headers() -> None:
    raw = "\udcff\udcfe\x00\udc80 payload"  # the bytes ff fe 00 80, as surrogate escapes
    data = kcat_line(
        tstype="create",
        ts=1764355200123,
        broker=1,
        headers=["traceparent", "00-1", "nullheader", None, "bin", "\udc80\udc81", "traceparent", "00-2"],
        key="exec-1",
        payload=raw,
    ) + kcat_line(offset=2, broker=-1, key=None, payload=None)
    assert b"\xff\xfe\x00\x80" not in data  # kcat escapes control characters only...
    assert b"\xff\xfe" in data  # ...and copies the rest raw: the line is not UTF-8
    recording = parse_recording(data)
    first, second = recording.records
    assert recording.prefix == "jwt-generator" and first.topic == "requests"
    assert first.value == b"\xff\xfe\x00\x80 payload" and first.key == b"exec-1"
    assert first.timestamp == 1764355200123 and first.timestamp_type == "CreateTime"
    assert first.headers == (
        ("traceparent", b"00-1"),
        ("nullheader", None),
        ("bin", b"\x80\x81"),
        ("traceparent", b"00-2"),
    )
    assert second.timestamp is None and second.key is None and second.value is None and second.headers == ()


def test_the_real_kcat_recording_holds_the_same_records_as_ours() -> None:
    """tests/golden/golden.kcat.jsonl was written by kcat 1.7.1 (`kcat -C -J`) from the golden topics."""
    ours = {(r.topic, r.partition, r.offset): r for r in read_recording(GOLDEN_DIR / "golden.jsonl").records}
    kcat = read_recording(GOLDEN_DIR / "golden.kcat.jsonl")
    assert kcat.prefix is not None and len(kcat.records) == len(ours) - 2  # the oversized request and its answer
    for record in kcat.records:
        mine = ours[(record.topic, record.partition, record.offset)]
        assert (record.key, record.value, record.headers, record.timestamp, record.timestamp_type) == (
            mine.key, mine.value, mine.headers, mine.timestamp, mine.timestamp_type,
        )  # fmt: skip
    assert any(r.key is not None and not _utf8(r.key) for r in kcat.records)
    assert any(r.value is not None and not _utf8(r.value) for r in kcat.records)


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_the_real_kcat_recording_replays_offline_with_no_difference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWTGEN_KEK", (GOLDEN_DIR / "kek.json").read_text())
    args = ["replay", str(GOLDEN_DIR / "golden.kcat.jsonl"), "--offline", "--json"]
    result = CliRunner().invoke(main, [*args, "--decryption-keys", str(GOLDEN_DIR / "recipients.json")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["passed"] and report["summary"]["different"] == report["summary"]["missing"] == 0
    assert report["summary"]["identical"] > 100


GOOD = to_line(TEXT)


@pytest.mark.parametrize(
    ("data", "line", "words"),
    [
        (b"this is not json\n", 1, "not JSON"),
        (GOOD + b"[1, 2]\n", 2, "not a record"),
        (GOOD + to_line(TEXT).replace(b'"configs"', b'"audit"'), 2, "unknown topic 'audit'"),
        (GOOD + GOOD[: len(GOOD) // 2], 2, "truncated"),
        (GOOD + to_line(TOMBSTONE).replace(b'"key":"login-token",', b""), 2, "no 'key'"),
        (GOOD + to_line(TOMBSTONE).replace(b',"value":null', b""), 2, "no 'value'"),
        (GOOD + GOOD, 2, "appears twice (first on line 1)"),
        (GOOD + to_line(TOMBSTONE).replace(b'"key":"login-token"', b'"key":null'), 2, "config record without key"),
        (GOOD + b"\n" + to_line(TEXT).replace(b'"offset":4', b'"offset":-1'), 3, "'offset'"),
        (GOOD + kcat_line(key="k", payload=None, payload_error="bad avro"), 2, "payload_error"),
        (
            kcat_line(key="k", payload="") + kcat_line(topic="other.requests", offset=2, key="k", payload=""),
            2,
            "prefix",
        ),
        (GOOD + to_line(TEXT).replace(b'"value":', b'"value_b64":"%%%","x":'), 2, "not base64"),
    ],
)
def test_bad_input_is_one_error_naming_the_line(data: bytes, line: int, words: str) -> None:
    with pytest.raises(RecordingError) as caught:
        parse_recording(data)
    assert caught.value.line == line and words in caught.value.message
    assert "\n" not in str(caught.value)


def test_an_empty_file_and_a_last_line_without_newline() -> None:
    with pytest.raises(RecordingError, match="holds no records"):
        parse_recording(b"\n\n")
    assert len(parse_recording(GOOD + GOOD.replace(b'"offset":4', b'"offset":5').rstrip()).records) == 2


def test_replay_reads_the_whole_file_before_it_touches_kafka(tmp_path: Path) -> None:
    """A bad last line stops the replay before anything is published: the error is the line, not Kafka."""
    path = tmp_path / "rec.jsonl"
    path.write_bytes(GOOD + to_line(TOMBSTONE) + b'{"topic": "requests", "partition"')
    result = CliRunner().invoke(main, ["replay", str(path), "--bootstrap", "127.0.0.1:1", "--prefix", "x"])
    assert result.exit_code == 2
    assert f"{path}:3: truncated" in result.output and "Kafka" not in result.output


def test_the_recording_file_is_created_private(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        with _create_private(tmp_path / "rec.jsonl", overwrite=False) as fh:
            fh.write(GOOD)
        (tmp_path / "open.jsonl").write_bytes(b"")
        os.chmod(tmp_path / "open.jsonl", 0o666)
        with _create_private(tmp_path / "open.jsonl", overwrite=True):
            pass
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "rec.jsonl").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "open.jsonl").stat().st_mode) == 0o600


def test_plaintext_key_material_is_found_and_sealed_secrets_are_not() -> None:
    config = {
        "id": "x",
        "signature": {"type": "asymmetric", "private_key": "-----BEGIN PRIVATE KEY-----...", "public_key": "pub"},
        "encryption": {"type": "symmetric", "jwk": {"sealed": "a.b.c.d.e"}, "public_jwk": {"kty": "RSA"}},
    }
    assert plaintext_secrets(orjson.dumps(config)) == ["signature.private_key"]
    config["signature"]["private_key"] = {"sealed": "a.b.c.d.e"}
    assert plaintext_secrets(orjson.dumps(config)) == []
    assert plaintext_secrets(None) == [] and plaintext_secrets(b"not json") == []


def test_times_are_iso_8601_or_epoch_seconds() -> None:
    assert parse_time("2025-11-29T00:00:00Z") == 1764374400000
    assert parse_time("2025-11-29T01:00:00+01:00") == 1764374400000
    assert parse_time("2025-11-29") == 1764374400000
    assert parse_time("1764374400") == 1764374400000
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_time("yesterday")
