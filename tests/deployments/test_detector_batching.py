"""Cross-camera batching in the detector deployment: real Serve on a local Ray, the real model, real Redis.

Two cameras send frames at the same moment; the replica's `@serve.batch` must run them as one
forward pass (a batch holding frames of both cameras), hand each camera back its own frames'
detections, and report the batch-size histogram that `/metrics` exposes.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
import redis as redis_lib
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from cluster.settings import Settings
from deployments.api.live_metrics import DETECTOR_STATS_KEY, LiveMetricsCollector
from deployments.detector import BATCH_FRAMES_BUCKETS, histogram_state
from tests.deployments.conftest import DEFAULT_REDIS_URL

REDIS_URL = os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS_URL)


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for s in family.samples
    }


def test_replica_histograms_reach_metrics_as_prometheus_histograms(redis_client: redis_lib.Redis):
    """A replica's prometheus-client histogram, shipped through Redis, is a histogram on `/metrics` again."""
    own = Histogram("batch_frames", "frames", buckets=BATCH_FRAMES_BUCKETS, registry=CollectorRegistry())
    for size in (1, 3, 3, 8):
        own.observe(size)
    replica = f"replica-{uuid.uuid4().hex[:8]}"
    stats = {"batches": 4, "frames": 15, "backend": "openvino", "precision": "fp32", "backend_fallback": 0,
             "batch_frames_hist": histogram_state(own), "at": time.time()}
    redis_client.hset(DETECTOR_STATS_KEY, replica, json.dumps(stats))
    try:
        registry = CollectorRegistry()
        registry.register(LiveMetricsCollector(redis_client))
        samples = _samples(registry)
    finally:
        redis_client.hdel(DETECTOR_STATS_KEY, replica)
    rep = ("replica", replica)
    bucket = lambda le: samples[("witness_detector_batch_frames_bucket", tuple(sorted([rep, ("le", le)])))]  # noqa: E731
    assert (bucket("1.0"), bucket("2.0"), bucket("3.0"), bucket("8.0"), bucket("+Inf")) == (1, 1, 3, 4, 4)
    assert samples[("witness_detector_batch_frames_sum", (rep,))] == 15
    assert samples[("witness_detector_batch_frames_count", (rep,))] == 4
    assert samples[("witness_detector_backend", tuple(sorted([rep, ("backend", "openvino"), ("precision", "fp32")])))] == 1
    assert samples[("witness_detector_backend_fallback", (rep,))] == 0


@pytest.fixture(scope="module")
def detector(model_export_dir: Path) -> Iterator[object]:
    """The `PoseDetector` deployment alone on a local Ray (2 CPUs), batching up to 8 frames within 0.5 s."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray
    from ray import serve

    from deployments.detector import PoseDetector

    settings = Settings()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             namespace=f"detector-test-{uuid.uuid4().hex[:6]}", runtime_env={"env_vars": settings.runtime_env_vars()})
    try:
        serve.start(http_options={"location": "NoServer"})
        replica = dict(imgsz=960, torch_threads=1, export_dir=str(model_export_dir))
        app = PoseDetector.options(
            ray_actor_options={"num_cpus": 1}, user_config={"max_batch_size": 8, "batch_wait_timeout_s": 0.5},
        ).bind(replica, REDIS_URL)
        yield serve.run(app, name="detector-test", route_prefix=None)
        serve.shutdown()
    finally:
        ray.shutdown()


@pytest.mark.slow  # ~40 s: Ray, Serve and the real model
def test_frames_of_two_cameras_share_one_forward_pass(detector, vtest_path: Path, redis_client: redis_lib.Redis):
    cap = cv2.VideoCapture(str(vtest_path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 100)
    people = [cap.read()[1] for _ in range(3)]
    cap.release()
    empty = [np.zeros_like(people[0]) for _ in range(3)]  # a camera looking at a dark, empty shop
    detector.predict.remote(people[:1], source="warm-up").result(timeout_s=120)  # load and compile first
    before = detector.snapshot.remote().result()

    with ThreadPoolExecutor(2) as pool:  # both cameras call at the same moment, as camera actors do
        calls = {cam: pool.submit(lambda c=cam, f=frames: detector.predict.remote(f, source=c).result(timeout_s=120))
                 for cam, frames in (("entrance", people), ("stockroom", empty))}
        results = {cam: call.result() for cam, call in calls.items()}

    assert [len(d) for d in results["stockroom"]] == [0, 0, 0]  # each camera gets its own frames' detections
    assert all(len(d) >= 2 for d in results["entrance"])
    after = detector.snapshot.remote().result()
    new = after["batches"] - before["batches"]
    assert after["frames"] - before["frames"] == 6 and 1 <= new < 6  # fewer forward passes than frames
    assert after["multi_camera_batches"] > before["multi_camera_batches"]
    recent = detector.batch_cameras.remote().result()[-new:]
    assert any({"entrance", "stockroom"} <= set(batch) for batch in recent)
    hist = dict(after["batch_frames_hist"]["buckets"])
    assert hist["+Inf"] == after["batches"] and after["batch_frames_hist"]["sum"] == after["frames"]
    assert after["backend"] == "openvino" and after["backend_fallback"] == 0  # the CPU default, not a fallback

    deadline = time.monotonic() + 10  # the replica reports to Redis at most once a second
    while time.monotonic() < deadline:
        reported = [json.loads(v) for v in redis_client.hvals(DETECTOR_STATS_KEY)]
        if any(r.get("multi_camera_batches", 0) >= after["multi_camera_batches"] for r in reported):
            break
        detector.predict.remote(empty[:1], source="stockroom").result(timeout_s=60)
        time.sleep(1.1)
    else:
        pytest.fail("the replica never reported its batches to Redis")
    registry = CollectorRegistry()
    registry.register(LiveMetricsCollector(redis_client))
    try:
        families = {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}
    finally:
        redis_client.hdel(DETECTOR_STATS_KEY, after["replica_id"])
    assert families["witness_detector_batch_frames"].type == "histogram"
    assert any(s.name == "witness_detector_batch_frames_bucket" and s.value > 0
               for s in families["witness_detector_batch_frames"].samples)
