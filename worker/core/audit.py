"""The audit event of one issued token (docs/contract.md §4.3, schemas/audit.schema.json).

It lets an auditor prove which token was issued, for which execution, under
which config and key, without anyone storing tokens: it carries the SHA-256 of
the token and the names of its claims, never a claim value or the token.
"""

from __future__ import annotations

import hashlib
from typing import Any

from worker.core import events, jsonio
from worker.core.engine import Generated


def token_sha256(token: str) -> str:
    """Hex SHA-256 of the compact token's ASCII bytes: `sha256sum` of the token gives the same."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def audit_event(request: events.Request, version: int, generated: Generated) -> bytes:
    """The audit record of a True answer to `request`, made with config version `version`."""
    info = generated.token_info
    return jsonio.dumps(
        {
            "execution_id": request.execution_id,
            "flow_id": _id_of(request.flow),
            "node_id": _id_of(request.node),
            "config": {"id": request.config_id, "version": version},
            "alg": info["alg"],
            "enc": info["enc"],
            "kid": info["kid"],
            "jti": info.get("jti"),
            "iat": info["iat"],
            "exp": info["exp"],
            "claims": list(generated.claims),
            "token_sha256": token_sha256(generated.token),
            "at": events.now_ms(),
        }
    )


def _id_of(section: dict[str, Any]) -> str | None:
    value = section.get("id")
    return value if isinstance(value, str) else None
