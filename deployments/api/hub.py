"""WebSocket fan-out: one Redis pub/sub subscription per ingress replica, bounded queues per client.

Cameras, the event sink and jobs publish on Redis channels; every ingress replica subscribes once
and copies each message into the queue of each of its WebSocket clients that wants that channel.
A client's queue is bounded: when a client is slow, its oldest messages are dropped (and counted),
so a slow client never slows a camera or the other clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Hub", "Subscription", "TRACKING_PREFIX", "JOBS_PREFIX", "HEALTH_CHANNEL", "tracking_channel", "job_channel"]

log = logging.getLogger(__name__)

TRACKING_PREFIX = "witness:tracking:"
JOBS_PREFIX = "witness:jobs:"
HEALTH_CHANNEL = "witness:health"


def tracking_channel(camera_id: str) -> str:
    """Channel of one camera's `tracking_update` messages."""
    return f"{TRACKING_PREFIX}{camera_id}"


def job_channel(job_id: str) -> str:
    """Channel of one job's progress messages."""
    return f"{JOBS_PREFIX}{job_id}"


@dataclass(eq=False)
class Subscription:
    """One WebSocket client's interest: exact channels and/or channel prefixes."""

    channels: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(maxsize=64))
    dropped: int = 0

    def wants(self, channel: str) -> bool:
        return channel in self.channels or any(channel.startswith(p) for p in self.prefixes)

    def offer(self, message: dict[str, Any]) -> None:
        """Queue a message, dropping the oldest one when the client is behind."""
        if self.queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
                self.dropped += 1
        self.queue.put_nowait(message)


class Hub:
    """Redis pub/sub → WebSocket clients of this process.

    Args:
        redis_url: the Redis server cameras and sinks publish on.
        patterns: channel patterns to subscribe to.
    """

    def __init__(self, redis_url: str, patterns: tuple[str, ...] = ("witness:*",)) -> None:
        self.redis_url = redis_url
        self.patterns = patterns
        self.subscriptions: set[Subscription] = set()
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        """Start listening (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._listen())

    async def stop(self) -> None:
        """Stop listening."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @contextlib.asynccontextmanager
    async def subscribe(self, *, channels: set[str] | None = None, prefixes: tuple[str, ...] = ()) -> AsyncIterator[Subscription]:
        """Register a client for the duration of the `async with` block."""
        await self.start()
        sub = Subscription(frozenset(channels or ()), prefixes)
        self.subscriptions.add(sub)
        try:
            yield sub
        finally:
            self.subscriptions.discard(sub)

    def dispatch(self, channel: str, message: dict[str, Any]) -> int:
        """Hand a message to every interested client; returns how many got it."""
        n = 0
        for sub in list(self.subscriptions):
            if sub.wants(channel):
                sub.offer(message)
                n += 1
        return n

    async def _listen(self) -> None:
        import redis.asyncio as aioredis
        from redis.exceptions import RedisError

        backoff = 0.5
        while True:
            client = None
            try:
                client = aioredis.Redis.from_url(self.redis_url, socket_connect_timeout=2.0, socket_keepalive=True)
                pubsub = client.pubsub()
                await pubsub.psubscribe(*self.patterns)
                backoff = 0.5
                seen = time.monotonic()
                while True:
                    # Poll with a timeout and PING when idle: a Redis that vanishes without closing the
                    # connection (black-holed, paused) stops answering, and is then reconnected to.
                    raw = await pubsub.get_message(timeout=1.0)
                    now = time.monotonic()
                    if raw is None:
                        if now - seen > 15.0:
                            raise RedisError("no answer from Redis for 15 s")
                        if now - seen > 5.0:
                            await pubsub.ping()
                        continue
                    seen = now
                    if raw.get("type") != "pmessage":
                        continue
                    channel = raw["channel"].decode() if isinstance(raw["channel"], bytes) else raw["channel"]
                    try:
                        message = json.loads(raw["data"])
                    except (TypeError, ValueError):
                        continue
                    self.dispatch(channel, message)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("hub lost Redis (%s); retrying in %.1f s", exc, backoff)
                if client is not None:
                    with contextlib.suppress(Exception):
                        await client.aclose()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
