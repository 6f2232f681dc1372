"""Bulk-job throughput per inference backend against the bare PyTorch loop, measured in one run on the same video.

1. Bare baseline: what a user writes without the platform: one plain loop that decodes the video
   with OpenCV and calls Ultralytics `predict` (PyTorch, the `.pt` weights) on the same frames at
   the same image size.
2. The job (`run_job`: Ray Data decode → pose replica → tracking, stitching, rules, clips,
   database) with `MODEL__BACKEND=torch`.
3. The same job on the default backend (`MODEL__BACKEND=auto`: OpenVINO on this CPU machine). Its
   one-off export is made (or found in the cache) before the timing starts and reported apart.

Then the MOT exports of jobs 2 and 3 are compared frame by frame: box agreement (one-to-one
matches at IoU >= 0.5) and, taking the PyTorch job's tracks as the reference, MOTA / IDF1
(`motmetrics`).

    python benchmarks/bulk_throughput.py [--minutes 1] [--fps 10] [--imgsz 1280]

Prints frames/s of each and the ratios against the bare loop (target: default job >= 2.5x).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cluster.runtime import init_ray, open_database, open_store, prepare_environment  # noqa: E402
from cluster.settings import Settings  # noqa: E402

VTEST = Path(os.environ.get("VTEST_AVI", "/usr/share/doc/opencv-doc/examples/data/vtest.avi"))


def make_long_video(path: Path, minutes: float) -> int:
    """vtest.avi looped to `minutes` minutes (ping-pong, so the loop has no jump cut; MPEG-4 in AVI like the original)."""
    import cv2

    src = cv2.VideoCapture(str(VTEST))
    frames = []
    while True:
        ok, f = src.read()
        if not ok:
            break
        frames.append(f)
    fps = 10
    need = int(minutes * 60 * fps)
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"XVID"), fps, (w, h))
    for i in range(need):
        k = i % (2 * len(frames) - 2)
        writer.write(frames[k if k < len(frames) else 2 * len(frames) - 2 - k])
    writer.release()
    return need


def bare(video: Path, *, fps: float, imgsz: int, conf: float) -> tuple[int, float]:
    """The plain PyTorch loop: decode, sample, predict. Returns (frames predicted, seconds)."""
    import cv2
    from ultralytics import YOLO

    from cluster.settings import default_weights
    from pipelines.video import sampling_stride

    model = YOLO(default_weights(), task="pose")
    cap = cv2.VideoCapture(str(video))
    stride = sampling_stride(cap.get(cv2.CAP_PROP_FPS), fps)
    model.predict(cap.read()[1], imgsz=imgsz, conf=conf, verbose=False)  # warm-up, like the job's first frame
    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    n, i = 0, 0
    t0 = time.perf_counter()
    while True:
        if i % stride:
            if not cap.grab():
                break
        else:
            ok, frame = cap.read()
            if not ok:
                break
            model.predict(frame, imgsz=imgsz, conf=conf, verbose=False)
            n += 1
        i += 1
    return n, time.perf_counter() - t0


def prepare_export(settings: Settings, imgsz: int) -> dict:
    """Load the default backend once, as the job's replica will (its export made or found in the cache)."""
    from actors.pose_replica import PoseReplica, pose_replica_kwargs

    started = time.perf_counter()
    replica = PoseReplica(**pose_replica_kwargs(settings.model, imgsz=imgsz,
                                                cache_dir=str(settings.data_dir.resolve() / "cache")))
    h = replica.health
    return {"backend": replica.backend_label, "export": h.export, "export_s": h.export_s,
            "load_s": round(time.perf_counter() - started, 2)}


def job(video: Path, *, fps: float, imgsz: int, data_dir: Path, backend: str, export_dir: Path,
        out_dir: Path) -> dict:
    """The platform's job on `backend`; its MOT export is written to `out_dir`."""
    os.environ["DATA_DIR"] = str(data_dir)
    settings = Settings()
    settings.model = settings.model.model_copy(update={"backend": backend, "export_dir": str(export_dir)})
    from sqlmodel import Session

    from domain.site import parse_site_yaml
    from pipelines.bulk import JobOptions, run_job
    from pipelines.export import ExportFormat, export_tracks

    t0 = time.perf_counter()
    init_ray(settings)
    ray_start = time.perf_counter() - t0
    site = parse_site_yaml((REPO / "examples" / "site.yaml").read_text(), "examples/site.yaml")
    options = JobOptions(model=settings.model, tracker=settings.tracker, job=settings.job, clip=settings.clip,
                         cache_dir=data_dir / "cache", fps=fps, imgsz=imgsz)
    engine, store = open_database(settings), open_store(settings)
    outcome = run_job([str(video)], site=site, engine=engine, store=store, options=options)
    v = outcome.videos[0]
    if v.status != "done":
        raise SystemExit(f"job ({backend}) failed: {v.error}")
    with Session(engine) as session:
        (mot,) = export_tracks(session, outcome.job_id, ExportFormat.MOT, out_dir)
    return {"frames": v.frames_analysed, "seconds": outcome.elapsed_s, "ray_start_s": ray_start,
            "backend": outcome.backend, "people": v.people, "events": v.events_by_type, "clips": v.clips, "mot": mot}


def read_mot(path: Path) -> dict[int, list[tuple[int, list[float]]]]:
    """MOT lines `frame,id,x,y,w,h,…` → frame → [(id, xyxy)]."""
    frames: dict[int, list[tuple[int, list[float]]]] = defaultdict(list)
    for line in path.read_text().splitlines():
        f, tid, x, y, w, h = (float(v) for v in line.split(",")[:6])
        frames[int(f)].append((int(tid), [x, y, x + w, y + h]))
    return frames


