"""Data plane per node: how many cameras one CPU core carries with the real camera loop.

The detector is replaced by a stand-in with the real backend's measured latency per batch size,
so the cost measured is the platform's (decode, sampling, tracking, rules, ring buffer, health
and tracking messages) and the model's cost is the backend benchmark's (`witness models benchmark`).

1. The real detector (`PoseReplica` with the settings' backend, `auto`: OpenVINO on this CPU) is
   timed on batches of 1, 2, 4 and 8 vtest.avi frames at `--imgsz`, and run once over every frame
   of a `--frames`-long cut of vtest.avi: its detections are what the stand-in answers with.
2. The stand-in is a Serve deployment with the production detector's batching settings
   (`DETECTOR__MAX_BATCH_SIZE`, `DETECTOR__BATCH_WAIT_TIMEOUT_S`): a batch of n frames waits the
   measured latency for n (on no CPU, as a GPU would), then returns the real detections of the
   frames it was sent (matched by a 16 x 12 thumbnail, so any rescaling by the camera is fine).
3. For each count in `--cameras`, that many production `CameraActor`s (as `witness up` builds them:
   file source played at its own rate and looped, `CAMERA__*` and `CLIP__*` settings, a zone with a
   dwell (loitering) rule, tracking updates and health published to Redis) run for `--seconds` after a
   warm-up. Reported: their mean analysed fps against `--fps`, the worst lag, the CPU their
   processes used (cores), and cameras per core.
4. Bare baseline, in the same run: a plain loop per camera that only decodes the file at its own
   rate and keeps every `stride`-th frame (what any camera must pay), timed the same way.

    python benchmarks/data_plane.py [--cameras 1 4 8] [--fps 5] [--imgsz 960] [--seconds 30]

Events are not sent to an event sink here (the control plane's part, `benchmarks/scale.py`).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
VTEST = Path(os.environ.get("VTEST_AVI", "/usr/share/doc/opencv-doc/examples/data/vtest.avi"))
THUMB_WH = (16, 12)
BATCHES = (1, 2, 4, 8)


def _thumb(frame: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), THUMB_WH, interpolation=cv2.INTER_AREA).astype(np.float32).ravel()


def cut_video(frames: int, out: Path) -> Path:
    """The first `frames` frames of vtest.avi as an MJPG file (what the cameras play)."""
    import cv2

    cap = cv2.VideoCapture(str(VTEST))
    fps = cap.get(cv2.CAP_PROP_FPS) or 10.0
    writer = None
    for _ in range(frames):
        ok, frame = cap.read()
        if not ok:
            break
        if writer is None:
            h, w = frame.shape[:2]
            writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
        writer.write(frame)
    cap.release()
    if writer is None:
        raise SystemExit(f"{VTEST}: no frames read (install Debian opencv-doc or set VTEST_AVI)")
    writer.release()
    return out


def measure_detector(video: Path, imgsz: int, threads: int) -> tuple[dict[int, float], dict]:
    """Median latency (s) per batch size of the real detector, and its detections of every frame of `video`."""
    import cv2

    from actors.pose_replica import PoseReplica, pose_replica_kwargs
    from cluster.settings import Settings

    settings = Settings()
    replica = PoseReplica(**pose_replica_kwargs(settings.model, imgsz=imgsz, torch_threads=threads,
                                                cache_dir=str(settings.data_dir / "cache")))
    cap = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    replica.predict(frames[:2])  # warm-up
    latency = {}
    for n in BATCHES:
        times = []
        for rep in range(3):
            batch = [frames[(rep * n + i) % len(frames)] for i in range(n)]
            t0 = time.perf_counter()
            replica.predict(batch)
            times.append(time.perf_counter() - t0)
        latency[n] = float(np.median(times))
    thumbs, dets = [], []
    for frame in frames:
        d = replica.predict([frame])[0]
        h, w = frame.shape[:2]
        scale = np.array([w, h, w, h], np.float32)
        thumbs.append(_thumb(frame))
        dets.append((d.xyxy / scale, d.confidence, d.keypoints / np.array([w, h, 1.0], np.float32), d.feats))
    return latency, {"thumbs": np.stack(thumbs), "dets": dets, "backend": replica.health.backend}


def stand_in_deployment(latency: dict[int, float], table: dict, max_batch: int, wait_s: float):
    """A Serve deployment answering like `PoseDetector` (same call, same batching) after the measured latency."""
    from ray import serve

    from actors.pose_replica import FrameDetections

    @serve.deployment(name="StandInDetector", max_ongoing_requests=1024, ray_actor_options={"num_cpus": 0})
    class StandInDetector:
        def __init__(self) -> None:
            self.thumbs, self.dets, self.batches, self.people = table["thumbs"], table["dets"], [], 0

        def _latency(self, n: int) -> float:
            sizes = sorted(latency)
            if n in latency:
                return latency[n]
            lo = max([s for s in sizes if s <= n], default=sizes[0])
            hi = min([s for s in sizes if s >= n], default=sizes[-1])
            if hi == lo:
                return latency[lo] * n / lo
            return latency[lo] + (latency[hi] - latency[lo]) * (n - lo) / (hi - lo)

        def _answer(self, frame: np.ndarray) -> FrameDetections:
            k = int(np.argmin(((self.thumbs - _thumb(frame)) ** 2).sum(axis=1)))
            xyxy, conf, kpts, feats = self.dets[k]
            h, w = frame.shape[:2]
            return FrameDetections(xyxy * np.array([w, h, w, h], np.float32), conf.copy(),
                                   kpts * np.array([w, h, 1.0], np.float32), feats.copy())

        @serve.batch(max_batch_size=max_batch, batch_wait_timeout_s=wait_s)
        async def predict_batch(self, frames: list[np.ndarray]) -> list[FrameDetections]:
            await asyncio.sleep(self._latency(len(frames)))
            self.batches.append(len(frames))
            out = [self._answer(f) for f in frames]
            self.people += sum(len(d.xyxy) for d in out)
            return out

        async def predict(self, frames: list[np.ndarray], source: str = "") -> list[FrameDetections]:
            return list(await asyncio.gather(*(self.predict_batch(f) for f in frames)))

        def stats(self) -> tuple[int, list[int], int]:
            """This replica's process id, the frames per batch it answered so far, and the people in them."""
            return os.getpid(), self.batches, self.people

    return StandInDetector


