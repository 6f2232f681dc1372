"""Per-frame body geometry from COCO-17 keypoints, for the safety rules (`fall`, `fighting`).

Everything is per detection of one frame, vectorised over `N` people. Image coordinates are
pixels, origin top-left, y down. A keypoint whose visibility is below `min_visibility` is
missing (NaN); a midpoint falls back to whichever of its two joints is visible.

Body height is the person's box height in pixels (`xyxy[:, 3] - xyxy[:, 1]`): the one size every
detection has, whatever its keypoints. Speeds divided by it are "body heights per second"
(`bh/s`), which makes thresholds independent of the camera's distance and resolution.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from domain.pose_features import L_ANKLE, L_HIP, L_SHOULDER, L_WRIST, R_ANKLE, R_HIP, R_SHOULDER, R_WRIST

__all__ = ["LIMBS", "MEDIAPIPE_TO_COCO17", "mediapipe_to_coco17", "visible_xy", "midpoint", "hip_xy", "torso_angle_deg", "box_height_px", "box_aspect_wh",
           "limbs_relative_xy"]

LIMBS: tuple[int, ...] = (L_WRIST, R_WRIST, L_ANKLE, R_ANKLE)  # the end points a fight moves fast

# MediaPipe Pose's 33 landmarks (BlazePose topology) → COCO-17, by joint name: nose 0, left eye 2,
# right eye 5, left ear 7, right ear 8, shoulders 11/12, elbows 13/14, wrists 15/16, hips 23/24,
# knees 25/26, ankles 27/28 (the MediaPipe Pose landmark model card's numbering).
MEDIAPIPE_TO_COCO17: tuple[int, ...] = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)


def mediapipe_to_coco17(landmarks: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """COCO-17 keypoints from MediaPipe's 33 pose landmarks, so every rule and feature reads one format.

    Args:
        landmarks: `(N, 33, 3)` `[x, y, visibility]` in pixels (visibility 0–1, MediaPipe's own).

    Returns:
        `(N, 17, 3)` float32 COCO-17 `[x, y, visibility]`.

    Raises:
        ValueError: if `landmarks` is not `(N, 33, 3)`.

    Example:
        >>> lm = np.zeros((1, 33, 3)); lm[0, 27] = [10, 90, 0.8]  # left ankle
        >>> mediapipe_to_coco17(lm)[0, 15].tolist()
        [10.0, 90.0, 0.800000011920929]
    """
    lm = np.asarray(landmarks, dtype=np.float32)
    if lm.ndim != 3 or lm.shape[1:] != (33, 3):
        raise ValueError(f"landmarks must have shape (N, 33, 3), but got shape {lm.shape}")
    return lm[:, list(MEDIAPIPE_TO_COCO17)].copy()


def visible_xy(keypoints: npt.ArrayLike, min_visibility: float = 0.3) -> npt.NDArray[np.float64]:
    """`(N, 17, 2)` keypoint `[x, y]` with NaN where visibility < `min_visibility`.

    Args:
        keypoints: `(N, 17, 3)` COCO-17 `[x, y, visibility]` in pixels.
        min_visibility: 0–1.

    Raises:
        ValueError: if `keypoints` is not `(N, 17, 3)`.

    Example:
        >>> kp = np.zeros((1, 17, 3)); kp[0, 0] = [5, 6, 0.9]
        >>> visible_xy(kp)[0, :2].tolist()
        [[5.0, 6.0], [nan, nan]]
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim != 3 or kp.shape[1:] != (17, 3):
        raise ValueError(f"keypoints must have shape (N, 17, 3), but got shape {kp.shape}")
    xy = kp[..., :2].copy()
    xy[kp[..., 2] < min_visibility] = np.nan
    return xy


def midpoint(xy: npt.NDArray[np.float64], a: int, b: int) -> npt.NDArray[np.float64]:
    """`(N, 2)` midpoint of joints `a` and `b` of `visible_xy` output; the visible one if only one is."""
    pair = np.stack([xy[:, a], xy[:, b]])
    count = np.isfinite(pair[..., 0]).sum(axis=0)
    total = np.nansum(pair, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count[:, None] > 0, total / count[:, None], np.nan)


def hip_xy(keypoints: npt.ArrayLike, xyxy: npt.ArrayLike, min_visibility: float = 0.3) -> npt.NDArray[np.float64]:
    """`(N, 2)` hip midpoint in pixels; the box centre where neither hip is visible.

    Args:
        keypoints: `(N, 17, 3)` COCO-17 keypoints, or `None` (box centres only).
        xyxy: `(N, 4)` boxes `[x1, y1, x2, y2]` in pixels.
        min_visibility: 0–1.

    Example:
        >>> hip_xy(None, [[0, 0, 10, 20]]).tolist()
        [[5.0, 10.0]]
    """
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    centre = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)
    if keypoints is None:
        return centre
    hips = midpoint(visible_xy(keypoints, min_visibility), L_HIP, R_HIP)
    return np.where(np.isfinite(hips), hips, centre)


def torso_angle_deg(keypoints: npt.ArrayLike, min_visibility: float = 0.3) -> npt.NDArray[np.float64]:
    """`(N,)` angle (degrees, 0–180) of the hip-midpoint → shoulder-midpoint vector from image vertical.

    0° is upright, 90° is a horizontal torso (lying, or bent double), 180° upside down. NaN
    where no shoulder or no hip is visible.

    Example:
        >>> kp = np.zeros((1, 17, 3)); kp[0, [5, 6, 11, 12], 2] = 1
        >>> kp[0, [5, 6], 0] = 30; kp[0, [5, 6], 1] = 10; kp[0, [11, 12], 1] = 10  # shoulders beside hips
        >>> torso_angle_deg(kp).round(1).tolist()
        [90.0]
    """
    xy = visible_xy(keypoints, min_visibility)
    up = midpoint(xy, L_SHOULDER, R_SHOULDER) - midpoint(xy, L_HIP, R_HIP)
    return np.degrees(np.arctan2(np.abs(up[:, 0]), -up[:, 1]))


def box_height_px(xyxy: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """`(N,)` box heights in pixels (the body height of the module doc)."""
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    return boxes[:, 3] - boxes[:, 1]


def box_aspect_wh(xyxy: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """`(N,)` box width / height; about 0.3–0.45 for a standing person, above 1 for one lying across the view.

    Example:
        >>> box_aspect_wh([[0, 0, 30, 90]]).round(3).tolist()
        [0.333]
    """
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    h = boxes[:, 3] - boxes[:, 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(h > 0, (boxes[:, 2] - boxes[:, 0]) / h, np.nan)


def limbs_relative_xy(keypoints: npt.ArrayLike, xyxy: npt.ArrayLike,
                      min_visibility: float = 0.3) -> npt.NDArray[np.float64]:  # fmt: skip
    """`(N, 4, 2)` wrists and ankles (`LIMBS` order) relative to the person's own hip midpoint.

    Differencing these over time gives limb speed with the body's own travel removed, so walking
    or running across the view is not "fast limbs". NaN for an invisible joint.
    """
    xy = visible_xy(keypoints, min_visibility)
    hips = hip_xy(keypoints, xyxy, min_visibility)
    return xy[:, list(LIMBS)] - hips[:, None, :]
