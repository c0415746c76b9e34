"""The ACL commands of the README's "Production Kafka" section, as data.

The tests grant exactly these (through `jwtgen broker grant`, which takes
kafka-acls's options) and compare them with what the worker checks at start,
so the documented ACL set is the tested one.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from worker.devtools.acls import AclBinding, bindings

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Production Kafka"
PREFIX = "jwt-generator"  # the README's topic prefix
WORKER, PUBLISHER, ORCHESTRATOR = "User:jwtgen-worker", "User:jwtgen-configs", "User:flow-orchestrator"


@dataclass(frozen=True)
class AclCommand:
    args: tuple[str, ...]  # what follows `kafka-acls.sh $A --add`

    def option(self, name: str) -> list[str]:
        return [self.args[i + 1] for i, arg in enumerate(self.args) if arg == name]

    @property
    def principal(self) -> str:
        [principal] = self.option("--allow-principal")
        return principal

    @property
    def creates(self) -> bool:
        return self.option("--operation") == ["Create"]

    def without(self, option: str) -> AclCommand:
        """The command with every `option VALUE` pair dropped (say, --group: all but the group)."""
        kept: list[str] = []
        skip = False
        for arg in self.args:
            if skip:
                skip = False
            elif arg == option:
                skip = True
            else:
                kept.append(arg)
        return AclCommand(tuple(kept))

    def with_prefix(self, prefix: str) -> list[str]:
        """The arguments with the README's topic and group prefix replaced."""
        return [prefix + arg[len(PREFIX) :] if arg.startswith(PREFIX + ".") else arg for arg in self.args]

    def bindings(self) -> list[AclBinding]:
        return bindings(
            self.principal,
            self.option("--operation"),
            topics=self.option("--topic"),
            groups=self.option("--group"),
            pattern_type=(self.option("--resource-pattern-type") or ["literal"])[0],
        )


def section(text: str | None = None) -> str:
    text = README.read_text(encoding="utf-8") if text is None else text
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return text[start : end if end >= 0 else len(text)]


def acl_commands(text: str | None = None) -> list[AclCommand]:
    """Every `kafka-acls.sh ... --add ...` command of the section, continuation lines joined."""
    lines = section(text).replace("\\\n", " ").splitlines()
    commands = []
    for line in lines:
        if line.strip().startswith("kafka-acls.sh"):
            tokens = shlex.split(line, comments=True)
            commands.append(AclCommand(tuple(tokens[tokens.index("--add") + 1 :])))
    return commands


def of(principal: str, create: bool = True) -> list[AclCommand]:
    """The commands granting to `principal`; without the Create ones if `create` is False."""
    return [c for c in acl_commands() if c.principal == principal and (create or not c.creates)]
