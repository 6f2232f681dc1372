"""Live-camera capacity and frame → event latency, against the bare model measured in the same run.

1. Bare: one plain loop of Ultralytics `predict` over vtest.avi frames at the same image size and
   thread count as the detector replica, once on PyTorch (the `.pt` weights) and once on the
   platform's backend (`MODEL__BACKEND`, default `auto`: OpenVINO on this CPU machine) → frames/s;
   at `--fps` per camera that is `bare / fps` cameras of capacity.
2. The platform (`witness up` on a fresh data folder, on that backend): file cameras playing
   vtest.avi are added one at a time through the REST API; after a warm-up each camera's
   `fps_out` and `lag_s` are sampled. N is sustained when every camera keeps ≥ 90 % of `--fps`
   and its lag does not grow. The detector's batch-size histogram (frames and cameras per forward
   pass) is read back from `/api/v1/system/status`.
3. Latency: with one camera whose rule fires on every person entering the frame (no clip), the
   time from a frame's capture to its event arriving on `/ws/events`, p50 / p95.

    python benchmarks/live_cameras.py [--fps 5] [--imgsz 960] [--max-cameras 4] [--backend auto]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

VTEST = Path(os.environ.get("VTEST_AVI", "/usr/share/doc/opencv-doc/examples/data/vtest.avi"))
WHOLE_FRAME = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]


def bare_fps(imgsz: int, threads: int, *, backend: str = "torch", export_dir: Path | None = None,
             frames: int = 60) -> tuple[float, str]:
    """Frames/s of a plain `predict` loop on `backend` (loaded through the backend layer, as a replica would)."""
    import cv2
    import torch

    from actors.backends import ModelSpec, load_model

    torch.set_num_threads(threads)
    loaded = load_model(ModelSpec(backend=backend, imgsz=imgsz, threads=threads, export_dir=export_dir))
    cap = cv2.VideoCapture(str(VTEST))
    images = [cap.read()[1] for _ in range(frames)]
    loaded.model.predict(images[0], imgsz=imgsz, verbose=False, **loaded.predict_args)
    t0 = time.perf_counter()
    for img in images:
        loaded.model.predict(img, imgsz=imgsz, conf=0.1, verbose=False, **loaded.predict_args)
    h = loaded.health
    label = f"{h.backend} {h.precision}" + (f" ({h.compute} compute)" if h.compute else "")
    return frames / (time.perf_counter() - t0), label


class Api:
    def __init__(self, base: str, password: str) -> None:
        import httpx

        self.base = base
        token = httpx.post(f"{base}/api/v1/auth/login", json={"username": "admin", "password": password}).json()
        self.token = token["access_token"]
        self.client = httpx.Client(base_url=f"{base}/api/v1", headers={"Authorization": f"Bearer {self.token}"},
                                   timeout=60)

    def add_camera(self, site_id: str, key: str, fps: float, rule: dict | None = None) -> str:
        config = {"fps": fps, "zones": {"frame": {"polygon": WHOLE_FRAME}},
                  "rules": {"enter": rule} if rule else {}}
        r = self.client.post("/cameras", json={"site_id": site_id, "key": key, "source": str(VTEST), "config": config})
        r.raise_for_status()
        camera_id = r.json()["id"]
        self.client.post(f"/cameras/{camera_id}/start").raise_for_status()
        return camera_id

    def status(self) -> list[dict]:
        return self.client.get("/cameras/status").json()


def measure(api: Api, warmup_s: float, window_s: float) -> dict[str, dict]:
    time.sleep(warmup_s)
    first = {s["camera_id"]: s for s in api.status()}
    time.sleep(window_s)
    last = {s["camera_id"]: s for s in api.status()}
    return {cid: {"fps_out": last[cid]["fps_out"], "lag_start": first[cid]["lag_s"], "lag_end": last[cid]["lag_s"]}
            for cid in last}


def detector_batches(api: Api) -> list[str]:
    """Each detector replica's backend and its frames / cameras per forward pass (histograms → counts per bucket)."""
    lines = []
    for replica, stats in (api.client.get("/system/status").json().get("detector") or {}).items():
        parts = [f"replica {replica[:8]}: {stats.get('backend')} {stats.get('precision')} "
                 f"({stats.get('compute', '')} compute), {stats.get('batches', 0)} batches / {stats.get('frames', 0)} "
                 f"frames, {stats.get('multi_camera_batches', 0)} batches with frames of several cameras"]
        for field, what in (("batch_frames_hist", "frames"), ("batch_cameras_hist", "cameras")):
            buckets = (stats.get(field) or {}).get("buckets") or []
            counts, previous = [], 0.0
            for le, cumulative in buckets:
                if cumulative > previous:
                    counts.append(f"<={le}: {int(cumulative - previous)}")
                previous = cumulative
            parts.append(f"  {what} per forward pass: " + (", ".join(counts) or "-"))
        lines.extend(parts)
    return lines


