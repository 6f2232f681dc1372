"""Fault injection on the live path, measured: one table of events in / stored / lost and recovery times.

Runs the production actors (file camera → tracker → rules → clips → disk spool → event sink →
PostgreSQL, clips to S3) on a local Ray against PRIVATE PostgreSQL, Redis and S3 servers started
here, and injects each fault for real: the camera actor and the event sink killed, PostgreSQL
stopped (`pg_ctl stop`) and paused (SIGSTOP), the sink's Redis stopped and paused, S3 killed, the
spool's 1 MiB tmpfs filled up, and finally the camera stopped with events still waiting for their
clips. "Events in" are the events the camera detected during the fault window (from its own tracking
updates, see `tests/faults/harness.py`); recovery is the time from the fault's end until every one
of them is stored. The same scenarios run as the `faults` tests (`pytest -m faults`).

    . .venv/bin/activate && python benchmarks/faults.py [--repeat 2]

Needs root (the tmpfs mount, a PostgreSQL cluster run as user postgres) and vtest.avi.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

from tests.faults.harness import (  # noqa: E402
    FaultResult,
    LiveRig,
    PrivatePostgres,
    PrivateRedis,
    PrivateS3,
    SmallDisk,
    local_ray,
    tmp_root,
)


def scenarios(rig: LiveRig) -> list[FaultResult]:
    import ray

    from actors.event_sink import SINK_NAME

    pg, redis_server, s3, disk = (rig.servers[k] for k in ("pg", "redis", "s3", "disk"))

    def kill_camera() -> None:
        ray.kill(ray.get_actor(f"witness-camera-{rig.camera_id}", namespace=rig.namespace), no_restart=False)

    def kill_sink() -> None:
        ray.kill(ray.get_actor(SINK_NAME, namespace=rig.namespace), no_restart=False)

    def spool_state() -> str:
        d = rig.status()["delivery"]
        return f"{d['spool_write_errors']} records refused by the disk went by memory; dropped {d['dropped']}"

    def kill_twice_more() -> str:
        recovered = []
        for _ in range(2):
            recovered.append(rig.status()["delivery"]["recovered"])
            time.sleep(2.0)
            kill_camera()
        recovered.append(rig.status()["delivery"]["recovered"])
        return f"records re-sent from the spool by each restarted actor: {recovered}"

    return [
        rig.run_fault("camera actor killed", "ray.kill, 3 times 2 s apart (Ray restarts it)", kill_camera, lambda: None,
                      duration_s=2.0, during=kill_twice_more),
        rig.run_fault("event sink killed", "ray.kill (Ray restarts it)", kill_sink, lambda: None, duration_s=0.1),
        rig.run_fault("PostgreSQL stopped", "pg_ctl stop -m fast", pg.stop, pg.start, duration_s=10.0),
        rig.run_fault("PostgreSQL paused", "SIGSTOP of all its processes", pg.pause, pg.resume, duration_s=10.0),
        rig.run_fault("Redis stopped", "kill of redis-server", redis_server.stop, redis_server.start, duration_s=10.0),
        rig.run_fault("Redis black-holed", "SIGSTOP of redis-server", redis_server.pause, redis_server.resume,
                      duration_s=10.0),
        rig.run_fault("S3 stopped", "kill of the S3 server", s3.stop, s3.start, duration_s=10.0),
        rig.run_fault("spool disk full", "1 MiB tmpfs filled", lambda: disk.fill(), disk.free, duration_s=10.0,
                      during=spool_state),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="Runs of the whole sequence (figures: the worst run)")
    args = parser.parse_args()
    root = tmp_root("witness-faults-bench-")
    pg, redis_server, s3 = PrivatePostgres(root / "pg"), PrivateRedis(root / "redis"), PrivateS3(root / "s3")
    disk = SmallDisk(root / "spool")
    rows: dict[str, list[FaultResult]] = {}
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
                for _ in range(args.repeat):
                    for result in scenarios(rig):
                        print(result.line(), flush=True)
                        rows.setdefault(result.fault, []).append(result)
                time.sleep(1.0)
                import ray

                started = time.monotonic()
                final = ray.get(rig.camera.stop.remote(), timeout=120)
                stop_s = time.monotonic() - started
                time.sleep(1.0)
                expected, stored = rig.expected(), rig.stored()
                rows["camera stopped (whole run)"] = [FaultResult(
                    "camera stopped (whole run)", "CameraActor.stop with clips pending", stop_s, len(expected),
                    len(expected & stored), len(expected - stored), stop_s, f"drained={final['drained']}")]  # fmt: skip
            finally:
                rig.close()
    finally:
        for server in (s3, redis_server, pg):
            server.close()
        disk.close()
        shutil.rmtree(root, ignore_errors=True)
    print()
    print("| fault | injected | for | events in | stored | lost | recovery (worst) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for fault, results in rows.items():
        events_in, stored, lost = (sum(getattr(r, k) for r in results) for k in ("events_in", "events_stored", "lost"))
        recoveries = [r.recovery_s for r in results]
        worst = "not recovered" if None in recoveries else f"{max(recoveries):.1f} s"
        duration = max(r.duration_s for r in results)
        print(f"| {fault} | {results[0].injected} | {duration:.1f} s | {events_in} | {stored} | {lost} | {worst} |")


if __name__ == "__main__":
    main()
