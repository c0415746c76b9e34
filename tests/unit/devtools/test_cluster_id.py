"""worker/devtools/broker.py: the KRaft cluster id handed to StorageTool."""

from __future__ import annotations

import base64
import uuid

import pytest

from worker.devtools import broker


def test_a_cluster_id_is_16_bytes_base64url_and_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    # The first draw would start with '-' (0xf8 encodes as '-'), which StorageTool reads as an option.
    draws = iter([uuid.UUID(bytes=b"\xf8" + b"\x00" * 15), uuid.UUID(bytes=b"\x01" * 16)])
    monkeypatch.setattr(broker.uuid, "uuid4", lambda: next(draws))
    cluster_id = broker.new_cluster_id()
    assert not cluster_id.startswith("-")
    assert base64.urlsafe_b64decode(cluster_id + "==") == b"\x01" * 16
