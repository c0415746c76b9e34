"""The `store` section: which token attributes go into which flow-store variable."""

from __future__ import annotations

from worker.core.config.fields import Problems, flag, got, obj, shared, string
from worker.core.config.model import EXPOSED_ATTRIBUTES, Store

_PATH = "store"
_FIELDS = ("variable", "attributes", "frontend")


def parse_store(problems: Problems, raw: object, asymmetric_signature: bool) -> Store | None:
    if raw is None:
        return None
    d = obj(problems, raw, _PATH, _FIELDS)
    if d is None:
        return None
    variable = string(problems, d, f"{_PATH}.", "variable", required=True)
    frontend = flag(problems, d, f"{_PATH}.", "frontend", False)
    attributes = d.get("attributes")
    if not isinstance(attributes, list) or not attributes:
        problems.add(f"{_PATH}.attributes", "must be a non-empty array of attribute names")
        return None
    seen: list[str] = []
    for i, name in enumerate(attributes):
        if name not in EXPOSED_ATTRIBUTES:
            names = ", ".join(EXPOSED_ATTRIBUTES)
            problems.add(f"{_PATH}.attributes[{i}]", f"{got(name)} is not an exposed attribute ({names})")
        elif name in seen:
            problems.add(f"{_PATH}.attributes[{i}]", f"'{name}' is listed twice")
        else:
            seen.append(shared(name))
    if "public_jwk" in seen and not asymmetric_signature:
        problems.add(f"{_PATH}.attributes", "'public_jwk' needs an asymmetric signature key")
    if variable is None or len(seen) != len(attributes):
        return None
    return Store(variable=variable, attributes=tuple(seen), frontend=frontend)
