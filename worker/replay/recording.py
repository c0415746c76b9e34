"""The recording file: JSON Lines, one Kafka record a line, every byte kept.

A line of our own format:

    {"topic": "requests", "partition": 3, "offset": 17, "timestamp": 1764355200123,
     "timestamp_type": "CreateTime", "headers": [{"key": "traceparent", "value": "00-..."}],
     "key": "exec-1", "value": "{\\"execution_id\\": ...}"}

`topic` is relative to the prefix. `key`, `value` and header values hold the
bytes as text when they are UTF-8, or else `key_b64` / `value_b64` hold them
as base64; null stands for a null key, value (tombstone) or header value.
Lines written by `kcat -C -J` (topic with its prefix, `ts`, `tstype`,
`payload`, `headers` as a flat name/value array) are read as well.

The whole file is read and checked before anything is replayed; an error
names the line (`RecordingError`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from worker.core.sealed import is_sealed

TOPICS = ("configs", "requests", "true", "failure", "deadletter")
ANSWER_TOPICS = ("true", "failure", "deadletter")
CREATE_TIME = "CreateTime"
LOG_APPEND_TIME = "LogAppendTime"
_KCAT_TIMESTAMP_TYPES = {"create": CREATE_TIME, "logappend": LOG_APPEND_TIME, "unknown": None}

Headers = tuple[tuple[str, bytes | None], ...]


class RecordingError(ValueError):
    """A recording that cannot be used; `line` is 1-based (0 when it is about the whole file)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line
        self.message = message


@dataclass(frozen=True)
class Record:
    topic: str  # relative to the prefix: one of TOPICS
    partition: int
    offset: int
    timestamp: int | None  # epoch milliseconds
    timestamp_type: str | None  # CREATE_TIME, LOG_APPEND_TIME or None (unknown)
    key: bytes | None
    value: bytes | None = field(repr=False)
    headers: Headers = field(default=(), repr=False)
    line: int = field(default=0, compare=False)  # where it was read, for messages

    @property
    def where(self) -> str:
        return f"{self.topic}/{self.partition}@{self.offset}"


@dataclass(frozen=True)
class Recording:
    records: tuple[Record, ...]
    prefix: str | None  # the original prefix, when the lines name full topic names (kcat)
    source: str = ""

    def of(self, topic: str) -> list[Record]:
        return [r for r in self.records if r.topic == topic]


# ---------------------------------------------------------------- writing


def to_line(record: Record) -> bytes:
    """One line of the recording (with its newline)."""
    line: dict[str, Any] = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp,
        "timestamp_type": record.timestamp_type,
        "headers": [{"key": name, **_bytes_member("value", value)} for name, value in record.headers],
        **_bytes_member("key", record.key),
        **_bytes_member("value", record.value),
    }
    return orjson.dumps(line) + b"\n"


def _bytes_member(name: str, data: bytes | None) -> dict[str, str | None]:
    if data is None:
        return {name: None}
    try:
        return {name: data.decode("utf-8")}
    except UnicodeDecodeError:
        return {f"{name}_b64": base64.b64encode(data).decode("ascii")}


# ---------------------------------------------------------------- reading


