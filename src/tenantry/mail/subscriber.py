"""The ``mail`` subscriber: sends each ``$mail.requested`` event through the configured backend.

Unordered (messages are independent, so several are sent at once). A backend's
``PermanentMailError`` marks the message failed at once; a ``TransientMailError``, a timeout or a
network error is retried on the backoff schedule until ``TENANTRY_MAIL_MAX_ATTEMPTS``. The
provider's message id is kept as the delivery's result.
"""

from __future__ import annotations

import asyncio

from tenantry.core.metrics import MAIL_FAILURES, MAIL_SENT
from tenantry.events import DomainEvent, RetryPolicy, Subscriber, current_delivery
from tenantry.mail.backends import MailBackend
from tenantry.mail.errors import PermanentMailError
from tenantry.mail.outbox import MAIL_SUBSCRIBER, MAIL_TOPIC, outgoing
from tenantry.mail.settings import MailSettings


def mail_subscriber(
    settings: MailSettings,
    backend: MailBackend,
    *,
    retry: RetryPolicy | None = None,
    send_timeout: float = 45.0,
    lease: float = 120.0,
    batch_size: int = 10,
) -> Subscriber:
    """The subscriber that sends mail through ``backend`` (register it on the app's outbox).

    ``send_timeout`` bounds one send and must be at most half the ``lease``, so a slow but live
    worker is never mistaken for a dead one. ``retry`` defaults to the settings' ``max_attempts``.
    """

    if not 0 < send_timeout * 2 <= lease:
        raise ValueError("send_timeout must be positive and at most half the lease")
    sent = MAIL_SENT.labels(backend=settings.backend)
    # The outbox's bound on the handler is the longest a lease allows; the send's own bound is set
    # below it, so a send that outlives it fails here, counted as a timeout (the outbox's timeout
    # cancels the handler, which it could not tell from a shutdown).
    outer_timeout = lease / 2
    inner_timeout = send_timeout if send_timeout < outer_timeout else outer_timeout * 0.9

    async def send(event: DomainEvent) -> str:
        try:
            async with asyncio.timeout(inner_timeout):
                result = await backend.send(outgoing(event, current_delivery().attempt))
        except PermanentMailError:
            MAIL_FAILURES.labels(backend=settings.backend, kind="permanent").inc()
            raise
        except TimeoutError:
            MAIL_FAILURES.labels(backend=settings.backend, kind="timeout").inc()
            raise
        except Exception:
            # A timeout, a network error, a TransientMailError: retried on the backoff schedule.
            MAIL_FAILURES.labels(backend=settings.backend, kind="transient").inc()
            raise
        sent.inc()
        return result

    return Subscriber(
        name=MAIL_SUBSCRIBER,
        patterns=(MAIL_TOPIC,),
        handler=send,
        ordering="none",
        retry=retry or RetryPolicy(max_attempts=settings.max_attempts),
        handler_timeout=outer_timeout,
        lease=lease,
        batch_size=batch_size,
        # Sends of one batch run at once, so the batch finishes within about one send_timeout.
        concurrency=batch_size,
        close=backend.close,
    )