def _camera_config(video: Path, fps: float) -> dict:
    from domain.site import CameraConfig

    return CameraConfig.model_validate({
        "source": str(video), "fps": fps,
        "zones": {"floor": {"polygon": [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]}},
        "rules": {"linger": {"type": "dwell", "zone": "floor", "dwell_s": 20}},
    }).model_dump(mode="json")


def run_cameras(n: int, handle, video: Path, args, clips_dir: Path) -> dict:
    """`n` production camera actors for `args.seconds` after `args.warmup_s`; fps, lag and CPU."""
    import ray

    from actors.camera_actor import CameraActor
    from actors.live_io import RedisPublisher
    from actors.sources import Backoff
    from benchmarks.scale import _cpu_rss, _procs
    from cluster.settings import Settings

    s = Settings()
    c, clip = s.camera, s.clip
    actors = [CameraActor.options(num_cpus=0).remote(
        f"dp{i}", _camera_config(video, args.fps), handle,
        publisher=RedisPublisher(args.redis_url, f"dp{i}"), on_event=None,
        tracker_params=s.tracker, detection_fps=args.fps, max_width=c.max_width, source=str(video),
        backoff=Backoff(initial_s=c.backoff_initial_s, max_s=c.backoff_max_s),
        error_after_failures=c.error_after_failures, buffer_max_bytes=c.buffer_max_mb << 20,
        clip_pre_s=clip.pre_s, clip_post_s=clip.post_s, clip_max_width=clip.max_width, clip_crf=clip.crf,
        clips_dir=str(clips_dir / f"dp{i}"), detect_timeout_s=c.detect_timeout_s,
    ) for i in range(n)]
    ray.get([a.status.remote() for a in actors])
    time.sleep(args.warmup_s)
    procs = _procs(("CameraActor",))
    cpu0, _ = _cpu_rss(procs)
    t0 = time.monotonic()
    fps, lags = [], []
    while time.monotonic() - t0 < args.seconds:
        time.sleep(min(5.0, args.seconds))
        for st in ray.get([a.status.remote() for a in actors]):
            fps.append(float(st["fps_out"]))
            lags.append(float(st["lag_s"] or 0.0))
    cpu1, rss = _cpu_rss(procs)
    wall = time.monotonic() - t0
    ray.get([a.stop.remote() for a in actors], timeout=120)
    for a in actors:
        ray.kill(a)
    cores = (cpu1 - cpu0) / wall
    return {"cameras": n, "fps_mean": float(np.mean(fps)), "fps_min": float(np.min(fps)), "lag_max": float(np.max(lags)),
            "cores": cores, "rss_mb": rss / max(1, n), "procs": len(procs)}


