"""Fault injection on real services: private PostgreSQL, Redis and S3 servers, and a live camera rig.

Never the shared servers of the sandbox: each server here runs on its own free port and data folder,
and is stopped, paused (SIGSTOP) or killed for real. The camera rig runs the production actors —
`CameraActor` (a file camera playing vtest.avi, the real tracker, rules engine, ring buffer and clip
writer), `EventForwarder` with its disk spool, and the `EventSink` — on a local Ray. Its detector is
test data: one person box that appears and disappears at a new place every second, so every
appearance is a new track and fires one `zone_enter` event (with an evidence clip).

Counting: "events in" are the events the camera detected, derived from its own tracking updates
(published on the shared Redis, which no fault touches): each new `(session, track)` fires exactly
one `zone_enter` whose id (`domain.events.event_id`) is computed here; "events stored" are the rows
in the database. The camera dispatches a frame's events before it publishes that frame's tracking
update, so every counted event was dispatched.

`benchmarks/faults.py` runs the same scenarios and prints one table of the figures.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
VTEST_AVI = Path(os.environ.get("VTEST_AVI", "/usr/share/doc/opencv-doc/examples/data/vtest.avi"))
PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), Path("/usr/lib/postgresql/15/bin"))
SHARED_REDIS = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
CAMERA = "faults.cam"
RULE, ZONE = "enter", "floor"


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate: Callable[[], bool], timeout_s: float, what: str, every_s: float = 0.1) -> float:
    """Poll until `predicate()`; returns the seconds it took. Raises TimeoutError naming `what`."""
    start = time.monotonic()
    while True:
        try:
            if predicate():
                return time.monotonic() - start
        except Exception:  # noqa: BLE001  (a server still coming up)
            pass
        if time.monotonic() - start > timeout_s:
            raise TimeoutError(f"{what} not within {timeout_s:.0f} s")
        time.sleep(every_s)


def _signal_tree(pid: int, sig: int) -> None:
    import psutil

    proc = psutil.Process(pid)
    for p in (proc, *proc.children(recursive=True)):
        with contextlib.suppress(psutil.NoSuchProcess):
            p.send_signal(sig)


# ------------------------------------------------------------------------------------ servers
class PrivatePostgres:
    """A PostgreSQL cluster of its own (`initdb` as user postgres) on a free port; stop / start / pause it."""

    def __init__(self, root: Path) -> None:
        self.root, self.port = root, free_port()
        self.data = root / "pgdata"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        root.mkdir(parents=True, exist_ok=True)
        shutil.chown(root, "postgres")
        self._run(PG_BIN / "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    def _run(self, *cmd: Any) -> None:
        done = subprocess.run(["runuser", "-u", "postgres", "--", *map(str, cmd)], capture_output=True, text=True,
                              timeout=120, cwd=self.root)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-o", opts, "-l", self.root / "pg.log", "-w", "-t", "60", "start")

    def stop(self) -> None:
        """`pg_ctl stop -m fast`: the server ends its connections and shuts down."""
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    @property
    def pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().splitlines()[0])

    def pause(self) -> None:
        """SIGSTOP the postmaster and every backend: connections stay open, nothing answers."""
        _signal_tree(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        _signal_tree(self.pid, signal.SIGCONT)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.resume()
        with contextlib.suppress(Exception):
            self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateRedis:
    """A `redis-server` of its own on a free port (no persistence); stop / start / pause it."""

    def __init__(self, root: Path) -> None:
        self.root, self.port = root, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None
        root.mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        import redis

        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        _wait(lambda: redis.Redis.from_url(self.url, socket_timeout=0.5).ping(), 20, "private Redis answering")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def close(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(Exception):
                self.resume()
        self.stop()


class PrivateS3:
    """A SeaweedFS `weed mini` S3 server of its own; `stop()` kills it, `start()` brings it back on the
    same ports and data (so what was uploaded before is still there)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "data").mkdir(parents=True, exist_ok=True)
        self.access_key, self.secret_key = "faults", uuid.uuid4().hex
        self.config = root / "s3.json"
        self.config.write_text(json.dumps({"identities": [{"name": "admin", "credentials": [
            {"accessKey": self.access_key, "secretKey": self.secret_key}], "actions": ["Admin", "Read", "Write", "List"]}]}))
        names = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
                 "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc", "webdav.port", "debug.port")  # fmt: skip
        from tests.conftest import _free_port

        self.ports = {name: _free_port() for name in names}
        self.endpoint = f"127.0.0.1:{self.ports['s3.port']}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        from minio import Minio

        weed = shutil.which("weed") or str(REPO / ".venv" / "bin" / "weed")
        args = [weed, "mini", f"-dir={self.root / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-s3.config={self.config}",
                "-master.telemetry=false", "-webdav=false", "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
                *(f"-{name}={port}" for name, port in self.ports.items())]  # fmt: skip
        self.proc = subprocess.Popen(args, stdout=(self.root / "weed.log").open("ab"), stderr=subprocess.STDOUT,
                                     cwd=self.root, start_new_session=True)  # fmt: skip
        client = Minio(self.endpoint, access_key=self.access_key, secret_key=self.secret_key, secure=False)
        _wait(lambda: client.list_buckets() is not None, 60, f"private S3 at {self.endpoint} answering", every_s=0.3)

    def store(self, bucket: str) -> Any:
        from storage.objectstore import S3ObjectStore

        return S3ObjectStore(endpoint=self.endpoint, access_key=self.access_key, secret_key=self.secret_key,
                             bucket=bucket, timeout_s=2.0)  # fmt: skip

    def stop(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(15)
            self.proc = None

    def close(self) -> None:
        self.stop()


class SmallDisk:
    """A 1 MiB tmpfs mounted at `path` (the camera's spool), which `fill()` fills up."""

    def __init__(self, path: Path, size: str = "1m") -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True,
                              text=True)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"cannot mount a small tmpfs at {path} (root needed): {done.stderr.strip()}")
        self.filler = path / "filler.bin"

    def fill(self) -> int:
        """Write until the disk is full; returns the bytes written."""
        written = 0
        with contextlib.suppress(OSError), open(self.filler, "wb") as f:
            while True:
                f.write(b"\0" * 4096)
                f.flush()
                written += 4096
        return written

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def close(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True)


