"""Live metrics on `/metrics`: read from the Redis hashes cameras, detector replicas and the event sink write."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import pytest
import redis as redis_lib
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import Engine

from actors.event_sink import EVENTS_TOTAL_KEY
from deployments.api import create_app
from deployments.api.live_metrics import CAMERA_STATS_KEY, DETECTOR_STATS_KEY, install_live_metrics
from deployments.detector import REPLICA_STATS_KEY
from tests.deployments.conftest import make_config

RUN = uuid.uuid4().hex[:6]
CAM, OLD_CAM, REPLICA = f"cam-{RUN}", f"gone-{RUN}", f"replica-{RUN}"


@pytest.fixture(scope="module")
def app(pg_engine: Engine, redis_client: redis_lib.Redis, module_prefix: str) -> FastAPI:
    app = create_app(engine=pg_engine, redis=redis_client, config=make_config(module_prefix))
    install_live_metrics(app.state.metrics, redis_client, stale_after_s=60)
    return app


@pytest.fixture
def stats(redis_client: redis_lib.Redis) -> Iterator[None]:
    """One live camera, one camera that stopped reporting long ago, one detector replica."""
    now = time.time()
    camera = {"fps_in": 25.0, "fps_out": 5.0, "lag_s": 0.25, "dropped_frames": 40, "reconnects": 2, "state": "live", "at": now}
    redis_client.hset(CAMERA_STATS_KEY, mapping={CAM: json.dumps(camera), OLD_CAM: json.dumps(camera | {"at": now - 600})})
    replica = {"batches": 10, "frames": 64, "last_batch_size": 8, "infer_s_total": 1.5, "queue_depth": 3,
               "last_infer_s": 0.12, "at": now}  # fmt: skip
    redis_client.hset(DETECTOR_STATS_KEY, REPLICA, json.dumps(replica))
    redis_client.incrby(EVENTS_TOTAL_KEY, 3)
    yield
    redis_client.hdel(CAMERA_STATS_KEY, CAM, OLD_CAM)
    redis_client.hdel(DETECTOR_STATS_KEY, REPLICA)


def scrape(client: TestClient, headers: dict[str, str]) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def test_detector_key_is_the_one_replicas_write() -> None:
    assert DETECTOR_STATS_KEY == REPLICA_STATS_KEY


def test_scrape_shows_camera_detector_and_event_figures(app: FastAPI, stats: None, admin_headers) -> None:
    with TestClient(app) as client:
        samples = scrape(client, admin_headers)
    cam, rep = (("camera", CAM),), (("replica", REPLICA),)
    assert {name: samples.get((name, cam)) for name in (
        "witness_camera_fps_in", "witness_camera_fps_out", "witness_camera_lag_seconds",
        "witness_camera_dropped_frames_total", "witness_camera_reconnects_total",
    )} == {
        "witness_camera_fps_in": 25.0, "witness_camera_fps_out": 5.0, "witness_camera_lag_seconds": 0.25,
        "witness_camera_dropped_frames_total": 40.0, "witness_camera_reconnects_total": 2.0,
    }  # fmt: skip
    assert samples[("witness_camera_state", (("camera", CAM), ("state", "live")))] == 1.0
    assert {name: samples.get((name, rep)) for name in (
        "witness_detector_batch_size", "witness_detector_inference_seconds", "witness_detector_queue_depth",
        "witness_detector_frames_total",
    )} == {
        "witness_detector_batch_size": 8.0, "witness_detector_inference_seconds": 0.12,
        "witness_detector_queue_depth": 3.0, "witness_detector_frames_total": 64.0,
    }  # fmt: skip
    assert samples[("witness_events_total", ())] >= 3.0
    assert ("witness_camera_fps_in", (("camera", OLD_CAM),)) not in samples  # stopped reporting: left out


def test_scrape_survives_redis_outage(pg_engine: Engine, key_prefix: str) -> None:
    """With Redis down the collector still yields its (empty) families: a scrape never crashes."""
    from prometheus_client import generate_latest

    down = redis_lib.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)  # nothing listens there
    app = create_app(engine=pg_engine, redis=down, config=make_config(key_prefix))
    install_live_metrics(app.state.metrics, down)
    text = generate_latest(app.state.metrics.registry).decode()
    assert "# TYPE witness_camera_fps_in gauge" in text
    assert "witness_api_requests_total" in text


def test_prometheus_scrapes_with_the_static_metrics_token(pg_engine: Engine, redis_client: redis_lib.Redis,
                                                          key_prefix: str) -> None:
    token = "scrape-" + uuid.uuid4().hex
    app = create_app(engine=pg_engine, redis=redis_client, config=make_config(key_prefix, metrics_token=token))
    with TestClient(app) as client:
        assert client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert client.get("/metrics", headers={"Authorization": f"Bearer {token}x"}).status_code == 401
        assert client.get("/metrics").status_code == 401
