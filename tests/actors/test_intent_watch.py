"""Live intent: the per-camera watcher (no Ray) and the event sink scoring finished visits (Ray + PostgreSQL + Redis)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from decimal import Decimal

import numpy as np
import pytest
import redis as redis_lib

from actors.intent_watch import LiveIntentWatcher
from domain.assessment import AssessmentParams
from domain.events import EventType, event_id
from domain.pos import LineItem, PaymentMethod, Transaction
from domain.site import CameraConfig, ZoneConfig
from domain.tracks import Trajectory
from storage import crud
from storage import pos as pos_repo
from storage.db import session_scope
from tests.domain.test_assessment import DOOR, PICK, TILL, ZONES, person

WH = (640, 480)
SCOPE = "live/shop.cam/session-1"
CAMERA = CameraConfig(zones={z.name: ZoneConfig(**z.config.model_dump()) for z in ZONES})


def feed(watcher: LiveIntentWatcher, traj: Trajectory, *, idle_frames: int = 40, fps: float = 10.0):
    """Feed one person frame by frame, then empty frames until the track is lost."""
    events, visits, first_pickup_at = [], [], None
    for i in range(len(traj)):
        new, done = watcher.update(int(traj.frame_index[i]), float(traj.t_s[i]), [traj.track_id], traj.xyxy[i:i + 1],
                                   traj.confidence[i:i + 1], traj.keypoints[i:i + 1])
        events += new
        visits += done
        if first_pickup_at is None and any(e.type is EventType.PICKUP for e in new):
            first_pickup_at = float(traj.t_s[i])
    frame, t = int(traj.frame_index[-1]), float(traj.t_s[-1])
    for k in range(1, idle_frames + 1):
        new, done = watcher.update(frame + k, t + k / fps, [], np.zeros((0, 4)), [], None)
        events += new
        visits += done
    return events, visits, first_pickup_at


def make_watcher() -> LiveIntentWatcher:
    w = LiveIntentWatcher("shop.cam", SCOPE, AssessmentParams(), lost_s=2.0, every_s=0.5)
    w.configure(CAMERA, WH)
    w.epoch_t0 = 1_700_000_000.0
    return w


def test_pickups_are_dispatched_while_the_person_is_still_in_view() -> None:
    traj = person(PICK, DOOR)
    events, visits, first_pickup_at = feed(make_watcher(), traj)
    assert first_pickup_at is not None and first_pickup_at < traj.t_s[-1]  # not only when the track ends
    assert sorted(e.type.value for e in events) == ["bypass", "pickup"]
    assert [v["track_id"] for v in visits] == [1]
    visit = visits[0]
    assert visit["epoch_t0"] == 1_700_000_000.0 and visit["camera_id"] == "shop.cam"
    assert [p.sku for p in visit["evidence"].pickups] == ["CHOC001"]
    # the ids recorded for the visit are those the camera loop gives the dispatched events
    assert visit["event_ids"] == [event_id(SCOPE, e) for e in events]


def test_a_person_without_pickups_finishes_no_visit() -> None:
    events, visits, _ = feed(make_watcher(), person(TILL, DOOR))
    assert events == [] and visits == []


def test_a_camera_without_intent_zones_is_idle() -> None:
    w = LiveIntentWatcher("shop.cam", SCOPE, AssessmentParams())
    w.configure(CameraConfig(zones={"walk": ZoneConfig(polygon=[[0, 0], [1, 0], [1, 1]])}), WH)
    assert not w.active
    assert feed(w, person(PICK, DOOR))[:2] == ([], [])


def test_finish_all_ends_every_track() -> None:
    w = make_watcher()
    traj = person(PICK, DOOR)
    for i in range(len(traj)):
        w.update(i, float(traj.t_s[i]), [1], traj.xyxy[i:i + 1], traj.confidence[i:i + 1], traj.keypoints[i:i + 1])
    _, visits = w.finish_all()
    assert [v["track_id"] for v in visits] == [1]
    assert w.finish_all() == ([], [])


# ------------------------------------------------------------------------ event sink (Ray)
@pytest.fixture(scope="module")
def ray_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    import ray

    from cluster.runtime import init_ray
    from cluster.settings import Settings

    started = not ray.is_initialized()
    init_ray(Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("ray"), ray_num_cpus=2))
    yield
    if started:
        ray.shutdown()


def tx(tx_id: str, t_s: float, sku: str, camera_id: str = "shop.cam") -> Transaction:
    return Transaction(tx_id, "till-1", (LineItem(sku, 1, Decimal("2.99")),), Decimal("2.99"), PaymentMethod.CARD,
                       t_s, t_s + 1.0, camera_id, "till")


def test_event_sink_scores_visits_against_stored_transactions(ray_local, pg_url, pg_engine, tmp_path) -> None:
    import ray

    from actors.behaviour_replica import trajectory_classifier
    from actors.event_sink import EventSink
    from storage.objectstore import LocalObjectStore
    from tests.model_factories import save_constant_model

    redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    client = redis_lib.Redis.from_url(redis_url)
    sub = client.pubsub()
    sub.subscribe("witness:alerts")
    t0 = time.time() - 60.0  # the camera session began a minute ago
    w = LiveIntentWatcher("shop.cam", SCOPE + str(t0), AssessmentParams(), lost_s=2.0, every_s=0.5)
    w.configure(CAMERA, WH)
    w.epoch_t0 = t0
    store = LocalObjectStore(tmp_path / "objects")
    w.classify = trajectory_classifier(store, save_constant_model(store, "normal"), min_confidence=0.6)  # v0001
    thief_events, thief_visits, _ = feed(w, person(PICK, DOOR, track_id=7))
    payer = person(PICK, TILL, DOOR, track_id=8)
    payer = Trajectory(8, payer.frame_index + 1000, payer.t_s + 100.0, payer.xyxy, payer.confidence, payer.interpolated,
                       payer.keypoints)
    payer_events, payer_visits, _ = feed(w, payer)
    with session_scope(pg_engine) as s:  # the payer's purchase at the till, during their stay (t ≈ 101.3–103.2 s)
        pos_repo.save_transactions(s, [tx(f"paid-{t0}", t0 + 102.0, "CHOC001")], source="test")

    sink = EventSink.remote(pg_url, redis_url, intent=AssessmentParams().model_dump(), settle_s=0.0,
                            notify={"dedup_window_s": 0})
    items = [{"id": event_id(w.scope, e), "event": e} for e in thief_events + payer_events]
    assert ray.get(sink.submit.remote(items), timeout=180) == len(items)  # the actor's start may be slow under load
    for visit in thief_visits + payer_visits:
        assert ray.get(sink.assess.remote(visit), timeout=60) is True
    deadline = time.monotonic() + 120
    visits = len(thief_visits + payer_visits)  # the sink keeps visits in its table until each is scored
    while (st := ray.get(sink.stats.remote()))["visits_scored"] + st["visits_failed"] < visits and time.monotonic() < deadline:
        time.sleep(0.2)
    stats = ray.get(sink.stats.remote())
    assert stats["visits_scored"] == visits and stats["visits_failed"] == 0 and stats["alerts"] == 1, stats
    with session_scope(pg_engine) as s:
        alerts = [a for a in crud.list_alerts(s, camera_id="shop.cam", limit=1000)[0]
                  if set(a.evidence["event_ids"]) & {i["id"] for i in items}]
    assert [(a.track_id, a.severity.value) for a in alerts] == [(7, "medium")]  # the payer is not alerted
    alert = alerts[0]
    assert alert.evidence["event_ids"] == thief_visits[0]["event_ids"]
    assert alert.evidence["discrepancy"]["missing_from_billing"] == {"CHOC001": 1}
    assert alert.model_version == "v0001"  # the behaviour model the camera ran is recorded on the alert
    assert alert.evidence["pose_windows"]["window"] == 10 and len(alert.evidence["pose_windows"]["features"][0]) == 21
    assert "CHOC001 (Chocolate Bar)" in alert.explanation
    message = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        m = sub.get_message(timeout=1.0)
        if m and m["type"] == "message":
            message = json.loads(m["data"])
            if message["alert"]["id"] == alert.id:
                break
    assert message is not None and message["kind"] == "alert" and message["alert"]["id"] == alert.id
    ray.kill(sink)
