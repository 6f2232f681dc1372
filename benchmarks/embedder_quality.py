"""Which appearance embedder re-identifies vtest.avi's people best: colour, MobileNetV2, or their fusion.

Crops come from the real model and tracker on vtest.avi (every frame of the first `--frames`,
imgsz 960); a track with at least `--min-crops` crops of people >= 60 px tall counts. Each
track's crops are split in time: the first half is the gallery, the second half the queries
(the same person later, in another pose and place). For every embedder:

- rank-1: share of query crops whose most similar gallery (quality-weighted top-3 mean, as the
  registry scores) is their own track;
- mAP over the query crops;
- AUC of same-person vs different-person similarities, and the threshold with the best balanced accuracy.

    python benchmarks/embedder_quality.py [--frames 400] [--min-crops 16]

Detections are cached in DATA_DIR/cache/embedder_quality_*.npz between runs.
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


def tracked_crops(frames: int, imgsz: int, cache: Path) -> dict[int, list[tuple[int, np.ndarray, float]]]:
    """`track_id -> [(frame, crop, quality)]` from the real detector and tracker."""
    import cv2

    from actors.pose_replica import PoseReplica
    from actors.tracker import PersonTracker
    from cluster.settings import TrackerSettings
    from domain.identity import crop_quality

    cache.parent.mkdir(parents=True, exist_ok=True)
    if cache.exists():
        data = np.load(cache, allow_pickle=True)
        boxes = data["boxes"].tolist()
    else:
        replica = PoseReplica(imgsz=imgsz, torch_threads=2, with_appearance=False)
        tracker = PersonTracker(TrackerSettings(), fps=10)
        cap = cv2.VideoCapture(str(VTEST))
        boxes = []
        for i in range(frames):
            ok, frame = cap.read()
            if not ok:
                break
            det = replica.predict([frame])[0]
            tid, k = tracker.update(det)
            for t, j in zip(tid.tolist(), k.tolist()):
                boxes.append((i, t, *det.xyxy[j].tolist(), float(det.confidence[j])))
        np.savez(cache, boxes=np.array(boxes, dtype=object))
    cap = cv2.VideoCapture(str(VTEST))
    by_frame: dict[int, list] = {}
    for row in boxes:
        by_frame.setdefault(int(row[0]), []).append(row)
    out: dict[int, list] = {}
    for i in range(max(by_frame) + 1 if by_frame else 0):
        ok, frame = cap.read()
        if not ok:
            break
        h, w = frame.shape[:2]
        for _, t, x1, y1, x2, y2, conf in by_frame.get(i, []):
            if y2 - y1 < 60:
                continue
            crop = frame[max(0, int(y1)):int(y2), max(0, int(x1)):int(x2)]
            if crop.size:
                out.setdefault(int(t), []).append((i, crop.copy(), crop_quality([x1, y1, x2, y2], conf, (w, h))))
    return out


def evaluate(embed, tracks: dict[int, list]) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    from domain.identity import gallery_similarity

    gallery, queries = {}, []
    for t, items in tracks.items():
        half = len(items) // 2
        g = items[:half]
        gallery[t] = (embed([c for _, c, _ in g]), np.array([q for _, _, q in g]))
        q = embed([c for _, c, _ in items[half:]])
        queries += [(t, v) for v in q]
    ids = sorted(gallery)
    rank1, aps, same, diff = 0, [], [], []
    for t, v in queries:
        scores = np.array([gallery_similarity(gallery[g][0] @ v, gallery[g][1]) for g in ids])
        truth = np.array([g == t for g in ids])
        rank1 += int(ids[int(scores.argmax())] == t)
        aps.append(average_precision_score(truth, scores))
        same += scores[truth].tolist()
        diff += scores[~truth].tolist()
    y = np.r_[np.ones(len(same)), np.zeros(len(diff))]
    s = np.r_[same, diff]
    thresholds = np.unique(np.round(s, 3))
    # balanced accuracy: there are ~15 times more different-person pairs than same-person ones
    acc = [(0.5 * ((s[y == 1] >= th).mean() + (s[y == 0] < th).mean()), th) for th in thresholds]
    best_acc, best_th = max(acc)
    return {"rank1": rank1 / len(queries), "mAP": float(np.mean(aps)), "auc": float(roc_auc_score(y, s)),
            "best_threshold": float(best_th), "same_p10": float(np.percentile(same, 10)),
            "diff_p90": float(np.percentile(diff, 90)), "queries": len(queries)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=400)
    ap.add_argument("--imgsz", type=int, default=960)
    ap.add_argument("--min-crops", type=int, default=16)
    args = ap.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from actors.embedder_replica import EmbedderReplica
    from cluster.settings import Settings

    cache = Path(Settings().data_dir) / "cache" / f"embedder_quality_{args.frames}_{args.imgsz}.npz"
    t0 = time.perf_counter()
    tracks = {t: v for t, v in tracked_crops(args.frames, args.imgsz, cache).items() if len(v) >= args.min_crops}
    print(f"{len(tracks)} tracks, {sum(len(v) for v in tracks.values())} crops ({time.perf_counter() - t0:.0f} s)")
    print("| embedder | dim | rank-1 | mAP | AUC | best threshold | same p10 | different p90 | ms/crop |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for kind, w in (("color", 1.0), ("mobilenetv2", 0.0), ("fusion", 0.3), ("fusion", 0.5), ("fusion", 0.7)):
        rep = EmbedderReplica(kind=kind, color_weight=w, torch_threads=2)
        n = sum(len(v) for v in tracks.values())
        t0 = time.perf_counter()
        r = evaluate(rep.embed, tracks)
        ms = (time.perf_counter() - t0) * 1000 / n
        name = f"{kind} (colour {w:g})" if kind == "fusion" else kind
        print(f"| {name} | {rep.dim} | {r['rank1']:.3f} | {r['mAP']:.3f} | {r['auc']:.3f} | {r['best_threshold']:.2f} "
              f"| {r['same_p10']:.2f} | {r['diff_p90']:.2f} | {ms:.1f} |")


if __name__ == "__main__":
    main()
