"""Hot reload and shadow mode: live intent follows the production stage's version without a restart; staging runs in shadow.

Two tiny stored models (`tests.model_factories`): v0001 calls every window `normal`, v0002 calls
every window `concealment`, so which one a camera runs shows in what it reports.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from actors.behaviour_replica import trajectory_classifier
from actors.intent_watch import LiveIntentWatcher
from actors.model_watch import ModelWatch, StageVersionReader, change_stage
from cluster.settings import TrackerSettings
from domain.assessment import AssessmentParams
from domain.events import EventType
from storage.model_stages import stage_key
from storage.models import ModelStageChange
from storage.objectstore import LocalObjectStore
from tests.actors.test_camera import camera_config, fixed_box_detector, wait_for
from tests.actors.test_intent_watch import CAMERA, SCOPE, WH, feed
from tests.domain.test_assessment import DOOR, PICK, TILL, person
from tests.model_factories import save_constant_model

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> LocalObjectStore:
    s = LocalObjectStore(tmp_path_factory.mktemp("objects"))
    assert [save_constant_model(s, "normal"), save_constant_model(s, "concealment")] == ["v0001", "v0002"]
    return s


@pytest.fixture
def stages(pg_engine: Engine) -> Iterator[redis_lib.Redis]:
    """No stage history and no stage keys before and after; yields a Redis client."""
    client = redis_lib.Redis.from_url(REDIS_URL)

    def clear() -> None:
        with pg_engine.begin() as conn:
            conn.execute(sa.delete(ModelStageChange))
        client.delete(stage_key("behaviour", "production"), stage_key("behaviour", "staging"))

    clear()
    yield client
    clear()
    client.close()


def _change(pg_engine: Engine, store, client, action: str, version: str | None = None, stage: str = "production") -> None:
    with Session(pg_engine) as s:
        _, announced = change_stage(s, store, client, action=action, kind="behaviour", stage=stage, version=version,
                                    actor="tests")  # fmt: skip
    assert announced


def _watcher(**kw) -> LiveIntentWatcher:
    w = LiveIntentWatcher("shop.cam", SCOPE, AssessmentParams(), lost_s=2.0, every_s=0.5, **kw)
    w.configure(CAMERA, WH)
    w.epoch_t0 = 1_700_000_000.0
    return w


def test_promotion_switches_the_running_watcher_and_rollback_returns_the_old_model(
    pg_url: str, pg_engine: Engine, store: LocalObjectStore, stages: redis_lib.Redis,
) -> None:
    _change(pg_engine, store, stages, "promote", "v0001")
    stages.delete(stage_key("behaviour", "production"))  # Redis lost the key: the reader falls back to the database
    watcher = _watcher()
    load = lambda v: trajectory_classifier(store, v, min_confidence=0.6)  # noqa: E731
    watch = ModelWatch("test production", StageVersionReader(REDIS_URL, pg_url), load,
                       lambda model: setattr(watcher, "classify", model), poll_s=0.2)  # fmt: skip
    watch.start()
    try:
        assert watch.version == "v0001" and stages.get(stage_key("behaviour", "production")) == b"v0001"
        events, visits, _ = feed(watcher, person(PICK, DOOR, track_id=1))
        assert [v["model_version"] for v in visits] == ["v0001"]
        assert EventType.CONCEALMENT not in {e.type for e in events}  # v0001 sees nothing but normal
        pose = visits[0]["pose_windows"]
        assert (pose["window"], pose["stride"], len(pose["features"][0])) == (10, 5, 21) and len(pose["bounds_s"]) >= 1

        _change(pg_engine, store, stages, "promote", "v0002")
        t0 = time.monotonic()
        wait_for(lambda: watch.version == "v0002", 10, "the watch to load v0002")
        assert time.monotonic() - t0 < 5.0
        events, visits, _ = feed(watcher, person(PICK, DOOR, track_id=2))  # the same watcher: nothing restarted
        assert [v["model_version"] for v in visits] == ["v0002"]
        assert EventType.CONCEALMENT in {e.type for e in events}  # v0002 calls the same person's windows concealment

        _change(pg_engine, store, stages, "rollback")
        wait_for(lambda: watch.version == "v0001", 10, "the rollback to reach the watch")
        _, visits, _ = feed(watcher, person(PICK, DOOR, track_id=3))
        assert [v["model_version"] for v in visits] == ["v0001"] and watch.reloads == 3
    finally:
        watch.stop()


def test_a_missing_version_keeps_the_model_in_use(pg_url: str, store: LocalObjectStore, stages: redis_lib.Redis) -> None:
    applied = []
    watch = ModelWatch("test", StageVersionReader(REDIS_URL, pg_url), lambda v: trajectory_classifier(store, v, min_confidence=0.6),
                       applied.append, poll_s=0.2)  # fmt: skip
    stages.set(stage_key("behaviour", "production"), "v0001")
    assert watch.check() and watch.version == "v0001"
    stages.set(stage_key("behaviour", "production"), "v0077")  # announced but not in the store
    assert not watch.check() and watch.version == "v0001" and "v0077" in watch.last_error
    assert len(applied) == 1


def test_staging_runs_in_shadow_and_raises_nothing(store: LocalObjectStore) -> None:
    production = trajectory_classifier(store, "v0001", min_confidence=0.6)
    staging = trajectory_classifier(store, "v0002", min_confidence=0.6)
    reported: list[dict] = []
    watcher = _watcher(classify=production, shadow=staging, on_shadow=reported.append)
    events, visits, _ = feed(watcher, person(TILL, DOOR, track_id=4))  # no pickup: nothing of interest
    assert events == [] and visits == []  # the staging model's concealment verdicts raise no event and no visit
    assert reported and watcher.shadow_verdicts == len(reported)
    last = reported[-1]
    assert (last["camera_id"], last["track_id"]) == ("shop.cam", 4)
    assert last["production"] == {"version": "v0001", "verdicts": []}
    assert last["staging"]["version"] == "v0002" and {v["class"] for v in last["staging"]["verdicts"]} == {"concealment"}

    from actors.live_io import SHADOW_KEY, RedisPublisher

    client = redis_lib.Redis.from_url(REDIS_URL)
    before = client.llen(SHADOW_KEY)
    RedisPublisher(REDIS_URL, "shop.cam")("shadow_verdict", last)  # what the camera actor's publisher does with it
    assert client.llen(SHADOW_KEY) == before + 1 and json.loads(client.lindex(SHADOW_KEY, 0))["staging"] == last["staging"]
    client.lpop(SHADOW_KEY)
    client.close()

    quiet = _watcher(classify=production, shadow=None, on_shadow=reported.append)
    events, _, _ = feed(quiet, person(PICK, DOOR, track_id=5))
    assert EventType.CONCEALMENT not in {e.type for e in events}  # with production alone: as before


@pytest.fixture(scope="module")
def local_ray() -> Iterator[object]:
    import ray

    from cluster.settings import Settings

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": Settings().runtime_env_vars()})
    yield ray
    ray.shutdown()


def test_a_running_camera_actor_switches_model_without_restarting(
    local_ray, pg_url: str, pg_engine: Engine, store: LocalObjectStore, stages: redis_lib.Redis, vtest_path: Path,
    tmp_path: Path,
) -> None:
    ray = local_ray
    from actors.camera_actor import CameraActor

    _change(pg_engine, store, stages, "promote", "v0001")
    _change(pg_engine, store, stages, "promote", "v0002", stage="staging")
    camera = camera_config(str(vtest_path), rules=False,
                           zones={"door": {"polygon": [[0.8, 0], [1, 0], [1, 1], [0.8, 1]], "kind": "exit"}})
    actor = CameraActor.remote(
        "reload-cam", camera.model_dump(), fixed_box_detector([[0.3, 0.2, 0.4, 0.8]]), detection_fps=2,
        tracker_params=TrackerSettings(), clips_dir=str(tmp_path), intent=AssessmentParams(), on_visit=lambda v: None,
        behaviour={"model_version": "production", "shadow": True, "store": store, "redis_url": REDIS_URL,
                   "database_url": pg_url, "reload_poll_s": 0.3, "min_confidence": 0.6},
    )  # fmt: skip
    status = lambda: ray.get(actor.status.remote(), timeout=30)  # noqa: E731
    wait_for(lambda: status()["state"] == "streaming", 60, "the camera to stream")
    first = status()
    assert first["behaviour_models"] == {"production": "v0001", "shadow": "v0002"}
    _change(pg_engine, store, stages, "promote", "v0002")
    wait_for(lambda: status()["behaviour_models"]["production"] == "v0002", 10, "the camera to switch to v0002")
    _change(pg_engine, store, stages, "rollback")
    wait_for(lambda: status()["behaviour_models"]["production"] == "v0001", 10, "the rollback to reach the camera")
    last = status()
    assert last["session_id"] == first["session_id"] and last["running"] and last["state"] == "streaming"
    assert last["last_frame_at"] > first["last_frame_at"]  # it kept streaming through both switches
    ray.get(actor.stop.remote(), timeout=60)
    ray.kill(actor)
