"""The event sink: one named actor that stores live events from every camera in batches.

Cameras call `submit(items)` and keep an item until the call returns: the call returns only after
the batch holding it is committed, so a sink that dies before a flush loses nothing — the camera's
retry (after Ray restarts the actor) writes it again, and event ids make the retry idempotent.
After each commit every new event is published on Redis (`witness:events`) so every ingress
replica can push it to its WebSocket clients.

Cameras also send finished visits of people of interest (`assess`). The sink scores each one
`settle_s` after it arrives (so the POS has recorded the checkout), against the stored POS
transactions, and stores an alert when the score reaches the threshold; new alerts go to the
`actors.notifier.Notifier` (in-app on Redis `witness:alerts`, webhooks, email).
Pending visits live in the sink's memory: a sink restart loses visits not yet scored.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import asdict
from typing import Any

import ray
from sqlalchemy.exc import SQLAlchemyError

from actors.rule_alerts import raise_rule_alerts
from domain.events import Event

__all__ = ["EventSink", "EVENTS_CHANNEL", "EVENTS_TOTAL_KEY", "SINK_NAME", "event_message"]

log = logging.getLogger(__name__)

EVENTS_CHANNEL = "witness:events"
EVENTS_TOTAL_KEY = "witness:metrics:events_total"  # Redis counter of stored events (`witness_events_total`)
SINK_NAME = "witness-event-sink"
POS_FEED_WINDOW_S = 3600.0  # a camera's POS feed is taken as live when a transaction was seen within this of a visit


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
        intent: `domain.assessment.AssessmentParams` fields for scoring visits (default thresholds
            when `None`).
        settle_s: seconds a visit waits before it is scored.
        notify: `actors.notifier.NotifyConfig` fields (webhooks, SMTP, de-duplication); `None` =
            in-app notifications only.
    """

    def __init__(self, database_url: str, redis_url: str, flush_interval_s: float = 0.2, max_batch: int = 200,
                 intent: dict[str, Any] | None = None, settle_s: float = 15.0,
                 notify: dict[str, Any] | None = None) -> None:
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
        self.intent = intent or {}
        self.settle_s = settle_s
        self.notify_config = notify or {}
        self._notifier: Any = None
        self._visits: list[tuple[float, dict[str, Any]]] = []
        self.alerts_raised = 0
        self.visits_failed = 0
        self._scoring = 0  # visits being scored right now

    async def submit(self, items: list[dict[str, Any]]) -> int:
        """Store events; returns once they are committed.

        Args:
            items: dicts with `id` (from `domain.events.event_id`), `event` (`domain.Event`) and
                optional `clip` (a `storage.models.ClipCreate`-shaped dict, already uploaded).

        Returns:
            The number of items committed.
        """
        self._ensure_loop()
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

    def _ensure_loop(self) -> None:
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.create_task(self._flush_loop())

    async def assess(self, visit: dict[str, Any]) -> bool:
        """Schedule a finished visit (`actors.intent_watch.visit_record`) to be scored in `settle_s`.

        Returns at once (`True`); the score, and an alert if it is high enough, follow.
        """
        self._ensure_loop()
        self._visits.append((time.time() + self.settle_s, visit))
        return True

    async def stats(self) -> dict[str, int]:
        """Events written since start, events waiting, visits waiting to be scored, alerts raised, visits dropped."""
        return {"written": self.written, "pending": len(self._pending), "visits": len(self._visits) + self._scoring,
                "alerts": self.alerts_raised, "visits_failed": self.visits_failed}

    async def _flush_loop(self) -> None:
        assert self._wake is not None
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.flush_interval_s)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            now = time.time()
            due = [v for t, v in self._visits if t <= now]
            self._visits = [(t, v) for t, v in self._visits if t > now]
            self._scoring = len(due)
            for visit in due:  # one at a time: a retry never scores (and alerts) a visit twice
                try:
                    await asyncio.to_thread(self._assess, [visit])
                except (SQLAlchemyError, OSError):  # the database is down: try this visit again later
                    log.exception("scoring the visit of track %s failed; retrying", visit.get("track_id"))
                    self._visits.append((now + max(self.settle_s, 5.0), visit))
                except Exception:  # a bad visit must not stop event writing
                    log.exception("scoring the visit of track %s failed; dropped", visit.get("track_id"))
                    self.visits_failed += 1
                finally:
                    self._scoring -= 1
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
        self.alerts_raised += len(raise_rule_alerts(self.engine, items, self._notifier_or_new))  # rules with `alert:`

    def _assess(self, visits: list[dict[str, Any]]) -> None:
        """Score visits against the stored POS transactions; store and publish the alerts."""
        from domain.assessment import INTENT_RULE, AssessmentParams, assess_visit
        from storage import crud
        from storage import pos as pos_repo
        from storage.db import session_scope

        params = AssessmentParams(**self.intent)
        for visit in visits:
            ev, t0, camera_id = visit["evidence"], float(visit["epoch_t0"]), visit["camera_id"]
            lo, hi = t0 + ev.t_start_s - params.checkout_slack_s, t0 + ev.t_end_s + params.checkout_slack_s
            with session_scope(self.engine) as s:
                # The POS feed counts as live for this camera when it recorded anything here within an hour.
                nearby = [t for t in pos_repo.transactions_between(s, lo - POS_FEED_WINDOW_S, hi + POS_FEED_WINDOW_S)
                          if t.camera_id in (None, camera_id)]
                assessment = assess_visit(ev, nearby, params, pos_available=bool(nearby),
                                          catalog=pos_repo.load_catalog(s), time_offset_s=t0)
                log.info("visit of track %s on %s scored %.2f (%s; %d transaction(s) nearby)", ev.track_id, camera_id,
                         assessment.intent.score, assessment.intent.severity.value, len(nearby))
                if not assessment.should_alert:
                    continue
                ids = list(visit["event_ids"])
                keys = [c.key for i in ids for c in crud.list_clips(s, event_id=i)]
                alert = crud.create_alert(s, camera_id=camera_id, **assessment.alert_fields(event_ids=ids, clip_keys=keys))
                s.expunge(alert)
            self.alerts_raised += 1
            log.info("alert %s (%s, %.2f) for track %s on %s", alert.id, alert.severity, alert.score, ev.track_id, camera_id)
            try:
                self._notifier_or_new().notify(alert, rule=INTENT_RULE)
            except Exception:  # noqa: BLE001  (a stored alert stays stored; notification is best effort)
                log.exception("notifying alert %s failed", alert.id)

    def _notifier_or_new(self) -> Any:
        from actors.notifier import Notifier

        if self._notifier is None:
            self._notifier = Notifier(self.engine, self.redis, self.notify_config)
        return self._notifier
