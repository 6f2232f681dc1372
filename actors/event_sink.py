"""The event sink: one named actor that stores live events from every camera in batches.

Cameras call `submit(items)` and keep an item until the call returns: the call returns only after
the batch holding it is committed, so a sink that dies before a flush loses nothing — the camera's
retry (after Ray restarts the actor) writes it again, and event ids make the retry idempotent.
After each commit every new event is published on Redis (`witness:events`) so every ingress
replica can push it to its WebSocket clients.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import asdict
from typing import Any

import ray
from sqlalchemy.exc import SQLAlchemyError

from domain.events import Event

__all__ = ["EventSink", "EVENTS_CHANNEL", "EVENTS_TOTAL_KEY", "SINK_NAME", "event_message"]

log = logging.getLogger(__name__)

EVENTS_CHANNEL = "witness:events"
EVENTS_TOTAL_KEY = "witness:metrics:events_total"  # Redis counter of stored events (`witness_events_total`)
SINK_NAME = "witness-event-sink"


def event_message(event_id: str, event: Event, clip_key: str | None) -> dict[str, Any]:
    """The JSON message published for a new event (also what `/ws/events` sends)."""
    body = asdict(event)
    body["type"] = event.type.value
    return {"kind": "event", "id": event_id, "clip_key": clip_key, **body}


@ray.remote(num_cpus=0.05, max_restarts=-1, max_task_retries=-1)
class EventSink:
    """Batched, idempotent event writer (named actor `witness-event-sink`).

    Args:
        database_url: SQLAlchemy URL of the results database.
        redis_url: Redis for the pub/sub fan-out.
        flush_interval_s: longest an event waits before its batch is written.
        max_batch: events per write.
    """

    def __init__(self, database_url: str, redis_url: str, flush_interval_s: float = 0.2, max_batch: int = 200) -> None:
        import redis

        from storage.db import make_engine

        self.engine = make_engine(database_url)
        self.redis = redis.Redis.from_url(redis_url)
        self.flush_interval_s = flush_interval_s
        self.max_batch = max_batch
        self._pending: list[tuple[dict[str, Any], asyncio.Future]] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self.written = 0

    async def submit(self, items: list[dict[str, Any]]) -> int:
        """Store events; returns once they are committed.

        Args:
            items: dicts with `id` (from `domain.events.event_id`), `event` (`domain.Event`) and
                optional `clip` (a `storage.models.ClipCreate`-shaped dict, already uploaded).

        Returns:
            The number of items committed.
        """
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.create_task(self._flush_loop())
        loop = asyncio.get_running_loop()
        futures = []
        for item in items:
            fut = loop.create_future()
            self._pending.append((item, fut))
            futures.append(fut)
        if len(self._pending) >= self.max_batch:
            self._wake.set()
        await asyncio.gather(*futures)
        return len(items)

    async def stats(self) -> dict[str, int]:
        """Events written since start and events waiting."""
        return {"written": self.written, "pending": len(self._pending)}

    async def _flush_loop(self) -> None:
        assert self._wake is not None
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.flush_interval_s)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            if not self._pending:
                continue
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            try:
                await asyncio.to_thread(self._write, [item for item, _ in batch])
            except (SQLAlchemyError, OSError) as exc:  # the database is down: fail these calls; cameras retry
                log.exception("event sink write failed")
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            self.written += len(batch)
            for _, fut in batch:
                if not fut.done():
                    fut.set_result(True)

    def _write(self, items: list[dict[str, Any]]) -> None:
        import redis

        from storage import crud
        from storage.db import session_scope

        with session_scope(self.engine) as session:
            crud.save_live_events(
                session,
                events=[(i["id"], i["event"]) for i in items],
                clips=[i["clip"] for i in items if i.get("clip")],
            )
        try:
            pipe = self.redis.pipeline()
            for i in items:
                clip = i.get("clip") or {}
                pipe.publish(EVENTS_CHANNEL, json.dumps(event_message(i["id"], i["event"], clip.get("key"))))
            pipe.incrby(EVENTS_TOTAL_KEY, len(items))
            pipe.execute()
        except redis.RedisError:  # stored already; the fan-out is best effort
            log.warning("could not publish %d events on Redis", len(items))