def latency(api: Api, seconds: float) -> list[float]:
    from websockets.sync.client import connect

    ws_url = api.base.replace("http://", "ws://") + f"/ws/events?access_token={api.token}"
    samples: list[float] = []
    with connect(ws_url, open_timeout=30) as ws:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                msg = json.loads(ws.recv(timeout=5))
            except TimeoutError:
                continue
            captured = (msg.get("payload") or {}).get("epoch_end_s")
            if msg.get("kind") == "event" and captured:
                samples.append(time.time() - captured)
    return samples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fps", type=float, default=5.0, help="detection rate per camera")
    ap.add_argument("--imgsz", type=int, default=960)
    ap.add_argument("--backend", default="auto", help="MODEL__BACKEND of the platform (auto, torch, openvino, onnx)")
    ap.add_argument("--batch-wait-s", type=float, default=None, help="DETECTOR__BATCH_WAIT_TIMEOUT_S (default: settings)")
    ap.add_argument("--max-batch", type=int, default=None, help="DETECTOR__MAX_BATCH_SIZE (default: settings)")
    ap.add_argument("--max-cameras", type=int, default=4)
    ap.add_argument("--warmup-s", type=float, default=20.0)
    ap.add_argument("--window-s", type=float, default=30.0)
    ap.add_argument("--latency-s", type=float, default=60.0)
    args = ap.parse_args()
    threads = max(1, (os.cpu_count() or 2))
    data = Path(tempfile.mkdtemp(prefix="witness-live-bench-"))
    export_dir = Path(os.environ.get("MODEL__EXPORT_DIR") or data / "cache" / "exports")
    os.environ.update({
        "DATA_DIR": str(data), "MODEL__IMGSZ": str(args.imgsz), "DETECTOR__NUM_CPUS": str(threads),
        "MODEL__TORCH_THREADS": str(threads), "CAMERA__NUM_CPUS": "0.05", "API__NUM_CPUS": "0.05",
        "RAY_NUM_CPUS": str(threads + 1), "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/12"),
        "API__PORT": os.environ.get("API__PORT", "8137"), "MODEL__BACKEND": args.backend,
        "MODEL__EXPORT_DIR": str(export_dir),
    })
    if args.batch_wait_s is not None:
        os.environ["DETECTOR__BATCH_WAIT_TIMEOUT_S"] = str(args.batch_wait_s)
    if args.max_batch is not None:
        os.environ["DETECTOR__MAX_BATCH_SIZE"] = str(args.max_batch)
    from cluster.live import down, up
    from cluster.runtime import prepare_environment
    from cluster.settings import Settings

    settings = Settings()
    prepare_environment(settings)
    torch_fps, _ = bare_fps(args.imgsz, threads, backend="torch")
    bare, label = bare_fps(args.imgsz, threads, backend=args.backend, export_dir=export_dir)
    capacity = bare / args.fps
    print(f"bare PyTorch loop: {torch_fps:.2f} frames/s at imgsz {args.imgsz}, {threads} threads "
          f"-> capacity {torch_fps / args.fps:.2f} cameras at {args.fps} fps", flush=True)
    print(f"bare {label} loop: {bare:.2f} frames/s ({bare / torch_fps:.2f}x PyTorch) "
          f"-> capacity {capacity:.2f} cameras at {args.fps} fps", flush=True)
    print(f"detector batching: up to {settings.detector.max_batch_size} frames, "
          f"wait {settings.detector.batch_wait_timeout_s} s", flush=True)
    result = up(settings)
    try:
        api = Api(result.url, result.admin_password or "")
        site = api.client.post("/sites", json={"name": "bench"}).json()["id"]
        sustained, rows = 0, []
        for n in range(1, args.max_cameras + 1):
            api.add_camera(site, f"cam{n}", args.fps)
            m = measure(api, args.warmup_s, args.window_s)
            fps = [v["fps_out"] for v in m.values()]
            growing = any(v["lag_end"] - v["lag_start"] > 1.0 for v in m.values())
            ok = min(fps) >= 0.9 * args.fps and not growing
            rows.append((n, sum(fps), min(fps), max(v["lag_end"] for v in m.values()), ok))
            print(f"N={n}: total fps_out {sum(fps):5.2f}, min per camera {min(fps):4.2f}, "
                  f"max lag {rows[-1][3]:.2f} s -> {'sustained' if ok else 'NOT sustained'}", flush=True)
            if ok:
                sustained = n
            else:
                break
        best_total = max(r[1] for r in rows)
        print(f"largest N sustained: {sustained}; capacity by the bare model: {capacity:.2f}; "
              f"ratio N / capacity: {sustained / capacity:.2f}; platform throughput / bare: {best_total / bare:.2f}; "
              f"cameras vs the bare PyTorch capacity: {sustained / (torch_fps / args.fps):.2f}x")
        for line in detector_batches(api):
            print(line)
        for i in range(1, n + 1):
            api.client.post(f"/cameras/bench.cam{i}/stop")
        api.add_camera(site, "latency", args.fps, {"type": "zone_enter", "zone": "frame", "clip": False})
        samples = latency(api, args.latency_s)
        if samples:
            q = statistics.quantiles(samples, n=20)
            print(f"frame -> event on /ws/events: n={len(samples)}, p50 {statistics.median(samples) * 1000:.0f} ms, "
                  f"p95 {q[18] * 1000:.0f} ms")
        else:
            print("no events arrived for the latency measurement")
    finally:
        print("stopped:", ", ".join(down(settings)))


if __name__ == "__main__":
    main()
