"""When a failed delivery is tried again: Standard Webhooks' (and Svix's) schedule.

The first attempt is immediate; after a failure the next comes 5 seconds later, then 5 minutes,
30 minutes, 2 hours, 5 hours, 10 hours and 10 hours: eight attempts over about 27.5 hours.
No jitter: deliveries to one endpoint go one at a time in order, so failures of one endpoint never
come back together, and receivers can rely on the published schedule.
"""

from __future__ import annotations

from typing import Final

from tenantry.events import RetryPolicy

DELAYS: Final = (5.0, 5 * 60.0, 30 * 60.0, 2 * 3600.0, 5 * 3600.0, 10 * 3600.0, 10 * 3600.0)
ATTEMPTS: Final = len(DELAYS) + 1

SCHEDULE: Final = RetryPolicy(delays=DELAYS, max_attempts=ATTEMPTS, jitter=0.0)
