"""The detection + pose model as a Ray Serve deployment, batching frames across cameras.

It wraps the same `PoseReplica` that bulk jobs use in Ray Data; only the batching differs. Batching
knobs are `user_config` (`max_batch_size`, `batch_wait_timeout_s`), so operators retune them in the
serve config without a redeploy. Each replica reports its statistics (batch sizes, inference
latency, queue depth) to Redis so every ingress replica can expose them on `/metrics`.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

import numpy as np
from ray import serve

from actors.pose_replica import FrameDetections, PoseReplica

__all__ = ["PoseDetector", "REPLICA_STATS_KEY"]

REPLICA_STATS_KEY = "witness:metrics:detector"  # Redis hash: replica id -> JSON stats


@serve.deployment(name="PoseDetector", max_ongoing_requests=256, ray_actor_options={"num_cpus": 1})
class PoseDetector:
    """Serve deployment: `await handle.predict.remote(frames)` → one `FrameDetections` per frame.

    Args:
        replica_kwargs: keyword arguments of `PoseReplica` (weights, imgsz, conf, device, …).
        redis_url: where to report replica statistics (`None`: not reported).
    """

    def __init__(self, replica_kwargs: dict[str, Any], redis_url: str | None = None) -> None:
        self.replica = PoseReplica(**replica_kwargs)
        self.replica_id = serve.get_replica_context().replica_id.unique_id if _in_serve() else str(os.getpid())
        self._redis = None
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self.stats = {"batches": 0, "frames": 0, "last_batch_size": 0, "infer_s_total": 0.0, "queue_depth": 0,
                      "last_infer_s": 0.0}
        self._waiting = 0
        self._last_report = 0.0

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        """Apply `max_batch_size` / `batch_wait_timeout_s` from the serve config's `user_config`."""
        if "max_batch_size" in user_config:
            self.predict_batch.set_max_batch_size(int(user_config["max_batch_size"]))
        if "batch_wait_timeout_s" in user_config:
            self.predict_batch.set_batch_wait_timeout_s(float(user_config["batch_wait_timeout_s"]))

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.02)
    async def predict_batch(self, frames: list[np.ndarray]) -> list[FrameDetections]:
        """Batched inference over the frames waiting from every camera (a list in, a list of the same length out)."""
        started = time.perf_counter()
        result = await asyncio.to_thread(self.replica.predict, frames)
        elapsed = time.perf_counter() - started
        s = self.stats
        s["batches"] += 1
        s["frames"] += len(frames)
        s["last_batch_size"] = len(frames)
        s["infer_s_total"] += elapsed
        s["last_infer_s"] = elapsed
        self._report()
        return result

    async def predict(self, frames: list[np.ndarray]) -> list[FrameDetections]:
        """Detect people in BGR frames `(H, W, 3)` uint8; each frame joins the cross-camera batch."""
        self._waiting += len(frames)
        self.stats["queue_depth"] = self._waiting
        try:
            return list(await asyncio.gather(*(self.predict_batch(f) for f in frames)))
        finally:
            self._waiting -= len(frames)

    def _report(self) -> None:
        now = time.monotonic()
        if self._redis is None or now - self._last_report < 1.0:
            return
        self._last_report = now
        import redis

        try:
            self._redis.hset(REPLICA_STATS_KEY, self.replica_id, json.dumps(self.stats | {"at": time.time()}))
        except redis.RedisError:  # metrics must never break inference
            pass


def _in_serve() -> bool:
    from ray.serve.exceptions import RayServeException

    try:
        serve.get_replica_context()
        return True
    except RayServeException:  # outside a Serve replica (e.g. a unit test)
        return False
