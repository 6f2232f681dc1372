"""Track exports of a finished job: MOTChallenge text, CSV and JSON, one file per video."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import re
from enum import Enum
from functools import reduce
from pathlib import Path
from typing import Any

import numpy as np

from domain.tracks import Trajectory, densify
from storage import crud

__all__ = ["ExportFormat", "export_tracks", "trajectories_of_video"]


class ExportFormat(str, Enum):
    """Supported export formats."""

    MOT = "mot"
    CSV = "csv"
    JSON = "json"


def trajectories_of_video(session: Any, video_id: str) -> tuple[list[Trajectory], int]:
    """Rebuild a stored video's trajectories and its analysis stride (frames between analysed frames).

    The stride is the greatest common divisor of the gaps between stored points (1 when every frame
    was analysed).
    """
    grouped: dict[int, list[Any]] = {}
    for track_id, p in crud.list_track_points_for_video(session, video_id):
        grouped.setdefault(track_id, []).append(p)
    trajectories = []
    gaps: set[int] = set()
    for track_id, pts in grouped.items():
        fi = np.array([p.frame_index for p in pts], np.int64)
        gaps.update(np.diff(fi).tolist())
        kp = [p.keypoints for p in pts]
        trajectories.append(
            Trajectory(
                track_id=track_id,
                frame_index=fi,
                t_s=np.array([p.t_s for p in pts], np.float64),
                xyxy=np.array([[p.x1, p.y1, p.x2, p.y2] for p in pts], np.float32),
                confidence=np.array([p.confidence for p in pts], np.float32),
                interpolated=np.array([p.interpolated for p in pts], bool),
                keypoints=np.array(kp, np.float32) if all(k is not None for k in kp) else None,
            )
        )
    stride = reduce(math.gcd, [g for g in gaps if g > 0], 0) or 1
    return trajectories, stride


def _safe_stem(name: str, video_id: str, used: set[str]) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).stem) or video_id
    if stem in used:
        stem = f"{stem}-{video_id[:8]}"
    used.add(stem)
    return stem


def export_tracks(session: Any, job_id: str, fmt: ExportFormat, out_dir: Path, *, ids: str = "local") -> list[Path]:
    """Write the tracks of every completed video of `job_id` to `out_dir`.

    With `ids="global"` the id of every track is the job's person number instead (1, 2, … by
    first appearance, shared by all the job's videos: one person seen by two cameras has one
    number in both files), and `ids.csv` (`person,global_id`) maps the numbers to the people's
    `global_id`s; a track without a global id (identity off) gets a number of its own after them.

    `mot`: `frame,id,x,y,w,h,conf,-1,-1,-1` per line, frames counted from 1 over every decoded frame,
    boxes in original pixels. Frames that were not analysed get boxes linearly interpolated between
    the two analysed frames around them (only within a track's life and across gaps the job itself
    bridged); no box is invented where a track was absent. `csv` and `json` hold the stored points
    (analysed and interpolated frames, flagged) with foot points and, in JSON, keypoints.

    Args:
        session: database session.
        job_id: the job.
        fmt: output format.
        out_dir: created if needed.
        ids: `local` (per-video track ids) or `global` (the job's person numbers, plus `ids.csv`).

    Returns:
        The files written.

    Raises:
        LookupError: the job does not exist or has no completed video.
    """
    job = crud.get_job(session, job_id)
    if job is None:
        raise LookupError(f"no job {job_id!r}")
    videos = [v for v in crud.list_videos(session, job_id) if str(getattr(v.status, "value", v.status)) == "done"]
    if not videos:
        raise LookupError(f"job {job_id!r} has no completed video to export")
    if ids not in ("local", "global"):
        raise ValueError(f"ids must be local or global, but got {ids!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written, used = [], set()
    numbers = _person_numbers(session, job_id, videos) if ids == "global" else None
    for video in videos:
        trajectories, stride = trajectories_of_video(session, video.id)
        if numbers is not None:
            trajectories = [dataclasses.replace(t, track_id=numbers[(video.id, t.track_id)]) for t in trajectories]
        stem = _safe_stem(video.name, video.id, used)
        path = out_dir / f"{stem}.{'txt' if fmt is ExportFormat.MOT else fmt.value}"
        if fmt is ExportFormat.MOT:
            _write_mot(path, trajectories, stride)
        elif fmt is ExportFormat.CSV:
            _write_csv(path, trajectories)
        else:
            _write_json(path, video, trajectories, stride)
        written.append(path)
    if numbers is not None:
        path = out_dir / "ids.csv"
        with path.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["person", "global_id"])
            for gid, n in sorted(numbers["_people"].items(), key=lambda kv: kv[1]):
                w.writerow([n, gid])
        written.append(path)
    return written


def _person_numbers(session: Any, job_id: str, videos: list[Any]) -> dict[Any, Any]:
    """`(video_id, track_id) → person number`, plus `"_people"`: `global_id → number`."""
    from storage.identity import job_person_numbers

    people = job_person_numbers(session, job_id)
    out: dict[Any, Any] = {"_people": people}
    spare = max(people.values(), default=0)
    for video in videos:
        for track in crud.list_tracks(session, video_id=video.id):
            if track.global_id in people:
                out[(video.id, track.track_id)] = people[track.global_id]
            else:
                spare += 1
                out[(video.id, track.track_id)] = spare
    return out


def _write_mot(path: Path, trajectories: list[Trajectory], stride: int) -> None:
    rows = []
    for t in trajectories:
        frames, xyxy, conf = densify(t, max_gap_frames=stride)
        for f, b, c in zip(frames.tolist(), xyxy.tolist(), conf.tolist()):
            rows.append((f + 1, t.track_id, b[0], b[1], b[2] - b[0], b[3] - b[1], c))
    rows.sort()
    with path.open("w") as fh:
        for f, tid, x, y, w, h, c in rows:
            fh.write(f"{f},{tid},{x:.2f},{y:.2f},{w:.2f},{h:.2f},{c:.3f},-1,-1,-1\n")


def _write_csv(path: Path, trajectories: list[Trajectory]) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["track_id", "frame", "t_s", "x1", "y1", "x2", "y2", "foot_x", "foot_y", "confidence", "interpolated"])
        for t in trajectories:
            foot = t.foot_xy
            for i in range(len(t)):
                x1, y1, x2, y2 = t.xyxy[i].tolist()
                w.writerow([t.track_id, int(t.frame_index[i]), f"{t.t_s[i]:.3f}", f"{x1:.2f}", f"{y1:.2f}",
                            f"{x2:.2f}", f"{y2:.2f}", f"{foot[i, 0]:.2f}", f"{foot[i, 1]:.2f}",
                            f"{t.confidence[i]:.3f}", int(t.interpolated[i])])


def _write_json(path: Path, video: Any, trajectories: list[Trajectory], stride: int) -> None:
    doc = {
        "video": {"id": video.id, "name": video.name, "uri": video.uri, "fps": video.fps,
                  "frame_count": video.frame_count, "resolution_wh": [video.width, video.height], "stride": stride},
        "tracks": [
            {
                "track_id": t.track_id,
                "first_t_s": float(t.t_s[0]),
                "last_t_s": float(t.t_s[-1]),
                "points": [
                    {"frame": int(t.frame_index[i]), "t_s": round(float(t.t_s[i]), 3),
                     "xyxy": [round(v, 2) for v in t.xyxy[i].tolist()],
                     "foot_xy": [round(v, 2) for v in t.foot_xy[i].tolist()],
                     "confidence": round(float(t.confidence[i]), 3), "interpolated": bool(t.interpolated[i]),
                     "keypoints": None if t.keypoints is None or t.interpolated[i]
                     else np.round(t.keypoints[i], 2).tolist()}
                    for i in range(len(t))
                ],
            }
            for t in trajectories
        ],
    }
    path.write_text(json.dumps(doc))
