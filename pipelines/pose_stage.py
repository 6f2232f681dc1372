"""The bulk job's pose stage: `PoseReplica`, plus MediaPipe landmarks for videos whose camera asks for them.

Rows carry a `pose` column (`"yolo"` or `"mediapipe"`, the camera's `pose` in the site file); for
`mediapipe` rows each person box is refined by `actors.mediapipe_pose.MediaPipePose` while the image
is still in the batch, adding a `landmarks` column (`(N, 33, 3)` per row; `(0, 33, 3)` for yolo rows).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from actors.pose_replica import FrameDetections, PoseReplica

__all__ = ["PoseStage"]


class PoseStage(PoseReplica):
    """`PoseReplica` as a Ray Data UDF that also runs MediaPipe on the rows that ask for it (loaded on first use)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._mediapipe: Any = None

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        images = batch["image"]
        poses = [str(p) for p in batch.get("pose", ["yolo"] * len(images))]
        out = super().__call__(batch)
        landmarks = np.empty(len(images), dtype=object)
        landmarks[:] = [np.zeros((0, 33, 3), np.float32)] * len(images)
        for i, pose in enumerate(poses):
            if pose != "mediapipe":
                continue
            if self._mediapipe is None:
                from actors.mediapipe_pose import MediaPipePose

                self._mediapipe = MediaPipePose()
            dets = FrameDetections(out["xyxy"][i], out["confidence"][i], out["keypoints"][i], out["feats"][i])
            refined = self._mediapipe.refine(images[i], dets)
            out["keypoints"][i], landmarks[i] = refined.keypoints, refined.landmarks
        out["landmarks"] = landmarks
        return out
