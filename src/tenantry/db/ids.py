"""Time-ordered row ids (UUID version 7) for append-mostly tables: the audit log, the event outbox.

Their ids sort in creation order (also within one millisecond, for ids made by one process), so
"in the order written" is an index scan on the primary key, and rows created in the same
millisecond keep a stable, meaningful order as the tie-break after a timestamp.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_last_seq = 0


def uuid7() -> uuid.UUID:
    """A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, a 12-bit counter, 62 random bits.

    The counter keeps ids made by this process in the same millisecond increasing; it starts at a
    random value with headroom, and 4096 ids in one millisecond borrow the next millisecond.
    """
    global _last_ms, _last_seq
    ms = time.time_ns() // 1_000_000
    with _lock:
        if ms <= _last_ms:
            ms, seq = _last_ms, _last_seq + 1
            if seq > 0xFFF:
                ms, seq = ms + 1, 0
        else:
            seq = secrets.randbits(10)
        _last_ms, _last_seq = ms, seq
    value = (ms & (1 << 48) - 1) << 80 | 0x7 << 76 | seq << 64 | 0b10 << 62 | secrets.randbits(62)
    return uuid.UUID(int=value)
