"""Identity figures: registry lookups, embedder throughput bare vs through Serve, the live stage's cost per frame.

1. Registry lookup: an `IdentityRegistryCore` holding N people (one fusion-sized embedding each,
   last seen long ago so only the appearance index proposes candidates) is asked who a new track
   is (a known person's embedding, slightly perturbed): p50 / p99 of `lookup` (index search +
   space-time gating) and of `observe` (the same plus placing the track and inserting its
   embedding into the gallery index), with a flat and an HNSW index.
2. Embedder: person crops from vtest.avi embedded by `EmbedderReplica` in a plain loop (bare),
   then through the `PersonEmbedder` Serve deployment by 4 concurrent callers; crops/s and ratio.
3. Live stage: `IdentityStage.update` on the camera thread for vtest.avi frames with their real
   tracks (cached detections of benchmarks/embedder_quality.py), and the background work per
   frame (embedder + registry), against the detector's time per frame at the same image size.

    python benchmarks/identity.py [--sizes 1000,10000,100000] [--skip-serve]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
VTEST = Path(os.environ.get("VTEST_AVI", "/usr/share/doc/opencv-doc/examples/data/vtest.avi"))


def registry_lookups(sizes: list[int], dim: int, queries: int, kinds: tuple[str, ...] = ("flat", "hnsw")) -> None:
    from actors.identity_registry import IdentityRegistryCore, TrackObservation

    rng = np.random.default_rng(0)
    print("\n| people | index | build s | lookup p50 ms | lookup p99 ms | observe p50 ms | observe p99 ms |\n"
          "| --- | --- | --- | --- | --- | --- | --- |")
    for n in sizes:
        vecs = rng.normal(size=(n, dim)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        persons = [{"global_id": f"p{i}", "first_seen_s": 0.0, "last_seen_s": 95.0, "first_camera_id": "a",
                    "last_camera_id": "a", "expires_at": 1e12} for i in range(n)]
        embeddings = [{"id": i + 1, "global_id": f"p{i}", "quality": 0.8, "vector": vecs[i].tobytes()} for i in range(n)]
        for kind in kinds:
            core = IdentityRegistryCore("bench", index=kind, clock=lambda: 0.0)
            t0 = time.perf_counter()
            core.restore(persons, embeddings, [], [])
            build = time.perf_counter() - t0
            looks, places = [], []
            for q in range(queries):
                # a slightly perturbed known person, seen in another camera 5 s after their last sighting
                v = vecs[q % n] + rng.normal(scale=0.01, size=dim).astype(np.float32)  # cosine ~0.94
                v /= np.linalg.norm(v)
                obs = TrackObservation("b", f"b/{q}", q, np.array([100.0]), np.zeros((1, 4)), np.full((1, 2), np.nan),
                                       v[None], np.array([0.8], np.float32))
                t = time.perf_counter()
                found, _ = core.lookup(obs)  # index search + space-time gating: who is it?
                looks.append(time.perf_counter() - t)
                assert found == f"p{q % n}", "the lookup must find the perturbed person"
                t = time.perf_counter()
                core.observe(obs)  # the same plus placing the track and adding its crop to the gallery and index
                places.append(time.perf_counter() - t)
            lk, pl = np.array(looks) * 1000, np.array(places) * 1000
            print(f"| {n} | {kind} | {build:.1f} | {np.percentile(lk, 50):.2f} | {np.percentile(lk, 99):.2f} "
                  f"| {np.percentile(pl, 50):.2f} | {np.percentile(pl, 99):.2f} |", flush=True)
            del core


def vtest_crops(limit: int) -> list[np.ndarray]:
    import cv2

    cache = sorted((REPO / "data" / "cache").glob("embedder_quality_*.npz"))
    if not cache:
        raise SystemExit("run benchmarks/embedder_quality.py first (it caches vtest.avi's tracks)")
    boxes = np.load(cache[0], allow_pickle=True)["boxes"].tolist()
    by_frame: dict[int, list] = {}
    for row in boxes:
        by_frame.setdefault(int(row[0]), []).append(row)
    cap = cv2.VideoCapture(str(VTEST))
    crops = []
    for i in range(max(by_frame) + 1):
        ok, frame = cap.read()
        if not ok or len(crops) >= limit:
            break
        for _, _, x1, y1, x2, y2, _ in by_frame.get(i, []):
            crop = frame[max(0, int(y1)):int(y2), max(0, int(x1)):int(x2)]
            if crop.size:
                crops.append(crop.copy())
    return crops[:limit]


class _BareLoop:
    """`EmbedderReplica.embed` in a plain loop over batches of `batch_size` (crops/s), the model kept loaded."""

    def __init__(self, kwargs: dict) -> None:
        from actors.embedder_replica import EmbedderReplica

        self.rep, self.step = EmbedderReplica(**kwargs), int(kwargs["batch_size"])

    def run(self, crops: list[np.ndarray]) -> float:
        self.rep.embed(crops[:self.step])  # warm-up
        t0 = time.perf_counter()
        for i in range(0, len(crops), self.step):
            self.rep.embed(crops[i:i + self.step])
        return len(crops) / (time.perf_counter() - t0)


def embedder_throughput(crops: list[np.ndarray], threads: int, rounds: int = 3) -> None:
    """Bare loop in the driver, the same loop in a Ray worker placed like the replica, and the Serve path.

    The worker loop and the Serve path alternate for `rounds` rounds and the medians are compared:
    this machine's speed drifts by tens of percent over a minute, which one pass of each would
    read as a difference between them.
    """
    import concurrent.futures as cf

    import ray
    from ray import serve

    from deployments.embedder import PersonEmbedder

    kwargs = dict(kind="fusion", torch_threads=threads, batch_size=16)
    bare = _BareLoop(kwargs).run(crops)
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": str(threads)}})
    # The same loop in a Ray worker with the replica's resources: Ray runs workers at a lower CPU
    # priority (`worker_niceness`) and with its own threads, a cost of any Ray process, not of Serve.
    worker = ray.remote(num_cpus=1)(_BareLoop).remote(kwargs)
    handle = serve.run(PersonEmbedder.options(ray_actor_options={"num_cpus": 1}).bind(kwargs), name="bench-embedder",
                       route_prefix=None)
    handle.embed.remote(crops[:16]).result()
    chunks = [crops[i:i + 8] for i in range(0, len(crops), 8)]
    in_worker, served = [], []
    for _ in range(rounds):
        in_worker.append(ray.get(worker.run.remote(crops)))
        t0 = time.perf_counter()
        with cf.ThreadPoolExecutor(4) as pool:  # four cameras asking at once
            list(pool.map(lambda c: handle.embed.remote(c).result(timeout_s=120), chunks))
        served.append(len(crops) / (time.perf_counter() - t0))
    serve.shutdown()
    ray.shutdown()
    w, sv = float(np.median(in_worker)), float(np.median(served))
    print(f"\n| embedder (fusion), median of {rounds} alternating rounds | crops/s |\n| --- | --- |\n"
          f"| bare EmbedderReplica loop, driver process (one pass, before Ray starts) | {bare:.1f} |\n"
          f"| bare loop in a Ray worker (num_cpus 1, as the replica) | {w:.1f} "
          f"({', '.join(f'{x:.0f}' for x in in_worker)}) |\n"
          f"| PersonEmbedder on Serve, 4 callers of 8 crops | {sv:.1f} ({', '.join(f'{x:.0f}' for x in served)}) |\n"
          f"| ratio served / bare in a worker (the serving path) | **{sv / w:.2f}** |\n"
          f"| ratio served / bare in the driver | {sv / bare:.2f} |")


def live_stage_cost(frames: int, imgsz: int) -> None:
    import cv2

    from actors.embedder_replica import EmbedderReplica
    from actors.identity_registry import IdentityRegistryCore, TrackObservation
    from actors.identity_stage import IdentityStage
    from actors.pose_replica import PoseReplica
    from domain.site import CameraConfig

    cache = sorted((REPO / "data" / "cache").glob("embedder_quality_*.npz"))
    boxes = np.load(cache[0], allow_pickle=True)["boxes"].tolist()
    by_frame: dict[int, list] = {}
    for row in boxes:
        by_frame.setdefault(int(row[0]), []).append(row)
    cap = cv2.VideoCapture(str(VTEST))
    imgs = [cap.read()[1] for _ in range(frames)]
    pose = PoseReplica(imgsz=imgsz, torch_threads=2, with_appearance=True)
    pose.predict(imgs[:1])
    t0 = time.perf_counter()
    for img in imgs[:20]:
        pose.predict([img])
    detect_ms = (time.perf_counter() - t0) / 20 * 1000
    emb = EmbedderReplica(kind="fusion", torch_threads=2)
    core = IdentityRegistryCore("bench")
    background = [0.0]

    def embed(crops):
        t = time.perf_counter()
        out = emb.embed(crops)
        background[0] += time.perf_counter() - t
        return out

    def observe(obs):
        t = time.perf_counter()
        out = [core.observe(TrackObservation(**o)).as_dict() for o in obs]
        background[0] += time.perf_counter() - t
        return out

    cal = {"image_points": [[0, 1], [1, 1], [1, 0.3], [0, 0.3]], "map_points": [[0, 11.5], [15.4, 11.5], [15.4, 3.5], [0, 3.5]]}
    stage = IdentityStage("bench.cam", CameraConfig(calibration=cal), session_key="b", embed=embed, observe=observe,
                          min_track_frames=3, refresh_s=1.0)
    upd = []
    for i, img in enumerate(imgs):
        rows = by_frame.get(i, [])
        tid = np.array([int(r[1]) for r in rows], np.int64)
        xyxy = np.array([r[2:6] for r in rows], np.float32).reshape(-1, 4)
        conf = np.array([r[6] for r in rows], np.float32)
        t = time.perf_counter()
        stage.update(img, 1e9 + i / 10, tid, xyxy, conf)
        upd.append(time.perf_counter() - t)
        time.sleep(0.01)
    time.sleep(2)
    stage.close()
    update_ms = float(np.mean(upd) * 1000)
    bg_ms = background[0] / frames * 1000
    print(f"\n| live identity stage, {frames} frames of vtest.avi (10 fps, every frame) | ms per frame |\n| --- | --- |\n"
          f"| detector (yolo11n-pose, imgsz {imgsz}, 2 threads) | {detect_ms:.1f} |\n"
          f"| identity stage on the camera thread (`update`) | {update_ms:.2f} |\n"
          f"| identity background work (embedder + registry), per frame | {bg_ms:.1f} |\n"
          f"| extra per analysed frame / detector | **{(update_ms + bg_ms) / detect_ms:.3f}** |\n"
          f"(people placed: {core.stats()['persons']}, tracks: {core.stats()['tracks']})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--dim", type=int, default=1376, help="embedding size (fusion: 96 + 1280)")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--crops", type=int, default=320)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--imgsz", type=int, default=960)
    ap.add_argument("--skip-serve", action="store_true")
    ap.add_argument("--kinds", default="flat,hnsw", help="registry indexes to measure")
    ap.add_argument("--only", choices=["registry", "embedder", "stage"], default=None)
    args = ap.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    if args.only in (None, "registry"):
        registry_lookups([int(s) for s in args.sizes.split(",")], args.dim, args.queries, tuple(args.kinds.split(",")))
    if args.only in (None, "embedder") and not args.skip_serve:
        embedder_throughput(vtest_crops(args.crops), threads=2)
    if args.only in (None, "stage"):
        live_stage_cost(args.frames, args.imgsz)


if __name__ == "__main__":
    main()
