"""Live events under real faults: the camera actor killed, PostgreSQL stopped and paused, Redis stopped
and black-holed, S3 stopped, the spool's disk full, the event sink killed, the camera stopped with
events waiting for their clips. Each fault: zero events lost, recovery within 10 s of its end.

One rig (see `tests/faults/harness.py`) streams through the whole module; each test injects its fault
into it and prints what was injected, for how long, events in vs stored and the recovery time.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.harness import (
    LiveRig,
    PrivatePostgres,
    PrivateRedis,
    PrivateS3,
    SmallDisk,
    local_ray,
    tmp_root,
)

pytestmark = [pytest.mark.faults, pytest.mark.slow]
RECOVERY_S = 10.0


@pytest.fixture(scope="module")
def rig(vtest_path: Path) -> Iterator[LiveRig]:
    root = tmp_root("witness-faults-")
    pg, redis_server, s3 = PrivatePostgres(root / "pg"), PrivateRedis(root / "redis"), PrivateS3(root / "s3")
    disk = SmallDisk(root / "spool")
    try:
        pg.start()
        redis_server.start()
        s3.start()
        with local_ray():
            rig = LiveRig(database_url=pg.url, sink_redis_url=redis_server.url, store=s3.store("faults"), work=root,
                          spool_dir=disk.path)  # fmt: skip
            rig.servers = {"pg": pg, "redis": redis_server, "s3": s3, "disk": disk}
            try:
                rig.start()
                yield rig
            finally:
                rig.close()
    finally:
        for server in (s3, redis_server, pg):
            server.close()
        disk.close()
        shutil.rmtree(root, ignore_errors=True)


def check(result) -> None:
    print(result.line())
    assert result.events_in > 0, "no event was detected during the fault: the test would prove nothing"
    assert result.lost == 0, result.line()
    assert result.recovery_s is not None and result.recovery_s <= RECOVERY_S, result.line()


def test_camera_actor_killed_resends_its_spool(rig: LiveRig) -> None:
    import ray

    sessions, recovered = [], []

    def kill() -> None:
        sessions.append(rig.status()["session_id"])
        ray.kill(ray.get_actor(f"witness-camera-{rig.camera_id}", namespace=rig.namespace), no_restart=False)

    def twice_more() -> str:
        for _ in range(2):  # killed again once it streams again, events waiting for their clips each time
            status = rig.status()
            recovered.append(status["delivery"]["recovered"])
            time.sleep(2.0)
            kill()
        recovered.append(rig.status()["delivery"]["recovered"])
        return f"3 kills; records re-sent from the spool by each restarted actor: {recovered}"

    result = rig.run_fault("camera actor killed", "ray.kill of the camera actor, 3 times 2 s apart (Ray restarts it)",
                           kill, lambda: None, duration_s=2.0, during=twice_more)  # fmt: skip
    status = rig.status()
    assert len(set(sessions + [status["session_id"]])) == 4 and status["state"] in ("starting", "streaming")
    assert status["delivery"]["dropped"] == 0
    assert sum(recovered) >= 1  # events the killed actors had not delivered were re-sent from the spool
    check(result)


def test_postgres_stopped(rig: LiveRig) -> None:
    pg = rig.servers["pg"]
    check(rig.run_fault("PostgreSQL stopped", "pg_ctl stop -m fast", pg.stop, pg.start, duration_s=6.0))


def test_postgres_paused(rig: LiveRig) -> None:
    pg = rig.servers["pg"]
    check(rig.run_fault("PostgreSQL paused", "SIGSTOP to the postmaster and backends", pg.pause, pg.resume,
                        duration_s=6.0))  # fmt: skip


def test_redis_stopped_and_black_holed(rig: LiveRig) -> None:
    server = rig.servers["redis"]
    check(rig.run_fault("Redis stopped", "kill of the sink's redis-server", server.stop, server.start, duration_s=4.0))
    check(rig.run_fault("Redis black-holed", "SIGSTOP to the sink's redis-server", server.pause, server.resume,
                        duration_s=4.0))  # fmt: skip


def test_s3_stopped_events_stored_at_once_and_clips_follow(rig: LiveRig) -> None:
    s3 = rig.servers["s3"]
    marks = {}

    def stop() -> None:
        marks["before"] = rig.expected()
        s3.stop()

    def stored_during() -> str:
        during = rig.expected() - marks["before"]
        time.sleep(3.0)  # every event detected so far has had upload_wait_s (2 s) to give up on its clip
        marks["stored_during"] = len(during & rig.stored())
        return f"{marks['stored_during']} of {len(during)} stored while S3 was down"

    result = rig.run_fault("S3 stopped", "kill of the S3 server", stop, s3.start, duration_s=6.0, during=stored_during)
    check(result)
    assert marks["stored_during"] > 0  # events did not wait for their clips
    window = rig.expected() - marks["before"]
    t0 = time.monotonic()
    deadline = t0 + 30
    while rig.with_clips(window) != window & rig.stored() and time.monotonic() < deadline:
        time.sleep(0.2)
    missing = (window & rig.stored()) - rig.with_clips(window)
    print(f"FAULT S3 stopped: clips of the window stored {len(window) - len(missing)} of {len(window)} "
          f"({time.monotonic() - t0:.1f} s after recovery)")
    assert not missing, f"{len(missing)} clips never uploaded"


def test_spool_disk_full(rig: LiveRig) -> None:
    disk = rig.servers["disk"]
    marks = {}

    def fill() -> None:
        marks["errors"] = rig.status()["delivery"]["spool_write_errors"]
        marks["bytes"] = disk.fill()

    def during() -> str:
        delivery = rig.status()["delivery"]
        marks["delivery"] = delivery
        refused = delivery["spool_write_errors"] - marks["errors"]
        marks["refused"] = refused
        return (f"spool full ({marks['bytes'] >> 10} KiB filler): {refused} records refused by the disk went by "
                f"memory; in memory now {delivery['in_memory']}, dropped {delivery['dropped']}")  # fmt: skip

    check(rig.run_fault("spool disk full", "a 1 MiB tmpfs spool filled up", fill, disk.free, duration_s=5.0,
                        during=during))  # fmt: skip
    assert marks["refused"] > 0 and marks["delivery"]["dropped"] == 0  # the memory path was taken, and lost nothing


def test_event_sink_killed(rig: LiveRig) -> None:
    import ray

    from actors.event_sink import SINK_NAME

    def kill() -> None:
        ray.kill(ray.get_actor(SINK_NAME, namespace=rig.namespace), no_restart=False)

    check(rig.run_fault("event sink killed", "ray.kill of the event sink (Ray restarts it)", kill, lambda: None,
                        duration_s=0.1))  # fmt: skip


def test_poison_event_is_dead_lettered_and_its_batch_stored(rig: LiveRig) -> None:
    import ray
    import sqlalchemy as sa

    from actors.event_sink import SINK_NAME
    from domain.events import Event, EventType

    cams = [f"faults.p{uuid.uuid4().hex[:6]}", f"faults.q{uuid.uuid4().hex[:6]}"]
    items = [{"id": str(uuid.uuid4()), "event": Event(EventType.ZONE_ENTER, "enter", cams[i % 2], i, "floor", 1.0, 1.0,
                                                        10, 10, 0.9, clip=False), "clip": None} for i in range(10)]  # fmt: skip
    poison = items[6]
    poison["event"] = Event(EventType.ZONE_ENTER, "enter", cams[0], 6, "z" * 300, 1.0, 1.0, 10, 10, 0.9, clip=False)
    sink = ray.get_actor(SINK_NAME, namespace=rig.namespace)
    started = time.monotonic()
    assert ray.get(sink.submit.remote(items), timeout=60) == 10  # the call succeeds: nothing to retry
    took = time.monotonic() - started
    with rig.engine.connect() as conn:
        stored = {r[0] for r in conn.execute(sa.text("SELECT id FROM event WHERE camera_id IN (:a, :b)"),
                                             {"a": cams[0], "b": cams[1]})}  # fmt: skip
        dead = conn.execute(sa.text("SELECT event_id, camera_id, error FROM dead_event WHERE event_id = :e"),
                            {"e": poison["id"]}).all()  # fmt: skip
    print(f"FAULT poison event: 1 of 10 events (2 cameras) with a 300-character zone; stored {len(stored)}, "
          f"dead-lettered {len(dead)} ({dead[0][2][:80] if dead else '-'}); the call took {took:.2f} s")
    assert stored == {i["id"] for i in items} - {poison["id"]}
    assert len(dead) == 1 and dead[0][1] == cams[0] and "too long" in dead[0][2]


def test_visit_survives_a_sink_kill_and_alerts_once(rig: LiveRig) -> None:
    import ray
    import sqlalchemy as sa

    from actors.event_sink import SINK_NAME
    from actors.intent_watch import visit_record
    from domain.assessment import VisitEvidence
    from domain.behaviour import BehaviourClass, BehaviourEvent

    camera = f"faults.v{uuid.uuid4().hex[:6]}"
    evidence = VisitEvidence(7, 0.0, 600.0, 0, 6000, bypass=(BehaviourEvent(BehaviourClass.BYPASS, 20, 25, 1.0),),
                             concealment=(BehaviourEvent(BehaviourClass.CONCEALMENT, 5, 7, 1.0, explanation="cue"),))  # fmt: skip
    visit = visit_record(camera, evidence, epoch_t0=time.time(), event_ids=[], scope=f"live/{camera}/s1")
    sink = ray.get_actor(SINK_NAME, namespace=rig.namespace)
    assert ray.get(sink.assess.remote(visit), timeout=60) is True
    assert ray.get(sink.assess.remote(visit), timeout=60) is True  # re-sent (a camera retry): stored once
    ray.kill(sink, no_restart=False)  # before it is due (settle 1 s): only the database remembers it
    killed = time.monotonic()
    ray.get(ray.get_actor(SINK_NAME, namespace=rig.namespace).ping.remote(), timeout=60)

    def alerts() -> list:
        with rig.engine.connect() as conn:
            return conn.execute(sa.text("SELECT id FROM alert WHERE camera_id = :c"), {"c": camera}).all()

    deadline = time.monotonic() + 30
    while not alerts() and time.monotonic() < deadline:
        time.sleep(0.2)
    took = time.monotonic() - killed
    assert ray.get(sink.assess.remote(visit), timeout=60) is True  # once more, after it was scored
    time.sleep(2.5)
    found = alerts()
    with rig.engine.connect() as conn:
        pending = conn.execute(sa.text("SELECT count(*) FROM pending_visit WHERE camera_id = :c"), {"c": camera}).scalar()
    print(f"FAULT event sink killed with a visit pending: alert raised {took:.1f} s after the kill; alerts {len(found)} "
          f"for 3 sends of the visit; pending visits left {pending}")
    assert [a[0] for a in found] == [visit["visit_id"]] and pending == 0


def test_restarted_camera_runs_the_config_stored_now(rig: LiveRig) -> None:
    import ray
    from sqlmodel import Session

    from actors.camera_manager import CameraManager
    from cluster.settings import CameraSettings, ClipSettings, TrackerSettings
    from domain.site import SiteConfig, ZoneConfig
    from storage import crud
    from tests.faults.harness import SHARED_REDIS, VTEST_AVI, BlinkDetector

    square = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]
    site = SiteConfig.model_validate({"site": {"name": f"cfg{uuid.uuid4().hex[:6]}"},
                                      "cameras": {"cam": {"source": str(VTEST_AVI), "zones": {"a": {"polygon": square}}}}})
    with Session(rig.engine) as s:
        crud.import_site_config(s, site)
        camera_id = next(c.id for c in crud.list_cameras(s, limit=100_000)[0] if c.id.startswith(site.site.name))
    manager = CameraManager.options(namespace=rig.namespace).remote(
        database_url=rig.database_url, redis_url=SHARED_REDIS, store=rig.store, namespace=rig.namespace,
        tracker_params=TrackerSettings(), camera=CameraSettings(max_width=384).model_dump(),
        clip=ClipSettings(max_width=256).model_dump(), clips_dir=str(rig.work / "manager-clips"), detector=BlinkDetector(),
        autostart=False, spool_dir=str(rig.work / "manager-spool"), reliability=rig.reliability)  # fmt: skip
    try:
        first = ray.get(manager.start.remote(camera_id), timeout=120)
        deadline = time.monotonic() + 120
        while "session_id" not in first and time.monotonic() < deadline:  # the actor may still be starting (busy machine)
            time.sleep(0.5)
            first = ray.get(manager.status.remote(camera_id), timeout=60)
        assert "session_id" in first, first
        with Session(rig.engine) as s:  # an operator adds a zone through the API (same repository call)
            version = crud.put_zone(s, camera_id, "b", ZoneConfig(polygon=square)).version
        ray.get(manager.reconfigure.remote(camera_id), timeout=60)
        actor = ray.get_actor(f"witness-camera-{camera_id}", namespace=rig.namespace)
        ray.kill(actor, no_restart=False)  # crash: Ray re-runs __init__ with the arguments of the first start
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = ray.get(manager.status.remote(camera_id), timeout=60)
            if status.get("session_id") not in (None, first["session_id"]):
                break
            time.sleep(0.5)
        zones = set(ray.get(actor.config.remote(), timeout=60)["zones"])
        print(f"FAULT camera actor killed after a zone edit: restarted with config version {status['config_version']} "
              f"(stored {version}, first start {first['config_version']}), zones {sorted(zones)}")
        assert status["session_id"] != first["session_id"]
        assert status["config_version"] == version > first["config_version"] and zones == {"a", "b"}
    finally:
        ray.get(manager.stop.remote(camera_id), timeout=120)
        ray.kill(manager, no_restart=True)


def test_camera_stop_drains_the_tail(rig: LiveRig) -> None:
    import ray

    time.sleep(1.0)
    started = time.monotonic()
    final = ray.get(rig.camera.stop.remote(), timeout=120)  # events still waiting for post-roll are in flight
    stop_s = time.monotonic() - started
    time.sleep(1.0)  # the last tracking updates reach the listener
    expected, stored = rig.expected(), rig.stored()
    lost = expected - stored
    print(f"FAULT camera stopped: CameraActor.stop (drain) took {stop_s:.1f} s; events in {len(expected)} (whole run), "
          f"stored {len(expected & stored)}, lost {len(lost)}; drained={final['drained']}")  # fmt: skip
    assert final["drained"] is True and not lost
