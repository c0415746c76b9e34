"""The RFC 7520 examples kept in tests/fixtures/rfc7520 (see the README there)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "rfc7520"


def example(name: str) -> dict[str, Any]:
    """One example by its path under tests/fixtures/rfc7520, e.g. "jws/4_1.rsa_v15_signature.json"."""
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return data