def mot_agreement(reference: Path, candidate: Path) -> dict:
    """Box agreement and MOTA / IDF1 of `candidate`'s tracks against `reference`'s (both MOT files)."""
    import motmetrics as mm
    import numpy as np
    import supervision as sv

    from actors.backends import Agreement, box_agreement

    ref, cand = read_mot(reference), read_mot(candidate)
    total = Agreement(0, 0, 0, 1.0)
    acc = mm.MOTAccumulator(auto_id=True)
    for f in sorted(set(ref) | set(cand)):
        r, c = ref.get(f, []), cand.get(f, [])
        rb = np.array([b for _, b in r], float).reshape(-1, 4)
        cb = np.array([b for _, b in c], float).reshape(-1, 4)
        total = total + box_agreement(rb, cb)
        distance = 1.0 - sv.box_iou_batch(rb, cb) if len(rb) and len(cb) else np.empty((len(rb), len(cb)))
        distance[distance > 0.5] = np.nan  # pairs under IoU 0.5 cannot match (motmetrics' iou_matrix convention)
        acc.update([i for i, _ in r], [i for i, _ in c], distance)
    summary = mm.metrics.create().compute(acc, metrics=["mota", "idf1", "num_switches"], name="cand")
    return {
        "boxes_reference": total.reference, "boxes_candidate": total.candidate, "matched": total.matched,
        "box_recall": round(total.recall, 4), "box_precision": round(total.precision, 4),
        "mean_iou": round(total.mean_iou, 4), "ids_reference": len({i for v in ref.values() for i, _ in v}),
        "ids_candidate": len({i for v in cand.values() for i, _ in v}),
        "mota_vs_reference": round(float(summary["mota"].iloc[0]), 4),
        "idf1_vs_reference": round(float(summary["idf1"].iloc[0]), 4),
        "id_switches_vs_reference": int(summary["num_switches"].iloc[0]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=1.0, help="length of the looped video")
    ap.add_argument("--fps", type=float, default=10.0, help="detection rate (frames/s); 10 = every frame of vtest.avi")
    ap.add_argument("--imgsz", type=int, default=1280)
    ap.add_argument("--skip-torch-job", action="store_true", help="leave out the MODEL__BACKEND=torch job (and the "
                    "MOT comparison)")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args()
    settings = Settings()
    prepare_environment(settings)
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    figures: dict = {"fps": args.fps, "imgsz": args.imgsz, "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="witness-bench-") as tmp:
        tmpd = Path(tmp)
        export_dir = Path(settings.model.export_dir or tmpd / "exports")
        video = tmpd / "vtest_long.avi"
        total = make_long_video(video, args.minutes)
        figures["video_frames"] = total
        print(f"video: {video.name}, {total} frames, {total / 10 / 60:.1f} min; fps {args.fps}, imgsz {args.imgsz}, "
              f"{os.cpu_count()} cores", flush=True)
        n_bare, s_bare = bare(video, fps=args.fps, imgsz=args.imgsz, conf=settings.model.conf)
        bare_fps = n_bare / s_bare
        figures["bare"] = {"frames": n_bare, "seconds": round(s_bare, 2), "fps": round(bare_fps, 3)}
        print(f"bare PyTorch loop     : {n_bare} frames in {s_bare:7.1f} s = {bare_fps:6.2f} frames/s", flush=True)
        runs = [] if args.skip_torch_job else ["torch"]
        runs.append("auto")
        for backend in runs:
            if backend == "auto":
                settings.model = settings.model.model_copy(update={"export_dir": str(export_dir)})
                figures["export"] = prepare_export(settings, args.imgsz)
                e = figures["export"]
                print(f"default backend       : {e['backend']}; export {e['export']}"
                      + (f" in {e['export_s']:.1f} s (one-off, cached)" if e["export"] == "built" else ""), flush=True)
            r = job(video, fps=args.fps, imgsz=args.imgsz, data_dir=tmpd / f"data-{backend}", backend=backend,
                    export_dir=export_dir, out_dir=tmpd / f"mot-{backend}")
            fps = r["frames"] / r["seconds"]
            r |= {"fps": round(fps, 3), "vs_bare": round(fps / bare_fps, 3)}
            figures[f"job_{backend}"] = r
            label = "job MODEL__BACKEND=torch" if backend == "torch" else "job default (auto)   "
            print(f"{label}: {r['frames']} frames in {r['seconds']:7.1f} s = {fps:6.2f} frames/s = "
                  f"{fps / bare_fps:.2f}x bare (+ {r['ray_start_s']:.1f} s Ray start; {r['backend']}; "
                  f"{r['people']} people, {sum(r['events'].values())} events, {r['clips']} clips)", flush=True)
        if "job_torch" in figures:
            agreement = mot_agreement(figures["job_torch"]["mot"], figures["job_auto"]["mot"])
            figures["mot_agreement"] = agreement
            print(f"MOT export, default vs torch: {agreement['matched']} of {agreement['boxes_reference']} torch boxes "
                  f"matched (recall {agreement['box_recall']:.3f}, precision {agreement['box_precision']:.3f}, "
                  f"mean IoU {agreement['mean_iou']:.3f}); ids {agreement['ids_candidate']} vs "
                  f"{agreement['ids_reference']}; MOTA {agreement['mota_vs_reference']:.3f}, "
                  f"IDF1 {agreement['idf1_vs_reference']:.3f} against the torch tracks")
        for r in (figures.get("job_torch"), figures.get("job_auto")):
            if r:
                r["mot"] = str(r["mot"].name)
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
