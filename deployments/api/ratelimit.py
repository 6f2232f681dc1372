"""Fixed one-minute-window rate limits on Redis (`INCR` + `EXPIRE` in one atomic pipeline), and the
per-username failed-login counter with lock-out and exponential back-off."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from redis import Redis

__all__ = ["WINDOW_S", "RateLimitResult", "hit", "login_lock_remaining_s", "record_login_failure",
           "clear_login_failures"]

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


# ------------------------------------------------------------------------------ login lock-out
def _login_keys(prefix: str, username: str) -> tuple[str, str]:
    return f"{prefix}login:fail:{username}", f"{prefix}login:lock:{username}"


def login_lock_remaining_s(redis: Redis, prefix: str, username: str) -> int:
    """Seconds until a locked username may try again (0: not locked)."""
    _, lock = _login_keys(prefix, username)
    ms = int(redis.pttl(lock))
    return 0 if ms <= 0 else max(1, math.ceil(ms / 1000))


def record_login_failure(redis: Redis, prefix: str, username: str, *, after: int, base_s: float,
                         max_s: float) -> int:  # fmt: skip
    """Count a failed login of `username`; lock it once `after` failures are reached.

    The n-th failure (n ≥ `after`) locks the username for `base_s · 2^(n − after)` seconds, at most
    `max_s`; the count is forgotten `2 · max_s` after the last failure or at the next success. Unknown
    usernames are counted too, so a lock-out does not tell which names exist.

    Returns:
        The lock-out this failure started, in whole seconds (0: none yet).
    """
    fails, lock = _login_keys(prefix, username)
    with redis.pipeline(transaction=True) as pipe:
        pipe.incr(fails)
        pipe.expire(fails, int(2 * max_s) + 1)
        count, _ = pipe.execute()
    if int(count) < after:
        return 0
    lock_s = min(max_s, base_s * 2 ** (int(count) - after))
    redis.set(lock, "1", px=max(1, int(lock_s * 1000)))
    return max(1, math.ceil(lock_s))


def clear_login_failures(redis: Redis, prefix: str, username: str) -> None:
    """Forget a username's failed logins (after a successful one)."""
    redis.delete(*_login_keys(prefix, username))
