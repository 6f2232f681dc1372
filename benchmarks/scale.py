"""Control plane at 600-camera rates: events through the real event sink into PostgreSQL, tracking updates and
health through Redis, at the per-camera rates of `domain.capacity` (measured on vtest.avi) ×1 and ×3.

For each load factor, for `--seconds`:
- events: 600 cameras' events (65/min each × factor) as the cameras' forwarders send them, one
  `EventSink.submit` call per event, into PostgreSQL (fresh schema, dropped at the end); the sink
  publishes each stored event on Redis as it does live;
- tracking: one `tracking_update` per camera per analysed frame (5 fps, 7 × factor people each) through
  the production `RedisPublisher`, and each camera's health once a second; a subscriber on every
  camera's channel measures delivery;
reporting sustained rates against the target, p50 / p95 latency (submit → committed; publish →
received), CPU and memory of the sink actors, PostgreSQL and Redis, and the headroom. Each load runs
once per `--partitions` count: 1 is the single sink (the baseline of the partitioning), N routes each
camera's events to `sink_partition(camera, N)` of N sinks, as the camera manager does with
`RELIABILITY__SINK_PARTITIONS`. The bare baseline is the same events written straight with
`crud.save_live_events` in batches of 200 from one process (the database's own capacity for this
write), in the same run.

    . .venv/bin/activate && python benchmarks/scale.py --cameras 600 --factors 1 3 --partitions 1 2 --linger-s 0 1 --seconds 20
"""

from __future__ import annotations

import argparse
import json
import os
import random
import threading
import time
import uuid
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Meter:
    latencies_s: list[float] = field(default_factory=list)
    done: int = 0
    errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, latency_s: float) -> None:
        with self.lock:
            self.latencies_s.append(latency_s)
            self.done += 1

    def pct(self, q: float) -> float:
        return float(np.percentile(self.latencies_s, q) * 1000) if self.latencies_s else float("nan")


def _procs(names: tuple[str, ...]) -> list:
    import psutil

    return [p for p in psutil.process_iter(["name", "cmdline"]) if any(n in " ".join(p.info["cmdline"] or [p.info["name"] or ""])
                                                                       for n in names)]


def _cpu_rss(procs: list) -> tuple[float, float]:
    import psutil

    cpu = rss = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            cpu += t.user + t.system
            rss += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return cpu, rss / 2**20


def _event(camera: str, n: int, people: int):
    from domain.events import Event, EventType, event_id

    ev = Event(type=EventType.DWELL, rule="dwell", camera_id=camera, track_id=n % max(people, 1), zone="shelf",
               t_start_s=float(n), t_end_s=float(n) + 3.0, frame_start=n * 5, frame_end=n * 5 + 15, confidence=0.8,
               payload={"dwell_s": 3.0}, clip=False)
    return {"id": event_id(f"{camera}|bench", ev), "event": ev}


def tracking_load(redis_url: str, cameras: list[str], fps: float, people: int, seconds: float, threads: int,
                  out: "multiprocessing.Queue") -> None:
    """In its own process (so the GIL of the event driver does not throttle it): every camera's tracking
    updates at `fps` and health once a second through `RedisPublisher`, and a subscriber measuring delivery."""
    import multiprocessing

    from actors.live_io import RedisPublisher

    stop, sent = threading.Event(), [0]
    ctx = multiprocessing.get_context("spawn")
    heard: multiprocessing.Queue = ctx.Queue()
    ready = ctx.Event()
    listener = ctx.Process(target=listen, args=(redis_url, cameras[0].rsplit(".", 1)[0], seconds + 2, heard, ready))
    listener.start()
    ready.wait(30)

    publishers = {c: RedisPublisher(redis_url, c) for c in cameras}
    tracks = [{"track_id": i, "xyxy": [10.0 * i, 20.0, 10.0 * i + 40, 140.0], "confidence": 0.8, "global_id": None}
              for i in range(people)]

    def publish(part: list[str]) -> None:
        n, start, health_next = 0, time.perf_counter(), time.perf_counter()
        while not stop.is_set():
            due = int((time.perf_counter() - start) * len(part) * fps)
            while n < due and not stop.is_set():
                camera = part[n % len(part)]
                publishers[camera]("tracking_update", {"camera_id": camera, "frame": n, "sent": time.time(), "tracks": tracks})
                n += 1
                sent[0] += 1
            if time.perf_counter() >= health_next:
                for camera in part:
                    publishers[camera]("camera_health", {"camera_id": camera, "state": "streaming", "fps_out": fps,
                                                         "changed": False})
                health_next += 1.0
            time.sleep(0.002)

    workers = [threading.Thread(target=publish, args=(cameras[i::threads],)) for i in range(threads)]
    t0 = time.perf_counter()
    for t in workers:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in workers:
        t.join(10)
    elapsed = time.perf_counter() - t0
    got = heard.get(timeout=60)
    listener.join(10)
    out.put({"sent_per_s": round(sent[0] / elapsed, 1), "received_per_s": round(got["received"] / elapsed, 1),
             "p50_ms": got["p50_ms"], "p95_ms": got["p95_ms"]})


