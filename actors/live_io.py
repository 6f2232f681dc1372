"""What a camera actor sends out: tracking updates and health on Redis, events to the event sink.

Both are small picklable callables (they travel to the camera actor's process and open their
connections there on first use).
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import ray

from actors.event_sink import SINK_NAME
from actors.ring_buffer import masked_clip_path
from actors.spool import spool_key
from domain.events import Event
from domain.privacy import masked_key
from storage.objectstore import ObjectStoreError

__all__ = ["RedisPublisher", "EventForwarder", "CAMERAS_METRICS_KEY", "HEALTH_CHANNEL", "SHADOW_KEY", "tracking_channel"]

log = logging.getLogger(__name__)

CAMERAS_METRICS_KEY = "witness:metrics:cameras"  # Redis hash: camera id -> JSON health (fps_in, fps_out, lag_s, …)
HEALTH_CHANNEL = "witness:health"
SHADOW_KEY = "witness:shadow:verdicts"  # Redis list, newest first: shadow-mode verdicts (production beside staging)
SHADOW_MAX = 10_000  # verdicts kept in SHADOW_KEY


def tracking_channel(camera_id: str) -> str:
    """Redis channel of one camera's `tracking_update` messages."""
    return f"witness:tracking:{camera_id}"


class RedisPublisher:
    """`publisher(kind, payload)` for `CameraActor`: tracking updates and health go to Redis.

    `tracking_update` → channel `witness:tracking:{camera_id}`; `camera_health` → channel
    `witness:health` (only when the state changed) and always the metrics hash `witness:metrics:cameras`;
    `shadow_verdict` → the capped list `witness:shadow:verdicts` (newest first) and the log.
    """

    def __init__(self, redis_url: str, camera_id: str) -> None:
        self.redis_url, self.camera_id = redis_url, camera_id
        self._client = None

    def __getstate__(self) -> dict[str, Any]:
        return {"redis_url": self.redis_url, "camera_id": self.camera_id, "_client": None}

    def __call__(self, kind: str, payload: dict[str, Any]) -> None:
        import redis

        if self._client is None:
            self._client = redis.Redis.from_url(self.redis_url, socket_timeout=2)
        message = json.dumps({"kind": kind, **payload}, default=str)
        try:
            if kind == "tracking_update":
                self._client.publish(tracking_channel(self.camera_id), message)
            elif kind == "camera_health":
                pipe = self._client.pipeline()
                pipe.hset(CAMERAS_METRICS_KEY, self.camera_id, message)
                if payload.get("changed"):
                    pipe.publish(HEALTH_CHANNEL, message)
                pipe.execute()
            elif kind == "shadow_verdict":
                log.info("camera %s shadow verdict: %s", self.camera_id, message)
                self._client.pipeline().lpush(SHADOW_KEY, message).ltrim(SHADOW_KEY, 0, SHADOW_MAX - 1).execute()
        except redis.RedisError as exc:  # a Redis outage must not stop the camera
            log.warning("camera %s: publish failed: %s", self.camera_id, exc)