def bare_decode(n: int, video: Path, fps: float, seconds: float) -> float:
    """Cores used by `n` threads that only decode `video` at its own rate, keeping every stride-th frame."""
    import cv2

    stop = threading.Event()

    def play() -> None:
        cap = cv2.VideoCapture(str(video))
        native = cap.get(cv2.CAP_PROP_FPS) or 10.0
        stride, i, t_next = max(1, round(native / fps)), 0, time.monotonic()
        kept = []
        while not stop.is_set():
            ok, frame = cap.read()
            if not ok:
                cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                continue
            if i % stride == 0:
                kept.append(frame.shape)  # the sampled frame, as a camera keeps it
                del kept[:-1]
            i += 1
            t_next += 1.0 / native
            time.sleep(max(0.0, t_next - time.monotonic()))
        cap.release()

    threads = [threading.Thread(target=play, daemon=True) for _ in range(n)]
    t0, c0 = time.monotonic(), time.process_time()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return (time.process_time() - c0) / (time.monotonic() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cameras", type=int, nargs="+", default=[1, 4, 8])
    ap.add_argument("--fps", type=float, default=5.0)
    ap.add_argument("--imgsz", type=int, default=960)
    ap.add_argument("--threads", type=int, default=2, help="torch / OpenVINO threads of the real detector (step 1)")
    ap.add_argument("--frames", type=int, default=200, help="length of the vtest.avi cut the cameras loop over")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--warmup-s", type=float, default=15.0)
    ap.add_argument("--redis-url", default=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
    args = ap.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

    import ray
    from ray import serve

    from cluster.settings import Settings

    s = Settings()
    with tempfile.TemporaryDirectory(prefix="data-plane-") as tmp:
        video = cut_video(args.frames, Path(tmp) / "vtest-cut.avi")
        latency, table = measure_detector(video, args.imgsz, args.threads)
        print(f"\nreal detector ({table['backend']}, imgsz {args.imgsz}, {args.threads} threads), median latency per batch:")
        print("| batch | ms | ms per frame |\n| --- | --- | --- |")
        for n, sec in latency.items():
            print(f"| {n} | {sec * 1000:.0f} | {sec * 1000 / n:.0f} |")
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": s.runtime_env_vars()})
        app = stand_in_deployment(latency, table, s.detector.max_batch_size, s.detector.batch_wait_timeout_s)
        # Enough stand-in replicas (they take no CPU) that detection is never the limit: one
        # replica of this backend carries max_batch / latency(max_batch) frames/s.
        big = max(latency)
        per_replica = big / latency[big]
        replicas = math.ceil(max(args.cameras) * args.fps / per_replica * 1.25)
        print(f"stand-in: {replicas} replicas of {per_replica:.0f} frames/s each", flush=True)
        handle = serve.run(app.options(num_replicas=replicas).bind(), name="data-plane", route_prefix=None)
        rows = []
        for n in args.cameras:
            row = run_cameras(n, handle, video, args, Path(tmp) / "clips")
            row["bare_cores"] = bare_decode(n, video, args.fps, min(args.seconds, 20.0))
            rows.append(row)
            print(f"  {n} cameras: {row}", flush=True)
        per: dict[int, tuple[list[int], int]] = {}
        for _ in range(20 * replicas):  # each call reaches one replica: ask until every one has answered
            pid, got, n = handle.stats.remote().result()
            per[pid] = (got, n)
            if len(per) == replicas:
                break
        sizes = [b for got, _ in per.values() for b in got]
        people = sum(n for _, n in per.values())
        serve.shutdown()
        ray.shutdown()
    print(f"\ndata plane, {os.cpu_count()} cores, cameras at {args.fps} fps on a {args.frames}-frame vtest.avi cut "
          f"(768x576, 10 fps), stand-in detector (mean batch {np.mean(sizes):.1f} frames, "
          f"{people / max(1, sum(sizes)):.1f} people per frame):")
    print("| cameras | mean fps (target) | slowest camera fps | sustained | worst lag s | camera cores "
          "| cores per camera | cameras per core | bare decode cores per camera | platform / bare |\n" + "| --- " * 10 + "|")
    for r in rows:
        per = r["cores"] / r["cameras"]
        bare = r["bare_cores"] / r["cameras"]
        sustained = "yes" if r["fps_min"] >= 0.9 * args.fps else "no"  # every camera at >= 90 % of its rate
        print(f"| {r['cameras']} | {r['fps_mean']:.2f} ({args.fps:g}) | {r['fps_min']:.2f} | {sustained} | {r['lag_max']:.2f} "
              f"| {r['cores']:.2f} | {per:.3f} | {1 / per:.1f} | {bare:.3f} | {per / bare:.1f}x |")


if __name__ == "__main__":
    main()