def listen(redis_url: str, prefix: str, seconds: float, out: "multiprocessing.Queue", ready) -> None:
    """A subscriber to every camera's tracking channel, in its own process: messages received and their latency."""
    import redis as redis_lib

    from actors.live_io import tracking_channel

    meter = Meter()
    sub = redis_lib.Redis.from_url(redis_url).pubsub()
    sub.psubscribe(tracking_channel(prefix + ".*"))
    sub.get_message(timeout=1.0)  # the subscription's confirmation
    ready.set()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        msg = sub.get_message(timeout=0.1)
        if msg and msg["type"] == "pmessage":
            meter.add(time.time() - json.loads(msg["data"])["sent"])
    out.put({"received": meter.done, "p50_ms": round(meter.pct(50), 1), "p95_ms": round(meter.pct(95), 1)})


def run_factor(sinks: list, args, factor: float, redis_url: str, linger_s: float) -> dict:
    import asyncio
    import multiprocessing

    import psutil
    import ray
    from ray._private import state

    from domain.capacity import CONTROL_PLANE_RATES as R
    from domain.placement import sink_partition

    cameras = [f"bench{uuid.uuid4().hex[:4]}.c{i:03d}" for i in range(args.cameras)]
    event_rate = args.cameras * R.events_per_s.value * factor
    people = int(round(R.people_in_view.value * factor))
    meter = Meter()
    route = {c: sinks[sink_partition(c, len(sinks))] for c in cameras}

    async def drive() -> int:
        """Each camera's events go in one `submit` call per `linger_s` window, as its forwarder sends them (with
        `linger_s` 0 each event alone: ~1 call per camera per second at the measured rate); awaited for the commit."""
        async def call(camera: str, batch: list[tuple[float, dict]]) -> None:
            try:
                await route[camera].submit.remote([item for _, item in batch])
                now = time.perf_counter()
                for created, _ in batch:
                    meter.add(now - created)
            except ray.exceptions.RayError:
                meter.errors += len(batch)

        waiting: dict[str, list[tuple[float, dict]]] = {}
        tasks, n, start = [], 0, time.perf_counter()

        def send_due(now: float, everything: bool = False) -> None:
            for camera in [c for c, b in waiting.items() if everything or now - b[0][0] >= linger_s]:
                tasks.append(asyncio.ensure_future(call(camera, waiting.pop(camera))))

        while time.perf_counter() - start < args.seconds:
            now = time.perf_counter()
            due = int((now - start) * event_rate)
            while n < due:
                camera = random.choice(cameras)
                waiting.setdefault(camera, []).append((now, _event(camera, n, people)))
                n += 1
            send_due(now)
            await asyncio.sleep(0.01)
        send_due(time.perf_counter(), everything=True)
        await asyncio.wait(tasks, timeout=120)
        return n

    sink_pids = [state.actors(actor_id=sink._actor_id.hex()).get("Pid") for sink in sinks]
    watched = {"event sink": [psutil.Process(p) for p in sink_pids if p], "postgresql": _procs(("postgres",)),
               "redis": _procs(("redis-server",)), "driver": [psutil.Process()]}
    before = {k: _cpu_rss(v) for k, v in watched.items()}
    def written_total() -> int:
        return sum(st["written"] for st in ray.get([sink.stats.remote() for sink in sinks]))

    written0 = written_total()
    out: multiprocessing.Queue = multiprocessing.get_context("spawn").Queue()
    tracker = None if args.events_only else multiprocessing.get_context("spawn").Process(
        target=tracking_load, args=(redis_url, cameras, args.fps, people, args.seconds, args.publishers, out))
    t0 = time.perf_counter()
    if tracker is not None:
        tracker.start()
    sent = asyncio.run(drive())
    drained = time.perf_counter() - t0
    written = written_total() - written0
    nan = float("nan")
    tracking = {"sent_per_s": nan, "received_per_s": nan, "p50_ms": nan, "p95_ms": nan}
    if tracker is not None:
        tracking = out.get(timeout=120)
        tracker.join(30)
    wall = time.perf_counter() - t0
    after = {k: _cpu_rss(v) for k, v in watched.items()}
    usage = {k: {"cpu_cores": round((after[k][0] - before[k][0]) / wall, 2), "rss_mib": round(after[k][1], 1)}
             for k in watched}
    return {
        "factor": factor, "partitions": len(sinks), "linger_s": linger_s, "seconds": args.seconds, "events_sent": sent,
        "events_target_per_s": round(event_rate, 1), "events_stored_per_s": round(written / drained, 1),
        "events_drain_s": round(drained - args.seconds, 1),
        "events_p50_ms": round(meter.pct(50), 1), "events_p95_ms": round(meter.pct(95), 1),
        "events_errors": meter.errors,
        "tracking_target_per_s": args.cameras * args.fps, "tracking_sent_per_s": tracking["sent_per_s"],
        "tracking_received_per_s": tracking["received_per_s"],
        "tracking_p50_ms": tracking["p50_ms"], "tracking_p95_ms": tracking["p95_ms"],
        "usage": usage,
    }


