"""What a camera actor sends out: tracking updates and health on Redis, events to the event sink.

Both are small picklable callables (they travel to the camera actor's process and open their
connections there on first use).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from pathlib import Path
from typing import Any

import ray

from actors.event_sink import SINK_NAME
from domain.events import Event
from domain.privacy import masked_key
from storage.objectstore import ObjectStoreError

__all__ = ["RedisPublisher", "EventForwarder", "CAMERAS_METRICS_KEY", "HEALTH_CHANNEL", "tracking_channel"]

log = logging.getLogger(__name__)

CAMERAS_METRICS_KEY = "witness:metrics:cameras"  # Redis hash: camera id -> JSON health (fps_in, fps_out, lag_s, …)
HEALTH_CHANNEL = "witness:health"


def tracking_channel(camera_id: str) -> str:
    """Redis channel of one camera's `tracking_update` messages."""
    return f"witness:tracking:{camera_id}"


class RedisPublisher:
    """`publisher(kind, payload)` for `CameraActor`: tracking updates and health go to Redis.

    `tracking_update` → channel `witness:tracking:{camera_id}`; `camera_health` → channel
    `witness:health` (only when the state changed) and always the metrics hash `witness:metrics:cameras`.
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
        except redis.RedisError as exc:  # a Redis outage must not stop the camera
            log.warning("camera %s: publish failed: %s", self.camera_id, exc)


class EventForwarder:
    """`on_event(event_id, event, clip_path)` for `CameraActor`: upload the clip, then hand the event
    to the event sink, on a background thread, retrying until the sink has committed it.

    Args:
        store: the object store for clips (picklable: local folder or S3).
        namespace: Ray namespace of the named event sink.
        clip_prefix: object-store key prefix of live clips.
    """

    def __init__(self, store: Any, namespace: str, clip_prefix: str = "clips/live") -> None:
        self.store, self.namespace, self.clip_prefix = store, namespace, clip_prefix
        self._queue: queue.Queue | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"store": self.store, "namespace": self.namespace, "clip_prefix": self.clip_prefix, "_queue": None}

    def __call__(self, event_id: str, event: Event, clip_path: Path | None) -> None:
        self._put((event_id, event, clip_path))

    def visit(self, record: dict[str, Any]) -> None:
        """Hand a finished visit (`actors.intent_watch.visit_record`) to the sink's `assess`, after
        the events queued before it."""
        self._put((None, record, None))

    def _put(self, item: tuple) -> None:
        if self._queue is None:
            self._queue = queue.Queue()
            threading.Thread(target=self._drain, name="event-forwarder", daemon=True).start()
        self._queue.put(item)

    def pending(self) -> int:
        """Events not yet committed by the sink."""
        return 0 if self._queue is None else self._queue.qsize()

    def _drain(self) -> None:
        assert self._queue is not None
        while True:
            event_id, event, clip_path = self._queue.get()
            item: dict[str, Any] = {"id": event_id, "event": event, "clip": None}
            if event_id is not None and clip_path is not None and Path(clip_path).exists():
                item["clip"] = self._upload(event_id, event, Path(clip_path))
            delay = 0.5
            while True:  # the sink may be restarting: keep the event until it is stored
                try:
                    sink = ray.get_actor(SINK_NAME, namespace=self.namespace)
                    call = sink.submit.remote([item]) if event_id is not None else sink.assess.remote(event)
                    ray.get(call, timeout=30)
                    break
                except (ray.exceptions.RayError, ValueError) as exc:
                    log.warning("event %s not stored yet (%s); retrying in %.1f s", event_id, exc, delay)
                    time.sleep(delay)
                    delay = min(delay * 2, 10.0)

    def _upload(self, event_id: str, event: Event, path: Path) -> dict[str, Any] | None:
        import cv2

        key = f"{self.clip_prefix}/{event.camera_id}/{event_id}.mp4"
        try:
            size = self.store.put_file(key, path, "video/mp4")
            masked = path.with_name(f"{path.stem}.masked.mp4")  # the copy non-admin users get (`write_clip`)
            if masked.exists():
                self.store.put_file(masked_key(key), masked, "video/mp4")
                masked.unlink(missing_ok=True)
        except (OSError, ObjectStoreError) as exc:  # the event is still stored, without its clip
            log.warning("clip upload of %s failed: %s", event_id, exc)
            return None
        cap = cv2.VideoCapture(str(path))
        frames, fps = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), float(cap.get(cv2.CAP_PROP_FPS) or 0)
        width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        cap.release()
        path.unlink(missing_ok=True)
        return {"event_id": event_id, "key": key, "t_start_s": float(event.t_start_s), "t_end_s": float(event.t_end_s),
                "frame_count": frames, "fps": fps, "width": width, "height": height, "size_bytes": size,
                "content_type": "video/mp4"}
