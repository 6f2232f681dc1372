"""Live-system metrics on `/metrics`, read from Redis at scrape time.

Cameras, detector replicas and the event sink run in other processes; they write their figures to
Redis and every ingress replica reports the same cluster-wide values:

- `witness:metrics:detector` (`deployments.detector.REPLICA_STATS_KEY`), a hash written by each
  `PoseDetector` replica: field = replica id, value = JSON with `last_batch_size`,
  `last_infer_s`, `queue_depth`, `frames`, `batches`, `infer_s_total`, `multi_camera_batches`,
  `backend`, `precision`, `backend_fallback`, the histograms `batch_frames_hist` /
  `batch_cameras_hist` (`deployments.detector.histogram_state`), `at`.
- `witness:metrics:cameras` (`CAMERA_STATS_KEY`), a hash written by the camera manager: field =
  camera id, value = JSON with the fields of `CAMERA_STATS_FIELDS`. Remove a camera's field
  (`HDEL`) when it is deleted.
- `witness:metrics:events_total` (`actors.event_sink.EVENTS_TOTAL_KEY`), a counter the event sink
  increments by the number of events it stores.

Entries whose `at` is older than `stale_after_s` are left out (a replica or camera that died).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from redis import Redis
from redis.exceptions import RedisError

from actors.event_sink import EVENTS_TOTAL_KEY
from deployments.api.metrics import ApiMetrics

__all__ = ["CAMERA_STATS_KEY", "CAMERA_STATS_FIELDS", "DETECTOR_STATS_KEY", "LiveMetricsCollector", "install_live_metrics"]

log = logging.getLogger(__name__)

DETECTOR_STATS_KEY = "witness:metrics:detector"  # = deployments.detector.REPLICA_STATS_KEY (a test checks it)
CAMERA_STATS_KEY = "witness:metrics:cameras"
CAMERA_STATS_FIELDS: dict[str, str] = {
    "fps_in": "frames/s read from the source",
    "fps_out": "frames/s analysed (detector + tracker)",
    "lag_s": "capture-to-publish delay of the latest analysed frame (s)",
    "dropped_frames": "frames skipped since the camera started (counter)",
    "reconnects": "reconnections to the source since the camera started (counter)",
    "state": "health state: starting, live, reconnecting, error, stopped",
    "at": "epoch seconds of this report",
}

# (metric, help, JSON field, counter?) per source
_CAMERA = [
    ("witness_camera_fps_in", "Frames/s read from the camera", "fps_in", False),
    ("witness_camera_fps_out", "Frames/s analysed", "fps_out", False),
    ("witness_camera_lag_seconds", "Capture-to-publish delay of the latest frame (s)", "lag_s", False),
    ("witness_camera_dropped_frames", "Frames skipped", "dropped_frames", True),
    ("witness_camera_reconnects", "Reconnections to the source", "reconnects", True),
]
_DETECTOR = [
    ("witness_detector_batch_size", "Frames in the replica's latest batch", "last_batch_size", False),
    ("witness_detector_inference_seconds", "Inference time of the replica's latest batch (s)", "last_infer_s", False),
    ("witness_detector_queue_depth", "Frames waiting at the replica", "queue_depth", False),
    ("witness_detector_frames", "Frames analysed by the replica", "frames", True),
    ("witness_detector_batches", "Batches run by the replica", "batches", True),
    ("witness_detector_busy_seconds", "Time the replica spent in inference (s)", "infer_s_total", True),
    ("witness_detector_multi_camera_batches", "Forward passes that held frames of more than one camera",
     "multi_camera_batches", True),
    ("witness_detector_backend_fallback", "1 when PyTorch stands in for the inference backend asked for",
     "backend_fallback", False),
]
# (metric, help, JSON field): histograms a replica keeps as `{"buckets": [[le, cumulative], …], "sum": s}`
_DETECTOR_HISTOGRAMS = [
    ("witness_detector_batch_frames", "Frames per forward pass (cross-camera batching)", "batch_frames_hist"),
    ("witness_detector_batch_cameras", "Distinct cameras per forward pass", "batch_cameras_hist"),
]


def _family(name: str, doc: str, counter: bool, labels: list[str]) -> Metric:
    cls = CounterMetricFamily if counter else GaugeMetricFamily
    return cls(name, doc, labels=labels)


class LiveMetricsCollector(Collector):
    """Prometheus collector reading the live figures from Redis at each scrape.

    Args:
        redis: client on the Redis the cameras, replicas and sink write to.
        stale_after_s: leave out entries reported longer ago than this.
    """

    def __init__(self, redis: Redis, *, stale_after_s: float = 120.0) -> None:
        self.redis = redis
        self.stale_after_s = stale_after_s

    def describe(self) -> Iterable[Metric]:
        """The metric names (without reading Redis), so registering checks for clashes cheaply."""
        yield from self._families().values()

    def collect(self) -> Iterable[Metric]:
        """Read Redis and yield every family (empty ones when Redis is down)."""
        families = self._families()
        try:
            cameras = self._entries(self.redis.hgetall(CAMERA_STATS_KEY))
            replicas = self._entries(self.redis.hgetall(DETECTOR_STATS_KEY))
            events = self.redis.get(EVENTS_TOTAL_KEY)
        except RedisError as exc:  # a scrape must not fail because Redis is away
            log.warning("live metrics: Redis unavailable: %s", exc)
            yield from families.values()
            return
        for camera, stats in cameras:
            for name, _, field, _ in _CAMERA:
                if isinstance(stats.get(field), (int, float)):
                    families[name].add_metric([camera], float(stats[field]))
            if isinstance(stats.get("state"), str):
                families["witness_camera_state"].add_metric([camera, stats["state"]], 1.0)
        for replica, stats in replicas:
            for name, _, field, _ in _DETECTOR:
                if isinstance(stats.get(field), (int, float)):
                    families[name].add_metric([replica], float(stats[field]))
            for name, _, field in _DETECTOR_HISTOGRAMS:
                hist = stats.get(field)
                if isinstance(hist, dict) and isinstance(hist.get("buckets"), list):
                    buckets = [(str(le), float(n)) for le, n in hist["buckets"]]
                    families[name].add_metric([replica], buckets=buckets, sum_value=float(hist.get("sum", 0.0)))
            if isinstance(stats.get("backend"), str):
                families["witness_detector_backend"].add_metric(
                    [replica, stats["backend"], str(stats.get("precision", ""))], 1.0)
        families["witness_events"].add_metric([], float(events or 0))
        yield from families.values()

    def _families(self) -> dict[str, Metric]:
        families = {n: _family(n, d, c, ["camera"]) for n, d, _, c in _CAMERA}
        families |= {n: _family(n, d, c, ["replica"]) for n, d, _, c in _DETECTOR}
        families |= {n: HistogramMetricFamily(n, d, labels=["replica"]) for n, d, _ in _DETECTOR_HISTOGRAMS}
        families["witness_detector_backend"] = GaugeMetricFamily(
            "witness_detector_backend", "1 for the inference backend and precision the replica runs",
            labels=["replica", "backend", "precision"],
        )
        families["witness_camera_state"] = GaugeMetricFamily(
            "witness_camera_state", "1 for the camera's current health state", labels=["camera", "state"]
        )
        families["witness_events"] = CounterMetricFamily("witness_events", "Live events stored by the event sink")
        return families

    def _entries(self, raw: dict[bytes, bytes]) -> Iterator[tuple[str, dict[str, Any]]]:
        now = time.time()
        for key, value in sorted(raw.items()):
            try:
                stats = json.loads(value)
            except ValueError:
                continue
            if not isinstance(stats, dict):
                continue
            at = stats.get("at")
            if isinstance(at, (int, float)) and now - at > self.stale_after_s:
                continue
            yield key.decode() if isinstance(key, bytes) else str(key), stats


def install_live_metrics(metrics: ApiMetrics, redis: Redis, *, stale_after_s: float = 120.0) -> LiveMetricsCollector:
    """Register a `LiveMetricsCollector` on the app's registry (e.g. `app.state.metrics`)."""
    collector = LiveMetricsCollector(redis, stale_after_s=stale_after_s)
    metrics.registry.register(collector)
    return collector