# ------------------------------------------------------------------------------------ the rig
class BlinkDetector:
    """Test data: one person box shown for `on` frames then hidden for `off`, at the next of 8 places
    each time (so each appearance is a new track). Picklable; it runs inside the camera actor."""

    def __init__(self, on: int = 5, off: int = 5) -> None:
        self.on, self.off, self.calls = on, off, 0

    def __call__(self, frames: list[np.ndarray]) -> list[Any]:
        from actors.pose_replica import FrameDetections

        out = []
        for frame in frames:
            h, w = frame.shape[:2]
            cycle, phase = divmod(self.calls, self.on + self.off)
            self.calls += 1
            xyxy = np.zeros((0, 4), np.float32)
            if phase < self.on:
                col, row = cycle % 4, (cycle // 4) % 2
                x0, y0 = (0.05 + 0.24 * col) * w, (0.1 + 0.45 * row) * h
                xyxy = np.array([[x0, y0, x0 + 0.15 * w, y0 + 0.35 * h]], np.float32)
            n = len(xyxy)
            out.append(FrameDetections(xyxy, np.full(n, 0.9, np.float32), np.zeros((n, 17, 3), np.float32),
                                       np.zeros((n, 0), np.float32)))  # fmt: skip
        return out


@dataclass
class FaultResult:
    """One row of the failure table."""

    fault: str
    injected: str
    duration_s: float
    events_in: int
    events_stored: int
    lost: int
    recovery_s: float | None
    note: str = ""

    def line(self) -> str:
        rec = "-" if self.recovery_s is None else f"{self.recovery_s:.1f} s"
        return (f"FAULT {self.fault}: injected {self.injected} for {self.duration_s:.1f} s; events in {self.events_in}, "
                f"stored {self.events_stored}, lost {self.lost}; recovered in {rec}. {self.note}")  # fmt: skip


@dataclass
class LiveRig:
    """The production live path on a local Ray (see the module docstring); `start()` then inject faults."""

    database_url: str
    sink_redis_url: str
    store: Any
    work: Path
    spool_dir: Path
    namespace: str = field(default_factory=lambda: f"faults-{uuid.uuid4().hex[:8]}")
    camera_id: str = field(default_factory=lambda: f"{CAMERA}{uuid.uuid4().hex[:6]}")
    reliability: dict[str, Any] = field(default_factory=lambda: {
        "write_timeout_s": 3.0, "breaker_failures": 3, "breaker_reset_s": 2.0, "db_connect_timeout_s": 2,
        "redis_timeout_s": 1.0, "retry_initial_s": 0.25, "retry_max_s": 2.0})  # fmt: skip

    def __post_init__(self) -> None:
        self.tracks: dict[tuple[str, int], int] = {}  # (session, track) -> first frame index
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.camera = self.sink = None

    # -------------------------------------------------------------------- lifecycle
    def start(self) -> None:
        import ray
        import redis

        from actors.camera_actor import CameraActor
        from actors.event_sink import SINK_NAME, EventSink
        from actors.live_io import EventForwarder, RedisPublisher
        from cluster.settings import TrackerSettings
        from domain.site import CameraConfig
        from storage.db import make_engine, migrate

        engine = make_engine(self.database_url)
        migrate(engine)
        engine.dispose()
        self.engine = make_engine(self.database_url, connect_timeout_s=2)
        self.sink = EventSink.options(name=SINK_NAME, namespace=self.namespace).remote(
            self.database_url, self.sink_redis_url, flush_interval_s=0.1, settle_s=1.0, reliability=self.reliability)
        ray.get(self.sink.ping.remote(), timeout=60)
        config = CameraConfig.model_validate({
            "source": str(VTEST_AVI), "zones": {ZONE: {"polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}},
            "rules": {RULE: {"type": "zone_enter", "zone": ZONE, "clip": True}}})  # fmt: skip
        forwarder = EventForwarder(self.store, self.namespace, spool_dir=self.spool_dir, spool_max_bytes=64 << 20,
                                   retry_initial_s=self.reliability["retry_initial_s"],
                                   retry_max_s=self.reliability["retry_max_s"], upload_wait_s=2.0)  # fmt: skip
        self._sub = redis.Redis.from_url(SHARED_REDIS).pubsub()
        from actors.live_io import tracking_channel

        self._sub.subscribe(tracking_channel(self.camera_id))
        self._listener = threading.Thread(target=self._listen, daemon=True)
        self._listener.start()
        self.camera = CameraActor.options(name=f"witness-camera-{self.camera_id}", namespace=self.namespace,
                                          num_cpus=0.25).remote(
            self.camera_id, config.model_dump(mode="json"), BlinkDetector(),
            publisher=RedisPublisher(SHARED_REDIS, self.camera_id), on_event=forwarder,
            tracker_params=TrackerSettings(track_buffer_s=0.2), detection_fps=10.0, max_width=384,
            clip_pre_s=0.5, clip_post_s=1.0, clip_max_width=256, clip_fps=10.0, clips_dir=str(self.work / "clips"),
            drain_timeout_s=20.0,
        )  # fmt: skip
        _wait(lambda: len(self.tracks) >= 2, 90, "the camera streaming")

    def _listen(self) -> None:
        while not self._stop.is_set():
            msg = self._sub.get_message(ignore_subscribe_messages=True, timeout=0.5)
            if msg is None:
                continue
            update = json.loads(msg["data"])
            with self._lock:
                for t in update.get("tracks", []):
                    self.tracks.setdefault((update["session_id"], int(t["track_id"])), int(update["frame_index"]))

    def close(self) -> None:
        import ray

        self._stop.set()
        for actor in (self.camera, self.sink):
            if actor is not None and ray.is_initialized():
                with contextlib.suppress(Exception):
                    ray.kill(actor, no_restart=True)
        with contextlib.suppress(Exception):
            self.engine.dispose()

    # -------------------------------------------------------------------- counting
    def expected(self) -> set[str]:
        """Ids of every event the camera has detected so far (one `zone_enter` per new track)."""
        from domain.events import Event, EventType, event_id

        with self._lock:
            tracks = dict(self.tracks)
        return {event_id(f"live/{self.camera_id}/{session}", Event(EventType.ZONE_ENTER, RULE, self.camera_id, track, ZONE,
                                                                    0.0, 0.0, frame, frame, 0.9))
                for (session, track), frame in tracks.items()}  # fmt: skip

    def stored(self) -> set[str]:
        """Ids of the camera's events in the database."""
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id FROM event WHERE camera_id = :c"), {"c": self.camera_id})
            return {r[0] for r in rows}

    def clips_stored(self) -> int:
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM clip c JOIN event e ON e.id = c.event_id "
                                            "WHERE e.camera_id = :c"), {"c": self.camera_id}).scalar())  # fmt: skip

    def with_clips(self, ids: set[str]) -> set[str]:
        """Those of `ids` whose clip is stored."""
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT c.event_id FROM clip c JOIN event e ON e.id = c.event_id "
                                        "WHERE e.camera_id = :c"), {"c": self.camera_id})  # fmt: skip
            return {r[0] for r in rows} & ids

    def wait_stored(self, ids: set[str], timeout_s: float = 60.0, *, clips: int | None = None) -> float:
        """Seconds until every event of `ids` is stored (and at least `clips` clips)."""

        def done() -> bool:
            return ids <= self.stored() and (clips is None or self.clips_stored() >= clips)

        return _wait(done, timeout_s, f"{len(ids)} events stored", every_s=0.1)

    def status(self) -> dict[str, Any]:
        import ray

        return ray.get(self.camera.status.remote(), timeout=30)

    # -------------------------------------------------------------------- one scenario
    def run_fault(self, fault: str, injected: str, inject: Callable[[], None], end: Callable[[], None], *,
                  duration_s: float = 6.0, settle_s: float = 2.0, recover_timeout_s: float = 60.0,
                  during: Callable[[], str] | None = None) -> FaultResult:  # fmt: skip
        """Inject a fault for `duration_s` while the camera streams, end it, and measure.

        Recovery is the time from the fault's end until every event detected up to that moment is
        stored. Events in / stored / lost count the events detected from just before the fault to the
        moment of recovery.
        """
        time.sleep(settle_s)
        before = self.expected()
        self.wait_stored(before, 30)
        injected_at = time.monotonic()
        inject()
        time.sleep(duration_s)
        note = during() if during is not None else ""
        end()
        ended = time.monotonic()
        duration_s = ended - injected_at
        at_end = self.expected()
        recovery = None
        with contextlib.suppress(TimeoutError):
            self.wait_stored(at_end, recover_timeout_s)
            recovery = time.monotonic() - ended
        window = at_end - before
        stored = self.stored()
        return FaultResult(fault, injected, duration_s, len(window), len(window & stored), len(window - stored),
                           recovery, note)  # fmt: skip


@contextlib.contextmanager
def local_ray(num_cpus: int = 2) -> Iterator[None]:
    """A Ray of this process's own (shut down after)."""
    import cloudpickle
    import ray

    import tests.faults.harness as harness

    cloudpickle.register_pickle_by_value(harness)  # the test detector travels by value to the camera actor
    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"RAY_AUTH_MODE": "disabled", "OMP_NUM_THREADS": "1", "YOLO_OFFLINE": "1"}})
    try:
        yield
    finally:
        if started:
            ray.shutdown()


def tmp_root(prefix: str) -> Path:
    """A fresh folder for one rig (servers' data, clips, spool)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)  # the private PostgreSQL runs as user postgres, which must reach its folder inside
    return path