def read_recording(path: Path) -> Recording:
    """Read and check a whole recording file; RecordingError names the first bad line."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RecordingError(0, f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    return parse_recording(data, source=str(path))


def parse_recording(data: bytes, source: str = "") -> Recording:
    lines = data.split(b"\n")
    unterminated = lines[-1] != b""  # the last line has no newline: maybe cut off
    if not unterminated:
        lines.pop()
    records: list[Record] = []
    seen: dict[tuple[str, int, int], int] = {}
    prefix: str | None = None
    prefix_line = 0
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        last = unterminated and number == len(lines)
        obj = _json_line(raw, number, last)
        if not isinstance(obj, dict):
            raise RecordingError(number, f"not a record: a JSON {type(obj).__name__}, expected an object")
        record, line_prefix = _record(obj, number)
        if line_prefix is not None:
            if prefix is not None and line_prefix != prefix:
                raise RecordingError(
                    number, f"topic prefix '{line_prefix}' differs from '{prefix}' of line {prefix_line}"
                )
            prefix, prefix_line = line_prefix, prefix_line or number
        if record.topic == "configs" and record.key is None:
            raise RecordingError(number, "config record without key: a config is addressed by its key (its id)")
        where = (record.topic, record.partition, record.offset)
        if where in seen:
            raise RecordingError(number, f"record {record.where} appears twice (first on line {seen[where]})")
        seen[where] = number
        records.append(record)
    if not records:
        raise RecordingError(0, "holds no records")
    return Recording(tuple(records), prefix, source)


def _json_line(raw: bytes, number: int, last: bool) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as first:
        # kcat copies bytes that are not UTF-8 raw into its strings: read them
        # as surrogate escapes, which `_bytes` turns back into the same bytes.
        try:
            return json.loads(raw.decode("utf-8", "surrogateescape"))
        except ValueError:
            if last:
                raise RecordingError(number, "truncated: the file ends in the middle of a record") from None
            raise RecordingError(number, f"not JSON ({_short(str(first))})") from None


def _short(text: str) -> str:
    return text.split(":", 1)[0] if len(text) > 80 else text


def _record(obj: dict[str, Any], number: int) -> tuple[Record, str | None]:
    kcat = "payload" in obj or "broker" in obj or "ts" in obj or "tstype" in obj
    if kcat:
        return _kcat_record(obj, number)
    topic, prefix = _topic(obj, number)
    partition, offset = _position(obj, number)
    timestamp = obj.get("timestamp")
    if timestamp is not None and not _is_int(timestamp):
        raise RecordingError(number, "'timestamp' must be epoch milliseconds (an integer) or null")
    timestamp_type = obj.get("timestamp_type")
    if timestamp_type not in (CREATE_TIME, LOG_APPEND_TIME, None):
        raise RecordingError(number, f"'timestamp_type' must be {CREATE_TIME}, {LOG_APPEND_TIME} or null")
    key = _member_bytes(obj, "key", number, 'a record without key is written "key": null')
    value = _member_bytes(obj, "value", number, 'a tombstone is written "value": null')
    raw_headers = obj.get("headers", [])
    if not isinstance(raw_headers, list):
        raise RecordingError(number, '\'headers\' must be a list of {"key", "value"} objects')
    headers: list[tuple[str, bytes | None]] = []
    for i, header in enumerate(raw_headers):
        if not isinstance(header, dict) or not isinstance(header.get("key"), str):
            raise RecordingError(number, f"headers[{i}] must be an object with a string 'key'")
        headers.append((header["key"], _member_bytes(header, "value", number, f"headers[{i}] needs a 'value'")))
    record = Record(topic, partition, offset, timestamp, timestamp_type, key, value, tuple(headers), number)
    return record, prefix


def _kcat_record(obj: dict[str, Any], number: int) -> tuple[Record, str | None]:
    """A line of `kcat -C -J`: key and payload as strings, headers as a flat [name, value, ...] array."""
    for failed in ("key_error", "payload_error"):
        if failed in obj:
            raise RecordingError(number, f"kcat could not decode this record ({failed}): record without -s")
    if "key_schema_id" in obj or "value_schema_id" in obj:
        raise RecordingError(number, "kcat decoded this record with a schema (-s): replay needs the raw bytes")
    topic, prefix = _topic(obj, number)
    partition, offset = _position(obj, number)
    timestamp = obj.get("ts")
    if timestamp is not None and not _is_int(timestamp):
        raise RecordingError(number, "'ts' must be epoch milliseconds")
    tstype = obj.get("tstype")
    timestamp_type = _KCAT_TIMESTAMP_TYPES.get(tstype) if isinstance(tstype, str) else None
    if "key" not in obj:
        raise RecordingError(number, "record has no 'key' (kcat writes null for a record without key)")
    if "payload" not in obj:
        raise RecordingError(number, "record has no 'payload'")
    key = _text_bytes(obj["key"], number, "key")
    value = _text_bytes(obj["payload"], number, "payload")
    raw_headers = obj.get("headers", [])
    pairs: list[tuple[Any, Any]]
    if isinstance(raw_headers, dict):  # kcat's help text says object; its code writes an array
        pairs = list(raw_headers.items())
    elif isinstance(raw_headers, list) and len(raw_headers) % 2 == 0:
        pairs = list(zip(raw_headers[::2], raw_headers[1::2], strict=True))
    else:
        raise RecordingError(number, "'headers' must be kcat's flat [name, value, ...] array")
    headers: list[tuple[str, bytes | None]] = []
    for name, value_text in pairs:
        if not isinstance(name, str):
            raise RecordingError(number, "a header name must be a string")
        headers.append((name, _text_bytes(value_text, number, f"header '{name}'")))
    record = Record(topic, partition, offset, timestamp, timestamp_type, key, value, tuple(headers), number)
    return record, prefix


def _topic(obj: dict[str, Any], number: int) -> tuple[str, str | None]:
    topic = obj.get("topic")
    if not isinstance(topic, str):
        raise RecordingError(number, "record has no 'topic'")
    if topic in TOPICS:
        return topic, None
    prefix, _, name = topic.rpartition(".")
    if prefix and name in TOPICS:
        return name, prefix
    raise RecordingError(number, f"unknown topic '{topic}' (expected {', '.join(TOPICS)}, with or without the prefix)")


def _position(obj: dict[str, Any], number: int) -> tuple[int, int]:
    partition, offset = obj.get("partition"), obj.get("offset")
    if not isinstance(partition, int) or isinstance(partition, bool) or partition < 0:
        raise RecordingError(number, "'partition' must be an integer >= 0")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise RecordingError(number, "'offset' must be an integer >= 0")
    return partition, offset


def _member_bytes(obj: dict[str, Any], name: str, number: int, hint: str) -> bytes | None:
    encoded = f"{name}_b64"
    if name in obj and encoded in obj:
        raise RecordingError(number, f"record has both '{name}' and '{encoded}'")
    if encoded in obj:
        text = obj[encoded]
        try:
            if not isinstance(text, str):
                raise ValueError
            return base64.b64decode(text, validate=True)
        except (ValueError, binascii.Error):
            raise RecordingError(number, f"'{encoded}' is not base64") from None
    if name not in obj:
        raise RecordingError(number, f"record has no '{name}' ({hint})")
    return _text_bytes(obj[name], number, name)


def _text_bytes(text: object, number: int, name: str) -> bytes | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise RecordingError(number, f"'{name}' must be a string or null")
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise RecordingError(number, f"'{name}' holds a lone surrogate escape, not bytes") from None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ---------------------------------------------------------------- helpers


SECRET_FIELDS = {"signature": ("password", "jwk", "private_key"), "encryption": ("password", "jwk")}


def plaintext_secrets(value: bytes | None) -> list[str]:
    """The secret fields of a config record that hold key material in the clear (not sealed)."""
    if value is None:
        return []
    try:
        config = orjson.loads(value)
    except orjson.JSONDecodeError:
        return []
    if not isinstance(config, dict):
        return []
    found = []
    for section, names in SECRET_FIELDS.items():
        part = config.get(section)
        if isinstance(part, dict):
            found += [f"{section}.{n}" for n in names if part.get(n) not in (None, "") and not is_sealed(part.get(n))]
    return found


def parse_time(text: str) -> int:
    """Epoch milliseconds of an ISO 8601 time (UTC when it names no zone) or of epoch seconds."""
    stripped = text.strip()
    try:
        return int(float(stripped) * 1000)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(stripped)
    except ValueError:
        raise ValueError(f"'{text}' is neither ISO 8601 (2025-11-29T10:00:00Z) nor epoch seconds") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def write_lines(records: Iterable[Record]) -> bytes:
    return b"".join(to_line(r) for r in records)
