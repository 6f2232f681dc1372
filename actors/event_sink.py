"""The event sink: named actors that store live events from every camera in batches.

There are `RELIABILITY__SINK_PARTITIONS` of them (`witness-event-sink`, `witness-event-sink-1`, ...):
a camera's events always go to partition `domain.placement.sink_partition(camera_id, partitions)`,
so the writers share the load of many cameras and one camera's events keep their order. Partition 0
also scores visits (there are few: one per person of interest, against thousands of events).

Cameras call `submit(items)` and keep an item (in their disk spool, `actors.live_io`) until the call
returns: it returns only after the batch holding it is committed, so a sink that dies before a
flush loses nothing — the camera's retry (after Ray restarts the actor) writes it again, and event
ids make the retry idempotent. After each commit every new event is published on Redis
(`witness:events`) so every ingress replica can push it to its WebSocket clients.

Failures:
- the database is down, slow or restarting (a transient error, or a write slower than
  `write_timeout_s`): the calls of that batch fail and the cameras retry. After `breaker_failures`
  such writes in a row the circuit opens: for `breaker_reset_s` calls fail at once instead of
  queueing behind timeouts, then one trial write decides whether it closes again;
- the database refuses the data (a value too long for its column, a constraint): the batch is
  split in halves until the bad event is alone; it goes to the `dead_event` table (visible at
  `GET /api/v1/dead-letters/events`) and its call succeeds, so one poison event never holds back the
  others of its batch or wedges its camera;
- Redis is down or black-holed: events are stored anyway; publishing gives up after the client's
  socket timeout and is skipped while its own circuit is open.

Cameras also send finished visits of people of interest (`assess`). Each one is stored in the
`pending_visit` table at once and scored by a separate loop `settle_s` after it arrived (so the POS
has recorded the checkout), against the stored POS transactions; an alert is stored when the
score reaches the threshold, with the visit's id as its id, in the same transaction that removes
the visit: a restarted sink scores what is left, and never alerts a visit twice. New alerts go to
the `actors.notifier.Notifier` (in-app on Redis `witness:alerts`, webhooks, email).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import asdict
from datetime import timedelta
from typing import Any

import pybreaker
import ray
from sqlalchemy.exc import SQLAlchemyError

from actors.rule_alerts import raise_rule_alerts
from domain.events import Event
from domain.placement import sink_partition

__all__ = ["EventSink", "EVENTS_CHANNEL", "EVENTS_TOTAL_KEY", "SINK_NAME", "SinkUnavailableError", "event_message",
           "sink_actor_name", "sink_for_camera"]

log = logging.getLogger(__name__)

EVENTS_CHANNEL = "witness:events"
EVENTS_TOTAL_KEY = "witness:metrics:events_total"  # Redis counter of stored events (`witness_events_total`)
SINK_NAME = "witness-event-sink"  # partition 0; partition k > 0 is f"{SINK_NAME}-{k}"
POS_FEED_WINDOW_S = 3600.0  # a camera's POS feed is taken as live when a transaction was seen within this of a visit


def sink_actor_name(partition: int) -> str:
    """The Ray actor name of event-sink partition `partition` (0: `witness-event-sink`)."""
    return SINK_NAME if partition == 0 else f"{SINK_NAME}-{partition}"


def sink_for_camera(camera_id: str, partitions: int) -> str:
    """The name of the event-sink actor that stores `camera_id`'s events, of `partitions` sinks.

    Raises:
        ValueError: `partitions` < 1.
    """
    return sink_actor_name(sink_partition(camera_id, partitions))


class SinkUnavailableError(RuntimeError):
    """The event sink could not store a call's items now (the database is down); the caller keeps them and retries."""


def event_message(event_id: str, event: Event, clip_key: str | None) -> dict[str, Any]:
    """The JSON message published for a new event (also what `/ws/events` sends)."""
    body = asdict(event)
    body["type"] = event.type.value
    return {"kind": "event", "id": event_id, "clip_key": clip_key, **body}


def _dead_payload(item: dict[str, Any]) -> dict[str, Any]:
    """A refused item as JSON-ready data for the dead-letter table."""
    event = item["event"]
    body = asdict(event) if hasattr(event, "__dataclass_fields__") else {"repr": repr(event)}
    return json.loads(json.dumps({"event": body, "clip": item.get("clip")}, default=str))


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:2000]


