"""The stable failure codes of docs/contract.md and the exception that carries them."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    MALFORMED_EVENT = "MALFORMED_EVENT"
    FLOW_TYPE_NOT_SUPPORTED = "FLOW_TYPE_NOT_SUPPORTED"
    CONFIG_NOT_FOUND = "CONFIG_NOT_FOUND"
    CONFIG_VERSION_MISMATCH = "CONFIG_VERSION_MISMATCH"
    CONFIG_INVALID = "CONFIG_INVALID"
    VARIABLE_NOT_FOUND = "VARIABLE_NOT_FOUND"
    CLAIM_TYPE_MISMATCH = "CLAIM_TYPE_MISMATCH"
    SIGNING_FAILED = "SIGNING_FAILED"
    ENCRYPTION_FAILED = "ENCRYPTION_FAILED"
    # The token is over the config's max_token_bytes (the message says by how much).
    TOKEN_TOO_LARGE = "TOKEN_TOO_LARGE"
    # The encryption key set of a jwks_url is not cached yet, or lacks the key:
    # the worker keeps fetching it, so a retry may succeed.
    KEY_UNAVAILABLE = "KEY_UNAVAILABLE"
    # The answer would exceed JWTGEN_MAX_ANSWER_BYTES: a property of the request
    # (what it asks to store), not a bug, so it must not look like INTERNAL.
    ANSWER_TOO_LARGE = "ANSWER_TOO_LARGE"
    INTERNAL = "INTERNAL"


# Only a config that has not arrived yet, or a key set not fetched yet, may
# succeed on a retry; every other failure is a property of the request or of
# the config itself.
RETRYABLE = frozenset({ErrorCode.CONFIG_NOT_FOUND, ErrorCode.KEY_UNAVAILABLE})


class NodeError(Exception):
    """A request that must be answered on the failure topic.

    `message` names the field or path at fault and never holds key material.
    """

    def __init__(self, code: ErrorCode, message: str, retryable: bool | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = code in RETRYABLE if retryable is None else retryable

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code.value, "message": self.message, "retryable": self.retryable}
