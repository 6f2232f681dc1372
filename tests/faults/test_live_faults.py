"""Live events under real faults: the camera actor killed, PostgreSQL stopped and paused, Redis stopped
and black-holed, S3 stopped, the spool's disk full, the event sink killed, the camera stopped with
events waiting for their clips. Each fault: zero events lost, recovery within 10 s of its end.

One rig (see `tests/faults/harness.py`) streams through the whole module; each test injects its fault
into it and prints what was injected, for how long, events in vs stored and the recovery time.
"""

from __future__ import annotations

import time
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

pytestmark = pytest.mark.faults
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
        marks["bytes"] = disk.fill()

    def during() -> str:
        delivery = rig.status()["delivery"]
        marks["delivery"] = delivery
        return f"spool full ({marks['bytes'] >> 10} KiB filler): in memory {delivery['in_memory']}, dropped {delivery['dropped']}"

    check(rig.run_fault("spool disk full", "a 1 MiB tmpfs spool filled up", fill, disk.free, duration_s=5.0,
                        during=during))  # fmt: skip
    assert marks["delivery"]["dropped"] == 0


def test_event_sink_killed(rig: LiveRig) -> None:
    import ray

    from actors.event_sink import SINK_NAME

    def kill() -> None:
        ray.kill(ray.get_actor(SINK_NAME, namespace=rig.namespace), no_restart=False)

    check(rig.run_fault("event sink killed", "ray.kill of the event sink (Ray restarts it)", kill, lambda: None,
                        duration_s=0.1))  # fmt: skip


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
