"""Bulk-job throughput against the bare model, measured in one run on the same long video.

Bare baseline: what a user would write without the platform: one plain loop that decodes the video
with OpenCV and calls Ultralytics `predict` on the same sampled frames at the same image size.
Job: `witness analyze` (the Ray Data job: decode, pose replica, tracking, stitching, rules, clips,
database) on the same video, with the example site file.

    python benchmarks/bulk_throughput.py [--minutes 5] [--fps 2] [--imgsz 1280]

Prints frames/s of each and the ratio job / bare (target >= 0.9 on a 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cluster.settings import Settings  # noqa: E402
from cluster.runtime import init_ray, open_database, open_store, prepare_environment  # noqa: E402

VTEST = Path(os.environ.get("VTEST_AVI", "/usr/share/doc/opencv-doc/examples/data/vtest.avi"))


def make_long_video(path: Path, minutes: float) -> int:
    """vtest.avi looped to at least `minutes` minutes (MPEG-4 part 2 in AVI, like the original)."""
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
        k = i % (2 * len(frames) - 2)  # ping-pong so the loop has no jump cut
        writer.write(frames[k if k < len(frames) else 2 * len(frames) - 2 - k])
    writer.release()
    return need


def bare(video: Path, *, fps: float, imgsz: int, conf: float) -> tuple[int, float]:
    """The plain loop: decode, sample, predict. Returns (frames predicted, seconds)."""
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


def job(video: Path, *, fps: float, imgsz: int, data_dir: Path) -> tuple[int, float, float, dict]:
    """The platform's job. Returns (frames analysed, job seconds, Ray start seconds, summary)."""
    os.environ["DATA_DIR"] = str(data_dir)
    settings = Settings()
    from domain.site import parse_site_yaml
    from pipelines.bulk import JobOptions, run_job

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
        raise SystemExit(f"job failed: {v.error}")
    return v.frames_analysed, outcome.elapsed_s, ray_start, {
        "people": v.people, "events": v.events_by_type, "clips": v.clips}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=5.0, help="length of the looped video (>= 5 for the record)")
    ap.add_argument("--fps", type=float, default=2.0, help="detection rate (frames/s) for both")
    ap.add_argument("--imgsz", type=int, default=1280)
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args()
    settings = Settings()
    prepare_environment(settings)
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    with tempfile.TemporaryDirectory(prefix="witness-bench-") as tmp:
        tmpd = Path(tmp)
        video = tmpd / "vtest_long.avi"
        total = make_long_video(video, args.minutes)
        print(f"video: {video.name}, {total} frames, {total / 10 / 60:.1f} min; fps {args.fps}, imgsz {args.imgsz}, "
              f"{os.cpu_count()} cores", flush=True)
        n_bare, s_bare = bare(video, fps=args.fps, imgsz=args.imgsz, conf=settings.model.conf)
        print(f"bare   : {n_bare} frames in {s_bare:7.1f} s = {n_bare / s_bare:6.2f} frames/s", flush=True)
        n_job, s_job, s_ray, summary = job(video, fps=args.fps, imgsz=args.imgsz, data_dir=tmpd / "data")
        print(f"job    : {n_job} frames in {s_job:7.1f} s = {n_job / s_job:6.2f} frames/s "
              f"(+ {s_ray:.1f} s Ray start; {summary})", flush=True)
        ratio = (n_job / s_job) / (n_bare / s_bare)
        with_start = (n_job / (s_job + s_ray)) / (n_bare / s_bare)
        print(f"ratio job / bare: {ratio:.3f} (with Ray start-up: {with_start:.3f})")
        if args.json:
            args.json.write_text(json.dumps({
                "frames": total, "fps": args.fps, "imgsz": args.imgsz, "bare_frames": n_bare, "bare_s": s_bare,
                "job_frames": n_job, "job_s": s_job, "ray_start_s": s_ray, "ratio": ratio,
                "ratio_with_start": with_start, "summary": summary}, indent=2))


if __name__ == "__main__":
    main()
