"""The audit log's policy and scope, around any app policy: written by nobody, read by admins, per organization."""

from __future__ import annotations

from typing import Any

import pytest

from tenantry.audit import AuditPolicy, AuditScope
from tenantry.context import ANONYMOUS, DEVELOPER, SYSTEM, Principal, RequestContext
from tenantry.db.query import Condition, Node
from tenantry.errors import ApiError
from tenantry.pipeline import Grant, NoScope, OpenPolicy
from tenantry.schema import Action, Entity
from tests.conftest import seed_schema

SCHEMA = seed_schema()
AUDIT = SCHEMA.entities["audit_logs"]
PROJECTS = SCHEMA.entities["projects"]


def ctx(principal: Principal) -> RequestContext:
    return RequestContext(principal)


def user(role: str | None, org: str | None = "org-1") -> Principal:
    return Principal("user", user_id="u-1", org_id=org, role=role)


class Everything(NoScope):
    """A scope that says "everything" in a recognisable way."""

    def read_filter(
        self, ctx: RequestContext, entity: Entity, action: Action = Action.READ, where: Node | None = None
    ) -> Node | None:
        return Condition("inner", "eq", entity.name)


def code_of(call: Any) -> tuple[int, str]:
    with pytest.raises(ApiError) as info:
        call()
    return info.value.status, info.value.code


def test_nobody_writes_the_log() -> None:
    policy = AuditPolicy(OpenPolicy(), "audit_logs", "admin")
    for principal in (DEVELOPER, SYSTEM, user("admin"), user("member")):
        for action in (Action.CREATE, Action.UPDATE, Action.DELETE):
            assert code_of(lambda p=principal, a=action: policy.authorize(ctx(p), AUDIT, a)) == (
                403,
                "AUDIT_LOG_READ_ONLY",
            )
    assert code_of(lambda: policy.authorize(ctx(ANONYMOUS), AUDIT, Action.DELETE))[0] == 401
    # Other entities are the wrapped policy's business.
    assert policy.authorize(ctx(user("member")), PROJECTS, Action.DELETE) == Grant()


def test_admins_of_their_active_organization_read_it() -> None:
    policy = AuditPolicy(OpenPolicy(), "audit_logs", "admin")
    assert policy.authorize(ctx(user("admin")), AUDIT, Action.READ) == Grant()
    assert policy.authorize(ctx(DEVELOPER), AUDIT, Action.READ) == Grant()
    for principal in (user("member"), user("viewer"), user(None), user("admin", org=None)):
        assert code_of(lambda p=principal: policy.authorize(ctx(p), AUDIT, Action.READ)) == (403, "FORBIDDEN_ACTION")
    assert code_of(lambda: policy.authorize(ctx(ANONYMOUS), AUDIT, Action.READ))[0] == 401


def test_reads_are_pinned_to_the_active_organization_and_empty_for_others() -> None:
    scope = AuditScope(Everything(), AUDIT, "admin")
    wide = Condition("org_id", "in", ("org-1", "org-2"))
    assert scope.read_filter(ctx(user("admin")), AUDIT, Action.READ, wide) == Condition("org_id", "eq", "org-1")
    nothing = Condition("id", "isnull")
    assert scope.read_filter(ctx(user("member")), AUDIT) == nothing
    assert scope.read_filter(ctx(user("admin", org=None)), AUDIT) == nothing
    assert scope.read_filter(ctx(DEVELOPER), AUDIT) == Condition("inner", "eq", "audit_logs")
    assert scope.read_filter(ctx(user("member")), PROJECTS) == Condition("inner", "eq", "projects")
    assert scope.check_write(ctx(user("member")), PROJECTS, {"a": 1}, None) == {"a": 1}
