"""From per-frame detections of a video's chunks to whole-video trajectories and rule events."""

from __future__ import annotations

from typing import Any

import numpy as np
import supervision as sv

from actors.pose_replica import FrameDetections
from actors.tracker import PersonTracker, TrackletBuilder
from domain.events import Event
from domain.rules import RulesEngine
from domain.site import CameraConfig
from domain.stitching import StitchParams, interpolate_gaps, join_chunks, prune_short, renumber, stitch_tracklets
from domain.tracks import Trajectory

__all__ = ["track_chunk", "build_trajectories", "evaluate_rules", "CHUNK_ID_SPAN"]

CHUNK_ID_SPAN = 1_000_000  # tracker ids of chunk k are offset by k * CHUNK_ID_SPAN to stay unique


def track_chunk(
    frames: list[tuple[int, float, FrameDetections]], *, chunk_index: int, tracker_params: Any, fps: float
) -> list[Trajectory]:
    """Run a fresh tracker over one chunk's frames (in frame order).

    Args:
        frames: `(frame_index, t_s, detections)` of the chunk, any order.
        chunk_index: used to make ids unique across chunks.
        tracker_params: `TrackerSettings`.
        fps: analysed frames per second.
    """
    tracker = PersonTracker(tracker_params, fps)
    builder = TrackletBuilder()
    for frame_index, t_s, dets in sorted(frames, key=lambda f: f[0]):
        track_id, det_index = tracker.update(dets)
        builder.add(frame_index, t_s, dets, track_id, det_index)
    return builder.trajectories(id_offset=chunk_index * CHUNK_ID_SPAN)


def build_trajectories(
    chunk_tracklets: list[list[Trajectory]],
    overlaps: list[tuple[int, int]],
    *,
    tracker_params: Any,
    video_fps: float,
    stride: int,
) -> list[Trajectory]:
    """Join chunks, stitch fragments, drop flicker, fill short gaps and number people 1, 2, ….

    Args:
        chunk_tracklets: per chunk (in order), its tracklets from `track_chunk`.
        overlaps: frame ranges where consecutive chunks overlap.
        tracker_params: `TrackerSettings` (stitching and pruning knobs).
        video_fps: the video's frame rate.
        stride: analysis stride in frames.
    """
    joined = join_chunks(chunk_tracklets, overlaps)
    params = StitchParams(
        max_gap_s=tracker_params.stitch_max_gap_s,
        max_residual_h_s=tracker_params.stitch_max_residual_h_s,
        min_similarity=tracker_params.stitch_min_similarity,
    )
    step_s = stride / video_fps
    stitched = stitch_tracklets(joined, params)
    kept = prune_short(stitched, min_detected_s=tracker_params.min_track_s, step_s=step_s)
    filled = [
        interpolate_gaps(t, step_frames=stride, fps=video_fps, max_gap_s=tracker_params.interpolate_max_gap_s)
        for t in kept
    ]
    return renumber(filled)


def evaluate_rules(
    trajectories: list[Trajectory],
    *,
    camera_id: str,
    camera: CameraConfig,
    resolution_wh: tuple[int, int],
) -> list[Event]:
    """Replay the trajectories frame by frame through the camera's rules engine.

    Interpolated points take their track's mean detected confidence, so a person briefly hidden
    stays inside a zone instead of failing the rules' `min_confidence`; their keypoints are
    invisible, so the pose rules (`fall`, `fighting`) skip those points.
    """
    if not camera.rules:
        return []
    per_frame: dict[int, list[tuple[int, np.ndarray, float, float, np.ndarray]]] = {}
    no_pose = np.zeros((17, 3), np.float32)  # interpolated points carry no pose (visibility 0)
    for traj in trajectories:
        det = ~traj.interpolated
        mean_conf = float(traj.confidence[det].mean()) if det.any() else 0.0
        conf = np.where(traj.interpolated, mean_conf, traj.confidence)
        kps = traj.keypoints if traj.keypoints is not None else [no_pose] * len(traj)
        for f, t, box, c, kp in zip(traj.frame_index.tolist(), traj.t_s.tolist(), traj.xyxy, conf.tolist(), kps):
            per_frame.setdefault(f, []).append((traj.track_id, box, c, t, kp))
    engine = RulesEngine(camera_id, camera, resolution_wh)
    events: list[Event] = []
    last = (0, 0.0)
    for f in sorted(per_frame):
        rows = per_frame[f]
        dets = sv.Detections(
            xyxy=np.stack([r[1] for r in rows]).astype(np.float32),
            confidence=np.array([r[2] for r in rows], np.float32),
            class_id=np.zeros(len(rows), int),
            tracker_id=np.array([r[0] for r in rows], int),
            data={"keypoints": np.stack([r[4] for r in rows]).astype(np.float32)},
        )
        events.extend(engine.update(dets, f, rows[0][3]))
        last = (f, rows[0][3])
    events.extend(engine.finish(*last))
    return events
