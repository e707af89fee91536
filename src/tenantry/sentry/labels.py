"""What each report is labelled with: who the request acted as, and which delivery failed.

``label_principal`` is a principal listener (``App.principal_listeners``): once a request's
principal is known, the request's isolation scope (forked per request by the Starlette
integration) carries the user id and the organization id, so an error later in the request is
reported with them. ``report_delivery_failure`` is an outbox failure listener
(``Outbox.failure_listeners``).

Policy for the outbox: a handler's unexpected exception (a bug) is reported at every attempt, so
the issue's event count shows how often it fails and a fix is seen to work; an expected failure
(``DeliveryError``, a timeout, a network error: a provider down) is retried as a matter of
course and reported only when the delivery is given up, as is a permanent one.
"""

from __future__ import annotations

import sentry_sdk
from sentry_sdk.utils import event_from_exception
from starlette.requests import Request

from tenantry.context import Principal
from tenantry.events import DeliveryFailure
from tenantry.sentry.client import is_current

__all__ = ["ORG_TAG", "is_current", "label_principal", "report_delivery_failure"]

ORG_TAG = "organization.id"


def label_principal(request: Request, principal: Principal) -> None:
    """Label the request's isolation scope with the principal's user and organization."""
    scope = sentry_sdk.get_isolation_scope()
    scope.set_tag("principal", principal.kind)
    if principal.user_id is not None:
        scope.set_user({"id": principal.user_id})
    if principal.org_id is not None:
        scope.set_tag(ORG_TAG, principal.org_id)


def report_delivery_failure(failure: DeliveryFailure) -> None:
    """Report a failed outbox delivery attempt (see the module's policy)."""
    if failure.expected and not failure.given_up:
        return
    client = sentry_sdk.get_client()
    event = failure.event
    with sentry_sdk.isolation_scope() as scope:
        scope.set_transaction_name(f"outbox:{failure.subscriber}")
        scope.set_tag("outbox.subscriber", failure.subscriber)
        scope.set_tag("outbox.topic", event.topic)
        scope.set_tag("outbox.given_up", "yes" if failure.given_up else "no")
        scope.set_context(
            "outbox",
            {
                "subscriber": failure.subscriber,
                "event_id": event.id,
                "topic": event.topic,
                "entity": event.entity,
                "row_id": event.row_id,
                "attempt": failure.attempt,
                "given_up": failure.given_up,
                "error": failure.message,
            },
        )
        if event.actor_id is not None:
            scope.set_user({"id": event.actor_id})
        if event.org_id is not None:
            scope.set_tag(ORG_TAG, event.org_id)
        if failure.error is None:
            scope.fingerprint = ["outbox-gave-up", failure.subscriber]
            sentry_sdk.capture_message(f"{failure.subscriber}: {failure.message}", level="error")
            return
        report, hint = event_from_exception(
            failure.error,
            client_options=client.options,
            mechanism={"type": "tenantry.outbox", "handled": True},
        )
        sentry_sdk.capture_event(report, hint=hint)
