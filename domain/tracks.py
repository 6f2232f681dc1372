"""Trajectories: a tracked person's boxes over time, the output of tracking and stitching."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Trajectory", "densify"]


@dataclass
class Trajectory:
    """One person's track through one video, in the original video's pixels.

    Attributes:
        track_id: per-video track id (stable through the whole video after stitching).
        frame_index: `(T,)` int64, frame indices over every decoded frame, strictly increasing.
        t_s: `(T,)` float64, seconds from the start of the video.
        xyxy: `(T, 4)` float32 as `[x1, y1, x2, y2]` in pixels.
        confidence: `(T,)` float32, detector confidence (0 for interpolated points).
        interpolated: `(T,)` bool, True where the box was filled in between detections.
        keypoints: `(T, 17, 3)` float32 COCO-17 `[x, y, visibility]` in pixels, or `None`.
        embedding: `(D,)` float32 mean appearance descriptor, or `None`.
        landmarks: `(T, 33, 3)` float32 MediaPipe pose landmarks `[x, y, visibility]` in pixels
            (cameras with `pose: mediapipe`; zeros where none were found), or `None`.

    Raises:
        ValueError: if the arrays do not share the same length `T` or have the wrong shapes.
    """

    track_id: int
    frame_index: npt.NDArray[np.int64]
    t_s: npt.NDArray[np.float64]
    xyxy: npt.NDArray[np.float32]
    confidence: npt.NDArray[np.float32]
    interpolated: npt.NDArray[np.bool_]
    keypoints: npt.NDArray[np.float32] | None = None
    embedding: npt.NDArray[np.float32] | None = None
    landmarks: npt.NDArray[np.float32] | None = None

    def __post_init__(self) -> None:
        n = len(self.frame_index)
        if self.xyxy.shape != (n, 4):
            raise ValueError(f"xyxy must have shape ({n}, 4), but got shape {self.xyxy.shape}")
        for name in ("t_s", "confidence", "interpolated"):
            arr = getattr(self, name)
            if arr.shape != (n,):
                raise ValueError(f"{name} must have shape ({n},), but got shape {arr.shape}")
        if self.keypoints is not None and self.keypoints.shape != (n, 17, 3):
            raise ValueError(f"keypoints must have shape ({n}, 17, 3), but got {self.keypoints.shape}")
        if self.landmarks is not None and self.landmarks.shape != (n, 33, 3):
            raise ValueError(f"landmarks must have shape ({n}, 33, 3), but got {self.landmarks.shape}")

    def __len__(self) -> int:
        return len(self.frame_index)

    @property
    def foot_xy(self) -> npt.NDArray[np.float32]:
        """`(T, 2)` bottom-centre of each box in pixels: where the person stands."""
        return np.stack([(self.xyxy[:, 0] + self.xyxy[:, 2]) / 2, self.xyxy[:, 3]], axis=1)

    @property
    def detected_count(self) -> int:
        """Number of points that came from a detection (not interpolated)."""
        return int((~self.interpolated).sum())


def densify(
    traj: Trajectory, *, max_gap_frames: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Boxes of `traj` at every frame between its points, linearly interpolated across short gaps.

    Frames between two consecutive points more than `max_gap_frames` apart stay empty (the person
    may really have been away); shorter gaps are filled. Use `max_gap_frames` = the analysis stride
    to get a box on every decoded frame where the track was alive.

    Args:
        traj: one trajectory.
        max_gap_frames: longest gap (in frames) to fill.

    Returns:
        `(frame_index (F,), xyxy (F, 4) float32, confidence (F,) float32)`; confidence is
        interpolated linearly too, a stored interpolated point counting as the track's mean
        detected confidence.

    Example:
        >>> t = Trajectory(1, np.array([0, 2]), np.array([0.0, 0.2]), np.array([[0, 0, 2, 2], [2, 0, 4, 2]], np.float32),
        ...                np.array([0.8, 0.6], np.float32), np.zeros(2, bool))
        >>> densify(t, max_gap_frames=2)[1][1].tolist()
        [1.0, 0.0, 3.0, 2.0]
    """
    fi = traj.frame_index
    if len(fi) == 0:
        return fi, traj.xyxy, traj.confidence
    frames: list[int] = [int(fi[0])]
    for a, b in zip(fi[:-1].tolist(), fi[1:].tolist()):
        if b - a <= max_gap_frames:
            frames.extend(range(a + 1, b + 1))
        else:
            frames.append(b)
    out = np.array(frames, np.int64)
    xyxy = np.stack([np.interp(out, fi, traj.xyxy[:, c]) for c in range(4)], axis=1).astype(np.float32)
    # Interpolated points carry confidence 0; use the detected neighbours' mean for filled frames.
    conf = traj.confidence.astype(np.float32).copy()
    if (~traj.interpolated).any():
        mean_conf = float(conf[~traj.interpolated].mean())
        conf[traj.interpolated] = mean_conf
    confidence = np.interp(out, fi, conf).astype(np.float32)
    return out, xyxy, confidence