# No CPU reservation: a sink mostly waits on PostgreSQL (`benchmarks/scale.py` reports the CPU it really uses),
# and a reservation per partition would take room from cameras on a small head or fit nowhere on a CPU-less one.
@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)
class EventSink:
    """Batched, idempotent event writer and visit scorer (named actor `sink_actor_name(partition)`).

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
        reliability: `cluster.settings.ReliabilitySettings` fields (`write_timeout_s`,
            `breaker_failures`, `breaker_reset_s`, `redis_timeout_s`, `db_connect_timeout_s`,
            `visit_poll_s`, `visit_max_attempts`, `webhook_poll_s`); defaults when absent.
        partition: this sink's partition; only partition 0 scores stored visits (any partition
            stores them), so no visit is scored by two sinks at once.
    """

    def __init__(self, database_url: str, redis_url: str, flush_interval_s: float = 0.2, max_batch: int = 200,
                 intent: dict[str, Any] | None = None, settle_s: float = 15.0,
                 notify: dict[str, Any] | None = None, reliability: dict[str, Any] | None = None,
                 partition: int = 0) -> None:  # fmt: skip
        import redis

        from storage.db import make_engine
        from storage.reliability import is_transient

        r = reliability or {}
        self.reliability = r
        self.engine = make_engine(database_url, connect_timeout_s=int(r.get("db_connect_timeout_s", 5)),
                                  statement_timeout_s=float(r.get("db_statement_timeout_s", 0.0)))
        timeout_s = float(r.get("redis_timeout_s", 2.0))
        self.redis = redis.Redis.from_url(redis_url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self.flush_interval_s = flush_interval_s
        self.max_batch = max_batch
        self.write_timeout_s = float(r.get("write_timeout_s", 10.0))
        self.visit_poll_s = float(r.get("visit_poll_s", 1.0))
        self.visit_max_attempts = int(r.get("visit_max_attempts", 5))
        # Only errors a retry may fix count against the database; refused data does not open the circuit.
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=int(r.get("breaker_failures", 3)), reset_timeout=float(r.get("breaker_reset_s", 2.0)),
            exclude=[lambda exc: not (is_transient(exc) or isinstance(exc, TimeoutError))], name="database",
        )
        self.redis_breaker = pybreaker.CircuitBreaker(fail_max=3, reset_timeout=5.0, name="redis")
        self._pending: list[tuple[dict[str, Any], asyncio.Future]] = []
        self._wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task] = []
        self.written = 0
        self.dead = 0
        self.rejected_calls = 0  # calls failed because the database was down
        self.intent = intent or {}
        self.settle_s = settle_s
        self.notify_config = notify or {}
        self._notifier: Any = None
        self.alerts_raised = 0
        self.visits_failed = 0
        self.visits_scored = 0
        self.partition = partition

    # ------------------------------------------------------------------------------ public API
    async def submit(self, items: list[dict[str, Any]]) -> int:
        """Store events; returns once they are committed (or dead-lettered).

        Args:
            items: dicts with `id` (from `domain.events.event_id`), `event` (`domain.Event`) and
                optional `clip` (a `storage.models.ClipCreate`-shaped dict, already uploaded).

        Returns:
            The number of items stored or dead-lettered.

        Raises:
            SinkUnavailableError: the database is down; nothing of this call may be assumed stored.
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

    async def assess(self, visit: dict[str, Any]) -> bool:
        """Store a finished visit (`actors.intent_watch.visit_record`) to be scored in `settle_s`.

        Returns `True` once it is stored (also when it was stored before); the score, and an alert
        if it is high enough, follow.

        Raises:
            SinkUnavailableError: the database is down (the camera keeps the visit and retries).
        """
        self._ensure_loop()
        await self._db(self._store_visit, visit)
        return True

    async def ping(self) -> bool:
        """Start the background loops (a restarted sink scores its stored visits without waiting for events)."""
        self._ensure_loop()
        return True

    async def stats(self) -> dict[str, Any]:
        """Counters since start: events written and dead-lettered, events waiting, calls refused while the
        database was down, visits scored / failed, alerts raised, and the circuit states."""
        self._ensure_loop()
        return {"partition": self.partition, "written": self.written, "dead": self.dead, "pending": len(self._pending),
                "rejected_calls": self.rejected_calls, "visits_scored": self.visits_scored,
                "visits_failed": self.visits_failed, "alerts": self.alerts_raised,
                "database_circuit": self.breaker.current_state, "redis_circuit": self.redis_breaker.current_state}  # fmt: skip

    # ------------------------------------------------------------------------------ internals
    def _ensure_loop(self) -> None:
        if not self._tasks:
            self._wake = asyncio.Event()
            self._tasks = [asyncio.create_task(self._flush_loop())]
            if self.partition == 0:
                self._tasks.append(asyncio.create_task(self._score_loop()))

    async def _db(self, fn: Any, *args: Any) -> Any:
        """Run blocking database work on a thread, through the circuit breaker, within `write_timeout_s`.

        Raises:
            SinkUnavailableError: the circuit is open, the database failed transiently, or it timed out.
            Exception: a non-transient error (refused data), as raised.
        """
        from storage.reliability import is_transient

        try:
            return await asyncio.wait_for(asyncio.to_thread(self.breaker.call, fn, *args), self.write_timeout_s)
        except pybreaker.CircuitBreakerError as exc:
            raise SinkUnavailableError(f"database unavailable (circuit open): {exc}") from None
        except asyncio.TimeoutError:
            self._count_failure(TimeoutError(f"database call slower than {self.write_timeout_s:.0f} s"))
            raise SinkUnavailableError(f"database did not answer within {self.write_timeout_s:.0f} s") from None
        except Exception as exc:
            if is_transient(exc):
                raise SinkUnavailableError(f"database unavailable: {_first_line(exc)}") from None
            raise

    def _count_failure(self, exc: Exception) -> None:
        """Count a failure the breaker did not see (a timed-out call still running on its thread)."""

        def fail() -> None:
            raise exc

        try:
            self.breaker.call(fail)
        except Exception:  # noqa: BLE001  (the point was to count it)
            pass

    async def _flush_loop(self) -> None:
        assert self._wake is not None
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.flush_interval_s)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            while self._pending:
                batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
                try:
                    await self._store([item for item, _ in batch])
                except SinkUnavailableError as exc:  # the database is down: fail these calls; cameras retry
                    log.warning("event sink: %d events not stored: %s", len(batch), exc)
                    self.rejected_calls += 1
                    error = SinkUnavailableError(str(exc))
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(error)
                    continue
                except Exception as exc:  # noqa: BLE001  (never let the loop die: fail the calls)
                    log.exception("event sink: unexpected error storing %d events", len(batch))
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(SinkUnavailableError(_first_line(exc)))
                    continue
                for _, fut in batch:
                    if not fut.done():
                        fut.set_result(True)

    async def _store(self, items: list[dict[str, Any]]) -> None:
        """Write `items`; refused data is isolated by bisection into the dead-letter table."""
        try:
            await self._db(self._write, items)
        except SinkUnavailableError:
            raise
        except Exception as exc:  # the database refused the data: find the bad item(s)
            if len(items) > 1:
                mid = len(items) // 2
                await self._store(items[:mid])
                await self._store(items[mid:])
                return
            await self._dead_letter(items[0], exc)
            return
        self.written += len(items)
        await asyncio.to_thread(self._publish, items)
        await self._raise_rule_alerts(items)

    async def _raise_rule_alerts(self, items: list[dict[str, Any]]) -> None:
        """Alerts of stored events whose rule has `alert:` (idempotent: an alert's id comes from its event)."""
        try:
            raised = await self._db(raise_rule_alerts, self.engine, items, self._notifier_or_new)
        except SinkUnavailableError:
            raise
        except Exception:  # noqa: BLE001  (the events are stored; a failed alert must not dead-letter them)
            log.exception("rule alerts of %d stored events failed", len(items))
            return
        self.alerts_raised += len(raised)

    async def _dead_letter(self, item: dict[str, Any], exc: Exception) -> None:
        from storage.db import session_scope
        from storage.reliability import add_dead_events

        event = item["event"]
        error = _first_line(exc)
        log.error("event %s of camera %s refused by the database (%s): dead-lettered", item.get("id"),
                  getattr(event, "camera_id", None), error)  # fmt: skip
        row = {"event_id": str(item.get("id")), "camera_id": getattr(event, "camera_id", None),
               "payload": _dead_payload(item), "error": error}  # fmt: skip

        def write() -> None:
            with session_scope(self.engine) as session:
                add_dead_events(session, [row])

        await self._db(write)
        self.dead += 1

    def _write(self, items: list[dict[str, Any]]) -> None:
        from storage import crud
        from storage.db import session_scope

        with session_scope(self.engine) as session:
            crud.save_live_events(
                session,
                events=[(i["id"], i["event"]) for i in items],
                clips=[i["clip"] for i in items if i.get("clip")],
            )

    def _publish(self, items: list[dict[str, Any]]) -> None:
        """Publish stored events on Redis (best effort: they are stored already)."""
        import redis

        def send() -> None:
            pipe = self.redis.pipeline()
            for i in items:
                clip = i.get("clip") or {}
                pipe.publish(EVENTS_CHANNEL, json.dumps(event_message(i["id"], i["event"], clip.get("key"))))
            pipe.incrby(EVENTS_TOTAL_KEY, len(items))
            pipe.execute()

        try:
            self.redis_breaker.call(send)
        except pybreaker.CircuitBreakerError:
            log.debug("Redis circuit open: %d events not published", len(items))
        except (redis.RedisError, OSError) as exc:
            log.warning("could not publish %d events on Redis: %s", len(items), exc)

    # ------------------------------------------------------------------------------ visits
    def _store_visit(self, visit: dict[str, Any]) -> None:
        from actors.intent_watch import visit_to_json
        from storage.db import session_scope
        from storage.models import utcnow
        from storage.reliability import add_pending_visit

        with session_scope(self.engine) as session:
            new = add_pending_visit(session, visit_id=visit["visit_id"], camera_id=visit["camera_id"],
                                    due_at=utcnow() + timedelta(seconds=self.settle_s), payload=visit_to_json(visit))
        if new:
            log.info("visit %s of track %s on %s stored; scored in %.0f s", visit["visit_id"], visit.get("track_id"),
                     visit["camera_id"], self.settle_s)  # fmt: skip

    async def _score_loop(self) -> None:
        """Score due visits, apart from event writing (a slow visit never delays events)."""
        while True:
            await asyncio.sleep(self.visit_poll_s)
            try:
                await self._db(self._score_due)
            except SinkUnavailableError as exc:
                log.warning("scoring visits postponed: %s", exc)
            except Exception:  # noqa: BLE001  (the loop must go on)
                log.exception("scoring visits failed")

    def _score_due(self) -> None:
        from storage.db import session_scope
        from storage.reliability import due_visits, is_transient, retry_visit

        with session_scope(self.engine) as session:
            due = [(v.id, dict(v.payload)) for v in due_visits(session)]
        for visit_id, payload in due:
            try:
                alert = self._assess_one(visit_id, payload)
            except Exception as exc:
                if is_transient(exc):
                    raise  # the database went away: the rest waits for the next round
                log.exception("scoring visit %s failed", visit_id)
                with session_scope(self.engine) as session:
                    status = retry_visit(session, visit_id, error=_first_line(exc), max_attempts=self.visit_max_attempts,
                                         retry_in_s=max(self.settle_s, 5.0))  # fmt: skip
                if status == "failed":
                    self.visits_failed += 1
                continue
            self.visits_scored += 1
            if alert is not None:
                self._notify(alert)

    def _assess_one(self, visit_id: str, payload: dict[str, Any]) -> Any:
        """Score one stored visit; store its alert (id = the visit's) and remove the visit in one transaction."""
        from actors.intent_watch import visit_from_json
        from domain.assessment import AssessmentParams, assess_visit
        from storage import crud
        from storage import pos as pos_repo
        from storage.db import session_scope
        from storage.reliability import finish_visit

        params = AssessmentParams(**self.intent)
        visit = visit_from_json(payload)
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
            alert = None
            if assessment.should_alert and crud.get_alert(s, visit_id) is None:
                ids = list(visit["event_ids"])
                keys = [c.key for i in ids for c in crud.list_clips(s, event_id=i)]
                fields = assessment.alert_fields(event_ids=ids, clip_keys=keys)
                if visit.get("pose_windows"):  # the person's pose windows: training data once the alert is reviewed
                    fields["details"] = {**fields["details"], "pose_windows": visit["pose_windows"]}
                alert = crud.create_alert(s, camera_id=camera_id, alert_id=visit_id, commit=False,
                                          model_version=visit.get("model_version"), **fields)
            finish_visit(s, visit_id)
        if alert is not None:
            self.alerts_raised += 1
            log.info("alert %s (%s, %.2f) for track %s on %s", alert.id, alert.severity, alert.score, ev.track_id, camera_id)
        return alert

    def _notify(self, alert: Any) -> None:
        from domain.assessment import INTENT_RULE

        try:
            self._notifier_or_new().notify(alert, rule=INTENT_RULE)
        except (SQLAlchemyError, Exception):  # noqa: BLE001  (a stored alert stays stored; notification is best effort)
            log.exception("notifying alert %s failed", alert.id)

    def _notifier_or_new(self) -> Any:
        from actors.notifier import Notifier

        if self._notifier is None:
            self._notifier = Notifier(self.engine, self.redis, self.notify_config,
                                      poll_s=float(self.reliability.get("webhook_poll_s", 1.0)))  # fmt: skip
        return self._notifier
