"""Fixed one-minute-window rate limits on Redis (`INCR` + `EXPIRE` in one atomic pipeline), and the
per-username failed-login counter with lock-out and exponential back-off.

When Redis is unreachable the limits fail open: the request is allowed, a warning is logged (at
most once per `FAIL_OPEN_LOG_EVERY_S`) and `witness_redis_fail_open_total{check}` counts it, so a
Redis outage degrades abuse protection instead of taking the whole API down.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

__all__ = ["WINDOW_S", "FAIL_OPEN_METRIC", "RateLimitResult", "hit", "fail_open", "login_lock_remaining_s",
           "record_login_failure", "clear_login_failures"]

WINDOW_S = 60
FAIL_OPEN_METRIC = "witness_redis_fail_open"
FAIL_OPEN_LOG_EVERY_S = 10.0
log = logging.getLogger(__name__)
_last_logged: dict[str, float] = {}


def fail_open(check: str, exc: BaseException, metrics: Any = None) -> None:
    """Record that `check` (e.g. `rate_limit`) was skipped because Redis failed: a throttled warning and
    `witness_redis_fail_open_total{check}` on `metrics` (a `deployments.api.metrics.ApiMetrics`)."""
    now = time.monotonic()
    if now - _last_logged.get(check, float("-inf")) >= FAIL_OPEN_LOG_EVERY_S:
        _last_logged[check] = now
        log.warning("Redis unavailable (%s: %s): %s skipped (failing open)", type(exc).__name__, exc, check)
    if metrics is not None:
        counter = getattr(metrics, "_redis_fail_open", None)
        if counter is None:
            counter = metrics._redis_fail_open = metrics.counter(
                FAIL_OPEN_METRIC, "Checks skipped because Redis was unreachable (failing open)", ("check",))
        counter.labels(check=check).inc()


@dataclass(frozen=True)
class RateLimitResult:
    """Outcome of one counted request: `count` in this window, `retry_after_s` until it resets."""

    allowed: bool
    count: int
    limit: int
    retry_after_s: int


def hit(redis: Redis, key: str, *, limit: int, now_s: float | None = None, metrics: Any = None) -> RateLimitResult:
    """Count one request against `key` in the current one-minute window.

    The window's counter is `key:<window number>`; it expires shortly after the window ends.
    A burst of up to `2 * limit` can straddle a window boundary: the price of one round trip.

    Args:
        redis: client.
        key: counter key without the window suffix, e.g. `witness:rl:ip:10.0.0.7`.
        limit: requests allowed per window.
        now_s: current Unix time (default: `time.time()`).
        metrics: where the fail-open counter goes (`fail_open`).

    Returns:
        Whether the request is within the limit, and when the window resets; allowed (count 0)
        when Redis is unreachable.
    """
    now_s = time.time() if now_s is None else now_s
    window = int(now_s // WINDOW_S)
    window_key = f"{key}:{window}"
    try:
        with redis.pipeline(transaction=True) as pipe:
            pipe.incr(window_key)
            pipe.expire(window_key, WINDOW_S + 5)
            count, _ = pipe.execute()
    except (RedisError, OSError) as exc:
        fail_open("rate_limit", exc, metrics)
        return RateLimitResult(allowed=True, count=0, limit=limit, retry_after_s=0)
    retry_after_s = max(1, math.ceil((window + 1) * WINDOW_S - now_s))
    return RateLimitResult(allowed=int(count) <= limit, count=int(count), limit=limit, retry_after_s=retry_after_s)


# ------------------------------------------------------------------------------ login lock-out
def _login_keys(prefix: str, username: str) -> tuple[str, str]:
    return f"{prefix}login:fail:{username}", f"{prefix}login:lock:{username}"


def login_lock_remaining_s(redis: Redis, prefix: str, username: str, *, metrics: Any = None) -> int:
    """Seconds until a locked username may try again (0: not locked, or Redis unreachable: `fail_open`)."""
    _, lock = _login_keys(prefix, username)
    try:
        ms = int(redis.pttl(lock))
    except (RedisError, OSError) as exc:
        fail_open("login_lockout", exc, metrics)
        return 0
    return 0 if ms <= 0 else max(1, math.ceil(ms / 1000))


def record_login_failure(redis: Redis, prefix: str, username: str, *, after: int, base_s: float,
                         max_s: float, metrics: Any = None) -> int:  # fmt: skip
    """Count a failed login of `username`; lock it once `after` failures are reached.

    The n-th failure (n ≥ `after`) locks the username for `base_s · 2^(n − after)` seconds, at most
    `max_s`; the count is forgotten `2 · max_s` after the last failure or at the next success. Unknown
    usernames are counted too, so a lock-out does not tell which names exist.

    Returns:
        The lock-out this failure started, in whole seconds (0: none yet, or Redis unreachable: `fail_open`).
    """
    fails, lock = _login_keys(prefix, username)
    try:
        with redis.pipeline(transaction=True) as pipe:
            pipe.incr(fails)
            pipe.expire(fails, int(2 * max_s) + 1)
            count, _ = pipe.execute()
        if int(count) < after:
            return 0
        lock_s = min(max_s, base_s * 2 ** (int(count) - after))
        redis.set(lock, "1", px=max(1, int(lock_s * 1000)))
    except (RedisError, OSError) as exc:
        fail_open("login_lockout", exc, metrics)
        return 0
    return max(1, math.ceil(lock_s))


def clear_login_failures(redis: Redis, prefix: str, username: str, *, metrics: Any = None) -> None:
    """Forget a username's failed logins (after a successful one); skipped when Redis is unreachable."""
    try:
        redis.delete(*_login_keys(prefix, username))
    except (RedisError, OSError) as exc:
        fail_open("login_lockout", exc, metrics)