def bare_baseline(url: str, count: int) -> float:
    """Events/s of `crud.save_live_events` in batches of 200 from this process (no actor, no Redis)."""
    from storage import crud
    from storage.db import make_engine, session_scope

    engine = make_engine(url)
    items = [_event(f"bare.c{i % 600:03d}", i, 7) for i in range(count)]
    start = time.perf_counter()
    for i in range(0, count, 200):
        with session_scope(engine) as s:
            crud.save_live_events(s, events=[(x["id"], x["event"]) for x in items[i:i + 200]], clips=[])
    rate = count / (time.perf_counter() - start)
    engine.dispose()
    return rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cameras", type=int, default=600)
    ap.add_argument("--fps", type=float, default=5.0)
    ap.add_argument("--factors", type=float, nargs="+", default=[1.0, 3.0])
    ap.add_argument("--partitions", type=int, nargs="+", default=[1, 2, 4],
                    help="event-sink counts to compare (1: the single-sink baseline)")
    ap.add_argument("--linger-s", type=float, nargs="+", default=[0.0, 1.0],
                    help="forwarder linger times to compare (RELIABILITY__SINK_LINGER_S; 0: one call per event, the baseline)")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--publishers", type=int, default=4, help="driver threads publishing tracking updates")
    ap.add_argument("--events-only", action="store_true",
                    help="no tracking load: the sinks get the CPU the tracking publisher would take (on a small machine "
                    "the load generator otherwise starves what it measures)")
    ap.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL",
                                                             "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--redis-url", default=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
    args = ap.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray

    from actors.event_sink import EventSink
    from domain.capacity import CONTROL_PLANE_RATES as R
    from analytics import _drop, _schema_url  # benchmarks/analytics.py (this folder is on sys.path)
    from storage.db import make_engine, migrate

    schema = f"bench_scale_{uuid.uuid4().hex[:8]}"
    url = _schema_url(args.database_url, schema)
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    try:
        bare = bare_baseline(url, 4000)
        print(f"bare baseline: crud.save_live_events, batches of 200, one process: {bare:.0f} events/s", flush=True)
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)

        results = []
        for partitions in args.partitions:
            sinks = [EventSink.remote(url, args.redis_url, partition=k) for k in range(partitions)]
            ray.get([sink.ping.remote() for sink in sinks])
            for linger_s in args.linger_s:
                for factor in args.factors:
                    r = run_factor(sinks, args, factor, args.redis_url, linger_s)
                    results.append(r)
                    print(json.dumps(r), flush=True)
            for sink in sinks:
                ray.kill(sink, no_restart=True)
        print("\n| load | sinks | linger s | events/s target | stored/s (until drained) | drain after the load s | submit→stored p50 / p95 ms "
              "| tracking msgs/s target / sent / received | publish→received p50 / p95 ms | sink CPU (cores, RSS) "
              "| PostgreSQL CPU | Redis CPU | driver CPU |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for r in results:
            u = r["usage"]
            print(f"| ×{r['factor']:g} | {r['partitions']} | {r['linger_s']:g} | {r['events_target_per_s']:g} | {r['events_stored_per_s']:g} | "
                  f"{r['events_drain_s']:g} | {r['events_p50_ms']:g} / {r['events_p95_ms']:g} | "
                  f"{r['tracking_target_per_s']:g} / {r['tracking_sent_per_s']:g} / {r['tracking_received_per_s']:g} | "
                  f"{r['tracking_p50_ms']:g} / {r['tracking_p95_ms']:g} | "
                  f"{u['event sink']['cpu_cores']:g} ({u['event sink']['rss_mib']:g} MiB) | {u['postgresql']['cpu_cores']:g} | "
                  f"{u['redis']['cpu_cores']:g} | {u['driver']['cpu_cores']:g} |")
        top_factor = max(args.factors)
        print(f"\nheadroom of the database write vs ×{top_factor:g} events: bare {bare:.0f} events/s = "
              f"{bare / (args.cameras * R.events_per_s.value * top_factor):.1f}× the target")
        first = args.linger_s[0]
        single = {r["factor"]: r for r in results if r["partitions"] == 1 and r["linger_s"] == first}
        for r in results:
            base = single.get(r["factor"])
            ratio = (f"; {r['events_stored_per_s'] / base['events_stored_per_s']:.2f}× one sink without lingering"
                     if base and r is not base else "")
            print(f"×{r['factor']:g} load, {r['partitions']} sink(s), linger {r['linger_s']:g} s: stored "
                  f"{r['events_stored_per_s'] / r['events_target_per_s']:.2f} of the target{ratio}")
    finally:
        ray.shutdown()
        _drop(args.database_url, schema)


if __name__ == "__main__":
    main()
