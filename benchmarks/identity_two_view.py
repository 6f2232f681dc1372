"""Cross-camera identity on two views cut from vtest.avi: multi-camera IDF1 with links vs without.

Views `a` and `b` are cut from the same frames (`tests/pipelines/two_views.py`): `overlap` (they
share a strip, people in it are seen by both at once) and `gap` (a strip between them is seen by
neither: people leave `a` and enter `b` a moment later). Both are calibrated to one plan.

Truth: one job over the full frames (same seconds and fps; imgsz 1280, since the full frame's people
are smaller than in the views) gives each person one
track id; a view's truth is those boxes shifted into the view, where the foot point is inside it.
This makes the cross-camera truth exact by construction, but it inherits the single-camera
tracker's own mistakes (no hand-made labels exist here).

Scores (motmetrics, the boxes of both views pooled as one sequence, IoU >= 0.5, as the AI City
Challenge's multi-camera IDF1):
- with links: predicted id = the job's person (global id) in both views;
- without links: predicted id = (camera, track id), i.e. no cross-camera association;
- single-camera: IDF1 of each view alone against its truth (an upper reference for "with links").

    python benchmarks/identity_two_view.py [--seconds 40] [--fps 5] [--imgsz 960] [--layouts overlap,gap]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
VTEST = Path(os.environ.get("VTEST_AVI", "/usr/share/doc/opencv-doc/examples/data/vtest.avi"))


def _job(paths, site, settings, engine, store, fps, imgsz):
    from pipelines.bulk import JobOptions, run_job
    from pipelines.identity import IdentityOptions

    options = JobOptions(model=settings.model, tracker=settings.tracker, job=settings.job, clip=settings.clip,
                         cache_dir=settings.data_dir.resolve() / "cache", fps=fps, imgsz=imgsz,
                         identity=IdentityOptions(settings.identity, settings.embedder))
    out = run_job([str(p) for p in paths], site=site, engine=engine, store=store, options=options)
    assert not out.failed, [v.error for v in out.videos]
    return out


def _boxes(engine, job_id):
    """`camera -> frame -> [(track_id, global_id, x1, y1, x2, y2)]` of the detected points."""
    import sqlalchemy as sa

    out: dict = {}
    with engine.connect() as c:
        rows = c.execute(sa.text(
            "SELECT v.camera_id, t.track_id, t.global_id, p.frame_index, p.x1, p.y1, p.x2, p.y2 FROM track_point p "
            "JOIN track t ON t.id = p.track_pk JOIN video v ON v.id = t.video_id "
            "WHERE v.job_id = :j AND NOT p.interpolated"), {"j": job_id}).all()
    for cam, tid, gid, f, *box in rows:
        out.setdefault(cam, {}).setdefault(f, []).append((tid, gid, *box))
    return out


def _iou_distance(a: np.ndarray, b: np.ndarray, *, max_distance: float) -> np.ndarray:
    """`1 - IoU` of `(N, 4)` and `(M, 4)` `[x, y, w, h]` boxes, NaN above `max_distance` (motmetrics' convention;
    its own `iou_matrix` uses a function NumPy 2 removed)."""
    if len(a) == 0 or len(b) == 0:
        return np.empty((len(a), len(b)))
    ax2, ay2, bx2, by2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    d = 1.0 - inter / np.where(union > 0, union, 1.0)
    return np.where(d > max_distance, np.nan, d)


def _idf1(pairs) -> float:
    """IDF1 over `[(gt [(id, xyxy)], pred [(id, xyxy)])]` frames."""
    import motmetrics as mm

    acc = mm.MOTAccumulator(auto_id=True)
    numbers: dict = {}  # motmetrics wants numeric ids
    for gt, pred in pairs:
        pred = [(numbers.setdefault(i, len(numbers) + 1), b) for i, b in pred]
        g = np.array([b for _, b in gt], float).reshape(-1, 4)
        p = np.array([b for _, b in pred], float).reshape(-1, 4)
        g[:, 2:] -= g[:, :2]
        p[:, 2:] -= p[:, :2]
        acc.update([i for i, _ in gt], [i for i, _ in pred], _iou_distance(g, p, max_distance=0.5))
    return float(mm.metrics.create().compute(acc, metrics=["idf1"], name="x")["idf1"].iloc[0])


def evaluate(truth, views, pred) -> dict[str, float]:
    frames = sorted({f for cam in pred.values() for f in cam} | set(truth))
    pooled_links, pooled_local, single = [], [], {}
    for cam, v in views.items():
        x0, w = v["x0_px"], v["width_px"]
        cam_pairs = []
        for f in frames:
            gt = []
            for tid, _, x1, y1, x2, y2 in truth.get(f, []):
                foot = (x1 + x2) / 2
                if x0 <= foot < x0 + w:
                    gt.append((tid, (max(x1, x0) - x0, y1, min(x2, x0 + w) - x0, y2)))
            pr = pred.get(cam, {}).get(f, [])
            links = [(gid, (x1, y1, x2, y2)) for tid, gid, x1, y1, x2, y2 in pr]
            local = [(f"{cam}/{tid}", (x1, y1, x2, y2)) for tid, gid, x1, y1, x2, y2 in pr]
            pooled_links.append((gt, links))
            pooled_local.append((gt, local))
            cam_pairs.append((gt, local))
        single[cam] = _idf1(cam_pairs)
    return {"with_links": _idf1(pooled_links), "without_links": _idf1(pooled_local),
            "single_a": single["a"], "single_b": single["b"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--fps", type=float, default=5.0)
    ap.add_argument("--imgsz", type=int, default=960)
    ap.add_argument("--truth-imgsz", type=int, default=1280, help="inference size of the full-frame (truth) job")
    ap.add_argument("--layouts", default="overlap,gap")
    args = ap.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import cv2

    from cluster.runtime import init_ray, open_database, open_store, prepare_environment
    from cluster.settings import Settings
    from domain.site import SiteConfig, parse_site_yaml
    from tests.pipelines.two_views import cut_two_views, site_yaml

    work = Path(tempfile.mkdtemp(prefix="two-view-"))
    settings = Settings(data_dir=work / "data", database_url=None)
    prepare_environment(settings)
    engine, store = open_database(settings), open_store(settings)
    init_ray(settings)
    full = work / "full.avi"
    cap = cv2.VideoCapture(str(VTEST))
    wr = cv2.VideoWriter(str(full), cv2.VideoWriter_fourcc(*"MJPG"), 10, (768, 576))
    for _ in range(int(args.seconds * 10)):
        ok, frame = cap.read()
        if ok:
            wr.write(frame)
    wr.release()
    t0 = time.perf_counter()
    truth_job = _job([full], SiteConfig.default(), settings, engine, store, args.fps, args.truth_imgsz)
    truth = _boxes(engine, truth_job.job_id)["default"]
    print(f"truth: {len({t[0] for f in truth.values() for t in f})} tracks on the full frames ({time.perf_counter() - t0:.0f} s)")
    print("\n| layout | IDF1 with links | IDF1 without links | single-camera IDF1 a / b | people (global ids) | tracks |")
    print("| --- | --- | --- | --- | --- | --- |")
    for layout in args.layouts.split(","):
        views = cut_two_views(full, work / layout, seconds=args.seconds, layout=layout)
        site = parse_site_yaml(site_yaml(views, layout=layout, name=f"bench-{layout}"), "two-view.yaml")
        job = _job([views["a"]["path"], views["b"]["path"]], site, settings, engine, store, args.fps, args.imgsz)
        pred = _boxes(engine, job.job_id)
        r = evaluate(truth, views, pred)
        people = len({t[1] for cam in pred.values() for f in cam.values() for t in f})
        tracks = len({(cam, t[0]) for cam, fr in pred.items() for f in fr.values() for t in f})
        print(f"| {layout} | {r['with_links']:.3f} | {r['without_links']:.3f} | {r['single_a']:.3f} / {r['single_b']:.3f} "
              f"| {people} | {tracks} |", flush=True)


if __name__ == "__main__":
    main()
