"""Time-ordered message ids (UUID version 7), so "newest first" holds within one millisecond too."""

from __future__ import annotations

import secrets
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_last_seq = 0


def new_message_id() -> uuid.UUID:
    """A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then a 12-bit counter that keeps ids made in the
    same millisecond by this process increasing, then 62 random bits."""
    global _last_ms, _last_seq
    ms = time.time_ns() // 1_000_000
    with _lock:
        if ms <= _last_ms:
            ms, seq = _last_ms, _last_seq + 1
            if seq > 0xFFF:  # 4096 ids in one millisecond: borrow the next one
                ms, seq = ms + 1, 0
        else:
            seq = secrets.randbits(10)  # a random start, with headroom below the 12-bit limit
        _last_ms, _last_seq = ms, seq
    value = (ms & (1 << 48) - 1) << 80 | 0x7 << 76 | seq << 64 | 0b10 << 62 | secrets.randbits(62)
    return uuid.UUID(int=value)