class EventForwarder:
    """`on_event(event_id, event, clip_path)` for `CameraActor`: spool the event to local disk, upload
    its clip, and hand it to the event sink on a background thread, retrying until the sink has
    committed it; only then is it removed from the spool.

    Nothing a camera detected is lost to a crash or an outage:
    - every event is on disk (`spool_dir`) from the moment it fires — an event waiting for its
      clip's post-roll too (`pending`); a restarted camera actor (`start`) re-sends what the spool
      holds, with the clip when it was written, without when the crash cut it;
    - while the sink or its database is down, events wait in the spool (bounded by
      `spool_max_bytes`) and are retried with back-off (`retry_initial_s` doubling to `retry_max_s`);
    - while the object store is down, an event is stored without its clip after at most
      `upload_wait_s`, and the clip waits in the spool's outbox, retried the same way; once uploaded
      its row is added to the stored event;
    - when the disk is full or the spool unwritable, events wait in memory (at most `memory_max`;
      beyond that the oldest are dropped, counted and logged) and still go to the sink.

    Args:
        store: the object store for clips (picklable: local folder or S3).
        namespace: Ray namespace of the named event sink.
        sink_name: the event-sink actor of this camera (`actors.event_sink.sink_for_camera`).
        clip_prefix: object-store key prefix of live clips.
        spool_dir: the camera's spool folder on this node (`None`: memory only).
        spool_max_bytes: spool size bound.
        memory_max: records held in memory when the spool cannot take them.
        retry_initial_s: first retry delay; doubled per failure up to `retry_max_s`.
        retry_max_s: longest retry delay (bounds the recovery time after an outage ends).
        batch_max: events per sink call.
        linger_s: how long a ready event waits for others of this camera before the sink call (0: none),
            as Kafka's `linger.ms`: a few events per call instead of one costs the sink far less per event
            (`benchmarks/scale.py --linger-s`); skipped while the camera drains on stop.
        upload_wait_s: longest an event waits for its clip's upload before it is stored without it.
    """

    def __init__(self, store: Any, namespace: str, clip_prefix: str = "clips/live", *, spool_dir: str | Path | None = None,
                 spool_max_bytes: int = 256 << 20, memory_max: int = 1000, retry_initial_s: float = 0.25,
                 retry_max_s: float = 2.0, batch_max: int = 200, upload_wait_s: float = 5.0,
                 sink_name: str = SINK_NAME, linger_s: float = 0.0) -> None:  # fmt: skip
        self.store, self.namespace, self.clip_prefix, self.sink_name = store, namespace, clip_prefix, sink_name
        self.spool_dir = None if spool_dir is None else str(spool_dir)
        self.spool_max_bytes, self.memory_max = spool_max_bytes, memory_max
        self.retry_initial_s, self.retry_max_s = retry_initial_s, retry_max_s
        self.batch_max, self.upload_wait_s, self.linger_s = batch_max, upload_wait_s, linger_s
        self._rt: _Runtime | None = None

    _CONFIG = ("store", "namespace", "clip_prefix", "sink_name", "spool_dir", "spool_max_bytes", "memory_max", "retry_initial_s",
               "retry_max_s", "batch_max", "upload_wait_s", "linger_s")  # fmt: skip

    def __getstate__(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._CONFIG} | {"_rt": None}

    # ------------------------------------------------------------------------------ camera side
    def start(self) -> int:
        """Start the sending thread (idempotent) and queue what the spool holds from an earlier run.

        Returns:
            The number of records recovered from the spool (0 when already started).
        """
        if self._rt is not None:
            return 0
        self._rt = _Runtime(self)
        return self._rt.recover()

    def pending(self, event_id: str, event: Event, clip_path: Path | str) -> None:
        """Spool an event whose clip is still being recorded (`clip_path`: where it will be written);
        it is sent once `__call__` reports the clip, or after a crash without it."""
        self.start()
        self._rt.add_event(event_id, event, clip_path, ready=False)

    def __call__(self, event_id: str, event: Event, clip_path: Path | None) -> None:
        self.start()
        self._rt.add_event(event_id, event, clip_path, ready=True)

    def visit(self, record: dict[str, Any]) -> None:
        """Hand a finished visit (`actors.intent_watch.visit_record`) to the sink's `assess`, after
        the events queued before it."""
        self.start()
        self._rt.add_visit(record)

    def drain(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` until every queued event and visit is stored.

        Returns:
            Whether nothing is left to send (clips waiting in the outbox do not count); what is
            left stays in the spool for the next start.
        """
        return True if self._rt is None else self._rt.drain(timeout_s)

    def stats(self) -> dict[str, int]:
        """Counters: `queued` (not yet stored), `awaiting_clip`, `clip_outbox`, `in_memory` (not on disk),
        `spool_bytes`, `spool_write_errors` (records the disk refused: they went by memory), `stored`,
        `recovered`, `dropped` (lost: memory full while the disk was unusable)."""
        return _Runtime.empty_stats() if self._rt is None else self._rt.stats()

    def pending_count(self) -> int:
        """Events and visits not yet stored by the sink."""
        return 0 if self._rt is None else self._rt.stats()["queued"]

    # ------------------------------------------------------------------------------ uploads
    def upload(self, event_id: str, event: Event, path: Path) -> dict[str, Any]:
        """Upload a clip; returns its `storage.models.ClipCreate` fields.

        Raises:
            OSError, ObjectStoreError: the object store (or the file) failed.
        """
        import cv2

        key = f"{self.clip_prefix}/{event.camera_id}/{event_id}.mp4"
        size = self.store.put_file(key, path, "video/mp4")
        masked = masked_clip_path(path)  # the copy non-admin users get (`write_clip`)
        if masked.exists():
            self.store.put_file(masked_key(key), masked, "video/mp4")
        cap = cv2.VideoCapture(str(path))
        frames, fps = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), float(cap.get(cv2.CAP_PROP_FPS) or 0)
        width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        cap.release()
        return {"event_id": event_id, "key": key, "t_start_s": float(event.t_start_s), "t_end_s": float(event.t_end_s),
                "frame_count": frames, "fps": fps, "width": width, "height": height, "size_bytes": size,
                "content_type": "video/mp4"}


class _Runtime:
    """The forwarder's process-local state: spool, queues, the sending thread (see `EventForwarder`)."""

    def __init__(self, fw: EventForwarder) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from actors.spool import DiskSpool

        self.fw = fw
        self.spool = None if fw.spool_dir is None else DiskSpool(fw.spool_dir, max_bytes=fw.spool_max_bytes)
        self.cond = threading.Condition()
        self.ready: collections.deque[str] = collections.deque()
        self.memory: dict[str, dict[str, Any]] = {}  # records not on disk, oldest first
        self.awaiting: set[str] = set()
        self.key_of: dict[str, str] = {}  # event id -> key of its awaiting-clip record
        self.outbox: dict[str, tuple[float, int]] = {}  # key -> (next attempt, monotonic s; failures so far)
        self.uploads: dict[str, Any] = {}  # key -> Future of its clip upload
        self.inflight = 0
        self.draining = False  # set by drain(): the camera is stopping
        self.counts = collections.Counter()
        self.uploader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clip-upload")
        self.thread = threading.Thread(target=self._run, name="event-forwarder", daemon=True)

    @staticmethod
    def empty_stats() -> dict[str, int]:
        return dict.fromkeys(("queued", "awaiting_clip", "clip_outbox", "in_memory", "spool_bytes", "spool_write_errors",
                              "stored", "recovered", "dropped"), 0)  # fmt: skip

    def stats(self) -> dict[str, int]:
        with self.cond:
            return {"queued": len(self.ready) + self.inflight, "awaiting_clip": len(self.awaiting),
                    "clip_outbox": len(self.outbox), "in_memory": len(self.memory),
                    "spool_bytes": 0 if self.spool is None else self.spool.nbytes,
                    "spool_write_errors": 0 if self.spool is None else self.spool.write_errors, "stored": self.counts["stored"],
                    "recovered": self.counts["recovered"], "dropped": self.counts["dropped"]}  # fmt: skip

    # ------------------------------------------------------------------------------ records
    def recover(self) -> int:
        """Queue the spool's records from an earlier run, then start the thread."""
        n = 0
        if self.spool is not None:
            for key in self.spool.keys():
                record = self.spool.get(key)
                if record is None:
                    self.spool.remove(key)
                    continue
                n += 1
                if record.get("state") == "outbox":
                    self.outbox[key] = (0.0, 0)
                    continue
                clip = record.get("clip_path")
                if record.get("state") == "awaiting_clip" and clip and not Path(clip).is_file():
                    record["clip_path"] = None  # the crash cut the clip's recording: the event goes without it
                record["state"] = "ready"
                self.ready.append(key)
            if n:
                log.warning("spool %s: re-sending %d event(s) / visit(s) of an earlier run", self.fw.spool_dir, n)
        self.counts["recovered"] = n
        self.thread.start()
        return n

    def _put(self, key: str, record: dict[str, Any]) -> None:
        """Keep `record` on disk, or in memory when the spool cannot take it (caller holds `cond`)."""
        if self.spool is not None and self.spool.put(key, record):
            self.memory.pop(key, None)
            return
        self.memory[key] = record
        while len(self.memory) > self.fw.memory_max:
            oldest = min(self.memory)  # keys sort by age
            lost = self.memory.pop(oldest)
            self.counts["dropped"] += 1
            with contextlib.suppress(ValueError):
                self.ready.remove(oldest)
            self.awaiting.discard(oldest)
            self.outbox.pop(oldest, None)
            log.error("event forwarder: memory full while the spool is unusable: %s %s dropped", lost.get("kind"),
                      lost.get("id"))  # fmt: skip

    def add_event(self, event_id: str, event: Event, clip_path: Path | str | None, *, ready: bool) -> None:
        with self.cond:
            key = self.key_of.pop(event_id, None) or spool_key("event", event_id)
            record = {"kind": "event", "id": event_id, "event": event,
                      "clip_path": None if clip_path is None else str(clip_path), "clip": None,
                      "state": "ready" if ready else "awaiting_clip"}  # fmt: skip
            self._put(key, record)
            if ready:
                self.awaiting.discard(key)
                self.ready.append(key)
                self.cond.notify_all()
            else:
                self.key_of[event_id] = key
                self.awaiting.add(key)

    def add_visit(self, record: dict[str, Any]) -> None:
        with self.cond:
            key = spool_key("visit", str(record.get("visit_id") or record.get("track_id")))
            self._put(key, {"kind": "visit", "id": record.get("visit_id"), "visit": record, "state": "ready"})
            self.ready.append(key)
            self.cond.notify_all()

    def _get(self, key: str) -> dict[str, Any] | None:
        with self.cond:
            if key in self.memory:
                return self.memory[key]
        return None if self.spool is None else self.spool.get(key)

    def _done(self, key: str, record: dict[str, Any]) -> None:
        """The sink has it: forget the record and delete its local clip."""
        with self.cond:
            self.memory.pop(key, None)
            self.counts["stored"] += 1
        if self.spool is not None:
            self.spool.remove(key)
        clip = record.get("clip_path")
        if clip and record.get("clip"):
            Path(clip).unlink(missing_ok=True)
            masked_clip_path(Path(clip)).unlink(missing_ok=True)

    def drain(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self.cond:
            self.draining = True  # no lingering: what is ready goes now
            self.cond.notify_all()
            while self.ready or self.inflight:
                left = deadline - time.monotonic()
                if left <= 0:
                    log.warning("event forwarder: %d event(s) not stored after %.0f s; they stay in the spool",
                                len(self.ready) + self.inflight, timeout_s)  # fmt: skip
                    return False
                self.cond.wait(min(left, 0.2))
        return True

    # ------------------------------------------------------------------------------ sending
    def _backoff(self, failures: int) -> float:
        return min(self.fw.retry_initial_s * (2 ** max(0, failures - 1)), self.fw.retry_max_s)

    def _run(self) -> None:
        self._call(lambda sink: sink.ping.remote(), what="ping", retry=False)
        while True:
            try:
                self._service_outbox()
                with self.cond:
                    if not self.ready:
                        self.cond.wait(0.2)
                        continue
                    if self.fw.linger_s > 0 and "-visit-" not in self.ready[0]:
                        linger_end = time.monotonic() + self.fw.linger_s
                        while (len(self.ready) < self.fw.batch_max and not self.draining
                               and (left := linger_end - time.monotonic()) > 0):
                            self.cond.wait(left)
                    keys = [self.ready.popleft()]
                    if "-visit-" not in keys[0]:
                        while self.ready and len(keys) < self.fw.batch_max and "-visit-" not in self.ready[0]:
                            keys.append(self.ready.popleft())
                    self.inflight = len(keys)
                try:
                    self._send(keys)
                finally:
                    with self.cond:
                        self.inflight = 0
                        self.cond.notify_all()
            except Exception:  # noqa: BLE001  (the thread must never die: records stay spooled)
                log.exception("event forwarder: unexpected error; going on")
                time.sleep(self.fw.retry_max_s)

    def _send(self, keys: list[str]) -> None:
        records = []
        for key in keys:
            record = self._get(key)
            if record is None:  # unreadable: already logged by the spool
                if self.spool is not None:
                    self.spool.remove(key)
                continue
            records.append((key, record))
        if not records:
            return
        if records[0][1]["kind"] == "visit":
            key, record = records[0]
            self._call(lambda sink: sink.assess.remote(record["visit"]), what=f"visit {record.get('id')}")
            self._done(key, record)
            return
        items, to_outbox = [], []
        for key, record in records:
            clip = record.get("clip")
            path = record.get("clip_path")
            if clip is None and path and Path(path).is_file():
                clip = self._upload_now(key, record)
                if clip is None:
                    to_outbox.append(key)
            items.append({"id": record["id"], "event": record["event"], "clip": clip})
        self._call(lambda sink: sink.submit.remote(items), what=f"{len(items)} event(s)")
        for key, record in records:
            if key in to_outbox:  # stored without its clip: the clip waits in the outbox
                record["state"] = "outbox"
                with self.cond:
                    self._put(key, record)
                    self.outbox[key] = (time.monotonic() + self.fw.retry_initial_s, 1)
                    self.counts["stored"] += 1
            else:
                self._done(key, record)

    def _upload_now(self, key: str, record: dict[str, Any]) -> dict[str, Any] | None:
        """Upload the record's clip, waiting at most `upload_wait_s`; `None` if it failed or is still going."""
        from concurrent.futures import TimeoutError as FutureTimeout

        future = self.uploads.get(key)
        if future is None:
            future = self.uploader.submit(self.fw.upload, record["id"], record["event"], Path(record["clip_path"]))
            self.uploads[key] = future
        try:
            clip = future.result(timeout=self.fw.upload_wait_s)
        except FutureTimeout:
            log.warning("clip upload of %s still running after %.0f s; storing the event without it for now",
                        record["id"], self.fw.upload_wait_s)  # fmt: skip
            return None
        except (OSError, ObjectStoreError) as exc:
            self.uploads.pop(key, None)
            log.warning("clip upload of %s failed (%s); the event is stored now, the clip retried", record["id"], exc)
            return None
        self.uploads.pop(key, None)
        record["clip"] = clip
        return clip

    def _service_outbox(self) -> None:
        """Retry due clip uploads (never blocking); add each uploaded clip to its stored event."""
        now = time.monotonic()
        with self.cond:
            due = [(k, n) for k, (t, n) in self.outbox.items() if t <= now]
        for key, failures in due:
            record = self._get(key)
            path = None if record is None else record.get("clip_path")
            if record is None or not path or not Path(path).is_file():  # nothing left to upload
                with self.cond:
                    self.outbox.pop(key, None)
                if self.spool is not None:
                    self.spool.remove(key)
                continue
            future = self.uploads.get(key)
            if future is None:
                self.uploads[key] = self.uploader.submit(self.fw.upload, record["id"], record["event"], Path(path))
                with self.cond:
                    self.outbox[key] = (now + 0.05, failures)  # look again shortly
                continue
            if not future.done():
                continue
            self.uploads.pop(key, None)
            try:
                clip = future.result()
            except (OSError, ObjectStoreError) as exc:
                with self.cond:
                    self.outbox[key] = (now + self._backoff(failures + 1), failures + 1)
                log.info("clip of %s still not uploaded (%s); retry %d", record["id"], exc, failures + 1)
                continue
            record["clip"] = clip
            self._call(lambda sink: sink.submit.remote([{"id": record["id"], "event": record["event"], "clip": clip}]),
                       what=f"clip of {record['id']}")  # fmt: skip
            with self.cond:
                self.outbox.pop(key, None)
                self.memory.pop(key, None)
            if self.spool is not None:
                self.spool.remove(key)
            Path(path).unlink(missing_ok=True)
            masked_clip_path(Path(path)).unlink(missing_ok=True)
            log.info("clip of %s uploaded after %d failed attempt(s)", record["id"], failures)

    def _call(self, make_call: Any, *, what: str, retry: bool = True) -> None:
        """Call the sink (`make_call(sink_handle)` returns an ObjectRef) until it succeeds."""
        failures = 0
        while True:
            try:
                sink = ray.get_actor(self.fw.sink_name, namespace=self.fw.namespace)
                ray.get(make_call(sink), timeout=30)
                if failures:
                    log.info("event forwarder: %s stored after %d failed attempt(s)", what, failures)
                return
            except (ray.exceptions.RayError, ValueError) as exc:
                if not retry:
                    return
                failures += 1
                delay = self._backoff(failures)
                if failures == 1 or failures % 20 == 0:
                    log.warning("event forwarder: %s not stored yet (%s); retrying every <= %.1f s", what,
                                str(exc).splitlines()[0][:300], self.fw.retry_max_s)  # fmt: skip
                time.sleep(delay)
