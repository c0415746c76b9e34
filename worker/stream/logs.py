"""Structured logs: with JWTGEN_LOG_FORMAT=json every line is one JSON object, Faust's own lines included.

Fields: `time` (UTC, RFC 3339 with milliseconds), `level`, `logger`, `message`,
and for request-related lines `execution_id` and `config_id` (passed as
`extra=` by the code that logs them), `exception` for a logged stack. The
message is the same text the plain format shows: our code never puts a claim
value or key material into a log message, and JSON adds nothing from requests.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

LOG_FORMATS = ("text", "json")

# Record attributes copied into the JSON object when a log call passed them as `extra`.
CONTEXT_FIELDS = ("execution_id", "config_id")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # default=str: Faust logs sets of partitions and other objects as arguments.
        return orjson.dumps(entry, default=str).decode()


def logging_config(log_format: str, level: str) -> dict[str, Any] | None:
    """The dictConfig Faust's Worker applies (`logging_config=`); None keeps Faust's own text format."""
    if log_format != "json":
        return None
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": sys.stdout,
                "level": level.upper(),
            }
        },
        "root": {"level": level.upper(), "handlers": ["json"]},
    }
