"""Scopes in an app without organizations, whose policy (``OpenPolicy``) knows nothing of them.

With organizations, the role policy checks the principal's scopes itself.
"""

from __future__ import annotations

from tenantry.context import RequestContext
from tenantry.errors import forbidden
from tenantry.pipeline import Grant, Policy
from tenantry.schema import Action, Entity


class ScopedPolicy:
    """``inner``, after refusing what a principal's scopes do not allow."""

    def __init__(self, inner: Policy) -> None:
        self.inner = inner

    def authorize(self, ctx: RequestContext, entity: Entity, action: Action) -> Grant:
        """403 API_KEY_SCOPE_DENIED past the scopes, else the inner policy's decision."""
        if not ctx.principal.permits(entity.name, action.value):
            raise forbidden(f"This API key may not {action.value} {entity.name}", "API_KEY_SCOPE_DENIED")
        return self.inner.authorize(ctx, entity, action)
