"""The detection + pose model as a Ray Serve deployment, batching frames across cameras.

It wraps the same `PoseReplica` that bulk jobs use in Ray Data (so the same backend layer picks
the runtime: OpenVINO on CPU nodes, TensorRT on NVIDIA GPU nodes); only the batching differs.
Frames from every camera wait together for up to `batch_wait_timeout_s` and run as one forward
pass of up to `max_batch_size` frames. Batching knobs are `user_config` (`max_batch_size`,
`batch_wait_timeout_s`), so operators retune them in the serve config without a redeploy. Each
replica reports its statistics (batch sizes and cameras per batch as histograms, inference
latency, queue depth, the backend in use) to Redis so every ingress replica can expose them on
`/metrics`.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import deque
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Histogram
from ray import serve
from ray.serve.config import RequestRouterConfig

from actors.pose_replica import FrameDetections, PoseReplica

__all__ = ["PoseDetector", "REPLICA_STATS_KEY", "BATCH_FRAMES_BUCKETS", "BATCH_CAMERAS_BUCKETS", "histogram_state"]

REPLICA_STATS_KEY = "witness:metrics:detector"  # Redis hash: replica id -> JSON stats
BATCH_FRAMES_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64)  # frames per forward pass
BATCH_CAMERAS_BUCKETS = (1, 2, 3, 4, 6, 8, 16, 32)  # distinct cameras per forward pass


def histogram_state(histogram: Histogram) -> dict[str, Any]:
    """A prometheus-client `Histogram`'s cumulative buckets and sum, as JSON-ready data.

    Returns:
        `{"buckets": [[upper_bound, cumulative_count], …], "sum": float}` with `"+Inf"` as the last bound.
    """
    buckets: list[list[Any]] = []
    total = 0.0
    for metric in histogram.collect():
        for sample in metric.samples:
            if sample.name.endswith("_bucket"):
                buckets.append([sample.labels["le"], sample.value])
            elif sample.name.endswith("_sum"):
                total = sample.value
    return {"buckets": buckets, "sum": total}


@serve.deployment(name="PoseDetector", max_ongoing_requests=256, ray_actor_options={"num_cpus": 1},
                  request_router_config=RequestRouterConfig(request_router_class="deployments.routing.NodeLocalRouter"))
class PoseDetector:
    """Serve deployment: `await handle.predict.remote(frames, source=camera_id)` → one `FrameDetections` per frame.

    Args:
        replica_kwargs: keyword arguments of `PoseReplica` (weights, imgsz, conf, backend, …).
        redis_url: where to report replica statistics (`None`: not reported).
        store_kwargs: `storage.objectstore.open_object_store` arguments; the object store shares
            model exports between nodes (`None`: this node's export cache only).
    """

    def __init__(self, replica_kwargs: dict[str, Any], redis_url: str | None = None,
                 store_kwargs: dict[str, Any] | None = None) -> None:
        store = None
        if store_kwargs:
            from storage.objectstore import open_object_store

            store = open_object_store(**store_kwargs)
            replica_kwargs = {"fetch": getattr(store, "download_uri", None)} | replica_kwargs
        self.replica = PoseReplica(**replica_kwargs, store=store)
        self.replica_id = serve.get_replica_context().replica_id.unique_id if _in_serve() else str(os.getpid())
        self._redis = None
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
        health = self.replica.health
        self.stats: dict[str, Any] = {
            "batches": 0, "frames": 0, "last_batch_size": 0, "infer_s_total": 0.0, "queue_depth": 0,
            "last_infer_s": 0.0, "multi_camera_batches": 0, "backend": health.backend,
            "precision": health.precision, "compute": health.compute or health.precision,
            "backend_fallback": int(health.fallback), "backend_reason": health.reason,
            "node_id": _node_id(),
        }
        registry = CollectorRegistry()  # private: only this replica's figures, shipped through Redis
        self._batch_frames = Histogram("witness_detector_batch_frames", "Frames per forward pass",
                                       buckets=BATCH_FRAMES_BUCKETS, registry=registry)
        self._batch_cameras = Histogram("witness_detector_batch_cameras", "Distinct cameras per forward pass",
                                        buckets=BATCH_CAMERAS_BUCKETS, registry=registry)
        self.recent_batches: deque[list[str]] = deque(maxlen=64)  # camera ids of the latest batches
        self._waiting = 0
        self._last_report = 0.0

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        """Apply `max_batch_size` / `batch_wait_timeout_s` from the serve config's `user_config`."""
        if "max_batch_size" in user_config:
            self.predict_batch.set_max_batch_size(int(user_config["max_batch_size"]))
        if "batch_wait_timeout_s" in user_config:
            self.predict_batch.set_batch_wait_timeout_s(float(user_config["batch_wait_timeout_s"]))

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.02)
    async def predict_batch(self, items: list[tuple[np.ndarray, str]]) -> list[FrameDetections]:
        """One forward pass over the frames waiting from every camera: `(frame, camera_id)` in, detections out."""
        frames = [frame for frame, _ in items]
        sources = [source for _, source in items]
        started = time.perf_counter()
        result = await asyncio.to_thread(self.replica.predict, frames)
        elapsed = time.perf_counter() - started
        cameras = len(set(sources))
        s = self.stats
        s["batches"] += 1
        s["frames"] += len(frames)
        s["last_batch_size"] = len(frames)
        s["infer_s_total"] += elapsed
        s["last_infer_s"] = elapsed
        s["multi_camera_batches"] += int(cameras > 1)
        self._batch_frames.observe(len(frames))
        self._batch_cameras.observe(cameras)
        self.recent_batches.append(sources)
        self._report()
        return result

    async def predict(self, frames: list[np.ndarray], source: str = "") -> list[FrameDetections]:
        """Detect people in BGR frames `(H, W, 3)` uint8 from camera `source`; each frame joins the cross-camera batch."""
        self._waiting += len(frames)
        self.stats["queue_depth"] = self._waiting
        try:
            return list(await asyncio.gather(*(self.predict_batch((f, source)) for f in frames)))
        finally:
            self._waiting -= len(frames)

    def batch_cameras(self) -> list[list[str]]:
        """The camera id of every frame in each of the latest (up to 64) batches, oldest first."""
        return [list(batch) for batch in self.recent_batches]

    def snapshot(self) -> dict[str, Any]:
        """The statistics as reported to Redis (histograms included), with this replica's id, its Ray `node_id`
        and `recent_cameras` (the cameras of its latest batches: with placement, only cameras on its node)."""
        return self.stats | {
            "replica_id": self.replica_id,
            "recent_cameras": sorted({c for batch in self.recent_batches for c in batch if c}),
            "batch_frames_hist": histogram_state(self._batch_frames),
            "batch_cameras_hist": histogram_state(self._batch_cameras),
            "at": time.time(),
        }

    def _report(self) -> None:
        now = time.monotonic()
        if self._redis is None or now - self._last_report < 1.0:
            return
        self._last_report = now
        import redis

        try:
            self._redis.hset(REPLICA_STATS_KEY, self.replica_id, json.dumps(self.snapshot()))
        except redis.RedisError:  # metrics must never break inference
            pass


def _node_id() -> str | None:
    import ray

    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None


def _in_serve() -> bool:
    from ray.serve.exceptions import RayServeException

    try:
        serve.get_replica_context()
        return True
    except RayServeException:  # outside a Serve replica (e.g. a unit test)
        return False
