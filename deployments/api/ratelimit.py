"""Fixed one-minute-window rate limits on Redis (`INCR` + `EXPIRE` in one atomic pipeline)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from redis import Redis

__all__ = ["WINDOW_S", "RateLimitResult", "hit"]

WINDOW_S = 60


@dataclass(frozen=True)
class RateLimitResult:
    """Outcome of one counted request: `count` in this window, `retry_after_s` until it resets."""

    allowed: bool
    count: int
    limit: int
    retry_after_s: int


def hit(redis: Redis, key: str, *, limit: int, now_s: float | None = None) -> RateLimitResult:
    """Count one request against `key` in the current one-minute window.

    The window's counter is `key:<window number>`; it expires shortly after the window ends.
    A burst of up to `2 * limit` can straddle a window boundary: the price of one round trip.

    Args:
        redis: client.
        key: counter key without the window suffix, e.g. `witness:rl:ip:10.0.0.7`.
        limit: requests allowed per window.
        now_s: current Unix time (default: `time.time()`).

    Returns:
        Whether the request is within the limit, and when the window resets.
    """
    now_s = time.time() if now_s is None else now_s
    window = int(now_s // WINDOW_S)
    window_key = f"{key}:{window}"
    with redis.pipeline(transaction=True) as pipe:
        pipe.incr(window_key)
        pipe.expire(window_key, WINDOW_S + 5)
        count, _ = pipe.execute()
    retry_after_s = max(1, math.ceil((window + 1) * WINDOW_S - now_s))
    return RateLimitResult(allowed=int(count) <= limit, count=int(count), limit=limit, retry_after_s=retry_after_s)
