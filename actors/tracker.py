"""Per-video / per-camera person tracker: Ultralytics BoT-SORT fed with the replica's detections.

The tracker is disposable state (a restart simply starts new tracks); the tracklets it produces are
collected by `TrackletBuilder` into `domain.Trajectory` objects.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import numpy.typing as npt

from actors.pose_replica import FrameDetections
from domain.tracks import Trajectory

__all__ = ["PersonTracker", "TrackletBuilder"]


class PersonTracker:
    """BoT-SORT over `FrameDetections`, with optional appearance matching on the detector's features.

    Args:
        params: a `cluster.settings.TrackerSettings` (or any object with the same attributes).
        fps: analysed frames per second, to turn `track_buffer_s` into frames.
    """

    def __init__(self, params: Any, fps: float) -> None:
        from ultralytics.trackers.bot_sort import BOTSORT
        from ultralytics.utils import IterableSimpleNamespace

        self.args = IterableSimpleNamespace(
            tracker_type="botsort",
            track_high_thresh=params.track_high_thresh,
            track_low_thresh=params.track_low_thresh,
            new_track_thresh=params.new_track_thresh,
            track_buffer=max(1, round(params.track_buffer_s * fps)),
            match_thresh=params.match_thresh,
            fuse_score=True,
            gmc_method="none",  # store cameras are fixed: no camera-motion compensation needed
            proximity_thresh=params.proximity_thresh,
            appearance_thresh=params.appearance_thresh,
            with_reid=params.with_reid,
            model="auto",
        )
        self._tracker = BOTSORT(self.args)

    def reset(self) -> None:
        """Forget every track (ids restart from 1)."""
        self._tracker.reset()
        self._tracker.reset_id()

    def update(self, dets: FrameDetections) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Associate one frame's detections with the running tracks.

        Args:
            dets: the frame's detections.

        Returns:
            `(track_id, det_index)`, both `(M,)` int64: the confirmed tracks of this frame and the index
            into `dets` of the detection each was matched to. Boxes to store are `dets.xyxy[det_index]`
            (the measured box, not the Kalman prediction).
        """
        from ultralytics.engine.results import Boxes

        n = len(dets)
        data = np.zeros((n, 6), np.float32)
        if n:
            data[:, :4] = dets.xyxy
            data[:, 4] = dets.confidence
        boxes = Boxes(data, orig_shape=(1, 1)).numpy()
        feats = dets.feats if self.args.with_reid and dets.feats.shape[1] > 0 else None
        out = self._tracker.update(boxes, None, feats=feats)
        if len(out) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return out[:, 4].astype(np.int64), out[:, 7].astype(np.int64)


class TrackletBuilder:
    """Collects tracked detections frame by frame into `Trajectory` objects."""

    def __init__(self) -> None:
        self._points: dict[int, list[tuple[int, float, Any, float, Any, Any, Any]]] = defaultdict(list)

    def add(
        self,
        frame_index: int,
        t_s: float,
        dets: FrameDetections,
        track_id: npt.NDArray[np.int64],
        det_index: npt.NDArray[np.int64],
    ) -> None:
        """Record the tracks of one frame (the output of `PersonTracker.update`)."""
        for tid, k in zip(track_id.tolist(), det_index.tolist()):
            feat = dets.feats[k] if dets.feats.shape[1] else None
            landmarks = None if dets.landmarks is None else dets.landmarks[k]
            self._points[tid].append(
                (frame_index, t_s, dets.xyxy[k], float(dets.confidence[k]), dets.keypoints[k], feat, landmarks)
            )

    def trajectories(self, *, id_offset: int = 0) -> list[Trajectory]:
        """All tracklets so far, ids shifted by `id_offset`; appearance = mean of L2-normalised features."""
        result = []
        for tid, pts in self._points.items():
            pts.sort(key=lambda p: p[0])
            feats = [p[5] for p in pts if p[5] is not None]
            embedding = None
            if feats:
                f = np.stack(feats).astype(np.float32)
                f /= np.linalg.norm(f, axis=1, keepdims=True).clip(min=1e-6)
                embedding = f.mean(0)
            result.append(
                Trajectory(
                    track_id=tid + id_offset,
                    frame_index=np.array([p[0] for p in pts], np.int64),
                    t_s=np.array([p[1] for p in pts], np.float64),
                    xyxy=np.stack([p[2] for p in pts]).astype(np.float32),
                    confidence=np.array([p[3] for p in pts], np.float32),
                    interpolated=np.zeros(len(pts), bool),
                    keypoints=np.stack([p[4] for p in pts]).astype(np.float32),
                    embedding=embedding,
                    landmarks=(np.stack([p[6] if p[6] is not None else np.zeros((33, 3), np.float32) for p in pts])
                               .astype(np.float32) if any(p[6] is not None for p in pts) else None),
                )
            )
        return result
