"""The README's ACL list is what each role checks for at start, no more, no less."""

from __future__ import annotations

from tests.support import readme_acls
from tests.support.readme_acls import ORCHESTRATOR, PREFIX, PUBLISHER, WORKER
from worker.stream import preflight
from worker.stream.topics import TopicNames

NAMES = TopicNames(PREFIX)


def granted(principal: str, create: bool) -> set[tuple[str, str, str]]:
    return {
        (acl.operation, acl.resource_type, acl.resource_name)
        for command in readme_acls.of(principal, create)
        for acl in command.bindings()
    }


def needed(needs: list[preflight.Need]) -> set[tuple[str, str, str]]:
    return {(need.operation.lower(), need.resource, need.name) for need in needs}


def test_the_worker_acls_are_what_the_worker_checks() -> None:
    assert granted(WORKER, create=False) == needed(preflight.worker_needs(NAMES, f"{PREFIX}.worker"))


def test_create_is_granted_only_on_the_contract_topics() -> None:
    creates = granted(WORKER, create=True) - granted(WORKER, create=False)
    topics = {NAMES.configs, NAMES.requests, NAMES.true, NAMES.failure, NAMES.deadletter}
    assert creates == {("create", "topic", name) for name in topics}


def test_the_publisher_and_orchestrator_acls_are_what_their_commands_check() -> None:
    assert granted(PUBLISHER, create=True) == needed(preflight.publisher_needs(NAMES))
    assert granted(ORCHESTRATOR, create=True) == needed(preflight.requester_needs(NAMES))


def test_every_command_grants_to_a_known_role_and_none_is_prefixed() -> None:
    commands = readme_acls.acl_commands()
    assert {c.principal for c in commands} == {WORKER, PUBLISHER, ORCHESTRATOR}
    # Literal names: a prefixed ACL on "jwt-generator" would also cover other teams' topics.
    assert all(not c.option("--resource-pattern-type") for c in commands)
    assert readme_acls.of(WORKER)[0].with_prefix("t-x")[-1] == "t-x.worker"
