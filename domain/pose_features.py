"""Pose-window features: 21 numbers per sliding window over one person's COCO-17 keypoints.

Distances are normalised by the window's torso length (median over the window of the distance
shoulder-midpoint → hip-midpoint, in pixels), so features do not depend on camera distance;
speeds are torso lengths per second (`torso/s`); the image y axis points down.

| # | name | formula | unit | why it matters |
| - | ---- | ------- | ---- | -------------- |
| 0 | left_wrist_hip_dist_mean | mean ‖L wrist − L hip‖ / torso | torso | hand kept near the body |
| 1 | left_wrist_hip_dist_min | min of the same | torso | hand brought to the hip / pocket |
| 2 | right_wrist_hip_dist_mean | mean ‖R wrist − R hip‖ / torso | torso | as 0, right hand |
| 3 | right_wrist_hip_dist_min | min of the same | torso | as 1, right hand |
| 4 | wrist_hip_dist_min | min of 1 and 3 | torso | either hand at a hip |
| 5 | left_wrist_speed_mean | mean ‖Δ L wrist‖ / Δt / torso | torso/s | reaching, grabbing |
| 6 | left_wrist_speed_max | max of the same | torso/s | quick snatch |
| 7 | right_wrist_speed_mean | as 5, right wrist | torso/s | reaching, grabbing |
| 8 | right_wrist_speed_max | as 6, right wrist | torso/s | quick snatch |
| 9 | hand_above_shoulder_frac | frames with a wrist above its shoulder / torso frames | 0–1 | high shelf |
| 10 | hand_at_waist_frac | frames with a wrist in `waist_mask` / torso frames | 0–1 | pocket, waistband, bag |
| 11 | retract_hold_s | time a wrist is in `waist_mask` after being extended (*) | s | take-then-hide motion |
| 12 | torso_lean_deg_mean | mean angle of hip-mid → shoulder-mid from vertical | deg | bending to a low shelf |
| 13 | torso_lean_deg_change | max − min of that angle | deg | bending down and up |
| 14 | bbox_aspect_change | max − min of box width / height | ratio | crouching, turning away |
| 15 | hand_to_hand_dist_mean | mean ‖L wrist − R wrist‖ / torso | torso | handling an item with both hands |
| 16 | hands_hidden_frac | frames with a wrist below `min_visibility` / frames | 0–1 | hands occluded, in a bag |
| 17 | left_elbow_angle_deg_mean | mean angle shoulder–elbow–wrist, left | deg | bent arm holds something close |
| 18 | right_elbow_angle_deg_mean | as 17, right | deg | as 17 |
| 19 | hip_speed_mean | mean ‖Δ hip-mid‖ / Δt / torso | torso/s | walking versus standing |
| 20 | stillness_frac | steps where hips and wrists move < `still_speed_torso_per_s` | 0–1 | loitering, watching |

(*) extended: that same wrist, earlier in the window, > 1 torso from its shoulder and above the
hip line (a relaxed arm hanging down is also ~1.1 torso long, but below it). "Torso frames" are
frames where a shoulder and a hip are visible.

Missing keypoints: a point with visibility < `min_visibility` is NaN and every mean/min/max is
NaN-safe, so a feature is NaN only when its keypoints are never visible in the window. A window
in which fewer than `min_valid_frac` of frames show a torso (at least one
shoulder and one hip visible) or whose torso length is below `min_torso_px` is **kept with all 21
features NaN** (not skipped), so window `i` always covers `window_bounds[i]`; drop such rows
with `~np.isnan(features).any(axis=1)` or impute before a classifier.
"""

from __future__ import annotations

import warnings

import numpy as np
import numpy.typing as npt

__all__ = [
    "FEATURE_NAMES", "NOSE", "L_SHOULDER", "R_SHOULDER", "L_ELBOW", "R_ELBOW", "L_WRIST", "R_WRIST",
    "L_HIP", "R_HIP", "L_KNEE", "R_KNEE", "L_ANKLE", "R_ANKLE", "window_bounds", "window_features",
    "waist_mask", "torso_length_px",
]

NOSE, L_EYE, R_EYE, L_EAR, R_EAR = 0, 1, 2, 3, 4
L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST = 5, 6, 7, 8, 9, 10
L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANKLE, R_ANKLE = 11, 12, 13, 14, 15, 16

FEATURE_NAMES: tuple[str, ...] = (
    "left_wrist_hip_dist_mean", "left_wrist_hip_dist_min", "right_wrist_hip_dist_mean",
    "right_wrist_hip_dist_min", "wrist_hip_dist_min", "left_wrist_speed_mean", "left_wrist_speed_max",
    "right_wrist_speed_mean", "right_wrist_speed_max", "hand_above_shoulder_frac", "hand_at_waist_frac",
    "retract_hold_s", "torso_lean_deg_mean", "torso_lean_deg_change", "bbox_aspect_change",
    "hand_to_hand_dist_mean", "hands_hidden_frac", "left_elbow_angle_deg_mean",
    "right_elbow_angle_deg_mean", "hip_speed_mean", "stillness_frac",
)

def _points(keypoints: npt.ArrayLike, min_visibility: float) -> npt.NDArray[np.float64]:
    """`(T, 17, 2)` xy with NaN where visibility < `min_visibility`."""
    kp = np.asarray(keypoints, dtype=np.float64)
    xy = kp[..., :2].copy()
    xy[kp[..., 2] < min_visibility] = np.nan
    return xy


def _mid(xy: npt.NDArray[np.float64], a: int, b: int) -> npt.NDArray[np.float64]:
    """`(T, 2)` midpoint of joints a and b; falls back to whichever is visible."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.stack([xy[:, a], xy[:, b]]), axis=0)


def torso_length_px(keypoints: npt.ArrayLike, *, min_visibility: float = 0.3) -> npt.NDArray[np.float64]:
    """Per-frame torso length: distance shoulder-midpoint → hip-midpoint.

    Args:
        keypoints: `(T, 17, 3)` COCO-17 `[x, y, visibility]` in pixels.
        min_visibility: keypoints below this visibility count as missing.

    Returns:
        `(T,)` float64 pixels, NaN where no shoulder or no hip is visible.

    Example:
        >>> kp = np.zeros((1, 17, 3), np.float32); kp[0, [5, 6, 11, 12], 2] = 1
        >>> kp[0, [11, 12], 1] = 50
        >>> torso_length_px(kp).tolist()
        [50.0]
    """
    xy = _points(keypoints, min_visibility)
    return np.linalg.norm(_mid(xy, L_SHOULDER, R_SHOULDER) - _mid(xy, L_HIP, R_HIP), axis=-1)


def waist_mask(
    keypoints: npt.ArrayLike, *, min_visibility: float = 0.3, above_hip_torso: float = 0.4,
    below_hip_torso: float = 0.1, half_width_torso: float = 0.5, max_elbow_deg: float = 150.0,
) -> npt.NDArray[np.bool_]:
    """Which wrists are in the waist / pocket / bag region, per frame.

    The region is a band around the hip line, from `above_hip_torso` torso lengths above it to
    `below_hip_torso` below, within `half_width_torso` of the hip midpoint horizontally, with
    the elbow (visible) bent to at most `max_elbow_deg`: a relaxed arm hangs nearly straight
    (~170°) and its wrist also ends near the hip line, so the bend is what tells them apart.
    Widening the band or raising `max_elbow_deg` catches more pockets and low bags but flags
    relaxed arms and hands resting on a trolley.

    Args:
        keypoints: `(T, 17, 3)` COCO-17 `[x, y, visibility]` in pixels.
        min_visibility: a wrist (or the torso) below this visibility is never in the region.
        above_hip_torso: band top, torso lengths above the hip line.
        below_hip_torso: band bottom, torso lengths below the hip line.
        half_width_torso: half band width, torso lengths.
        max_elbow_deg: largest shoulder–elbow–wrist angle (degrees) that counts as bent.

    Returns:
        `(T, 2)` bool, columns `[left wrist, right wrist]`.

    Example:
        >>> waist_mask(np.zeros((0, 17, 3), np.float32)).shape
        (0, 2)
    """
    xy = _points(keypoints, min_visibility)
    hip = _mid(xy, L_HIP, R_HIP)
    torso = np.linalg.norm(_mid(xy, L_SHOULDER, R_SHOULDER) - hip, axis=-1)
    out = np.zeros((len(xy), 2), dtype=bool)
    for col, (shoulder, elbow, wrist) in enumerate(((L_SHOULDER, L_ELBOW, L_WRIST), (R_SHOULDER, R_ELBOW, R_WRIST))):
        dx, dy = (xy[:, wrist] - hip).T
        bend = _angle_deg(xy[:, shoulder], xy[:, elbow], xy[:, wrist])
        with np.errstate(invalid="ignore"):
            out[:, col] = (dy >= -above_hip_torso * torso) & (dy <= below_hip_torso * torso) & (
                np.abs(dx) <= half_width_torso * torso) & (torso > 0) & (bend <= max_elbow_deg)
    return out


def window_bounds(n_frames: int, *, window: int = 30, stride: int = 15) -> npt.NDArray[np.int64]:
    """Full windows `[start, end)` over `n_frames` frames; a trailing partial window is dropped.

    Example:
        >>> window_bounds(45).tolist()
        [[0, 30], [15, 45]]
    """
    if window < 2 or stride < 1:
        raise ValueError(f"window must be >= 2 and stride >= 1, but got window={window}, stride={stride}")
    starts = np.arange(0, max(n_frames - window + 1, 0), stride, dtype=np.int64)
    return np.stack([starts, starts + window], axis=1).reshape(-1, 2)


def _nan(fn, a: npt.NDArray[np.float64]) -> float:
    """`fn` (np.nanmean / nanmin / nanmax) that returns NaN without warning on all-NaN input."""
    return float(fn(a)) if np.isfinite(a).any() else float("nan")


def _angle_deg(a, b, c) -> npt.NDArray[np.float64]:
    """`(T,)` angle at b of a–b–c in degrees."""
    u, v = a - b, c - b
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = (u * v).sum(-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
        return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def _one_window(xy, vis_ok, t_s, xyxy, waist, *, min_valid_frac, min_torso_px, still_speed):
    hip_mid, sh_mid = _mid(xy, L_HIP, R_HIP), _mid(xy, L_SHOULDER, R_SHOULDER)
    torso_t = np.linalg.norm(sh_mid - hip_mid, axis=-1)
    valid = np.isfinite(torso_t)
    torso = float(np.nanmedian(torso_t)) if valid.any() else float("nan")
    if valid.mean() < min_valid_frac or not torso >= min_torso_px:
        return np.full(len(FEATURE_NAMES), np.nan)
    dt = np.diff(t_s)
    dt = np.where(dt > 0, dt, np.nan)

    def dist(a, b):
        return np.linalg.norm(a - b, axis=-1) / torso

    def speed(p):
        return np.linalg.norm(np.diff(p, axis=0), axis=-1) / dt / torso

    lw_hip, rw_hip = dist(xy[:, L_WRIST], xy[:, L_HIP]), dist(xy[:, R_WRIST], xy[:, R_HIP])
    lw_sp, rw_sp, hip_sp = speed(xy[:, L_WRIST]), speed(xy[:, R_WRIST]), speed(hip_mid)
    with np.errstate(invalid="ignore"):
        above = (xy[:, L_WRIST, 1] < xy[:, L_SHOULDER, 1]) | (xy[:, R_WRIST, 1] < xy[:, R_SHOULDER, 1])
        # Extended (see the module doc): > 1 torso from its shoulder while above the hip line.
        extended = np.stack([(dist(xy[:, w], xy[:, s]) > 1.0) & (xy[:, w, 1] < hip_mid[:, 1])
                             for w, s in ((L_WRIST, L_SHOULDER), (R_WRIST, R_SHOULDER))], axis=1)
        still = (np.fmax(np.fmax(lw_sp, rw_sp), hip_sp) < still_speed)
    at_waist = waist.any(axis=1)
    frame_dt = np.append(dt, np.nanmedian(dt) if np.isfinite(dt).any() else np.nan)
    retract = (waist & (np.cumsum(extended, axis=0) > 0)).any(axis=1)
    lean = np.degrees(np.arctan2(np.abs(sh_mid[:, 0] - hip_mid[:, 0]), hip_mid[:, 1] - sh_mid[:, 1]))
    aspect = (xyxy[:, 2] - xyxy[:, 0]) / np.where(xyxy[:, 3] > xyxy[:, 1], xyxy[:, 3] - xyxy[:, 1], np.nan)
    moving_known = np.isfinite(hip_sp)
    return np.array([
        _nan(np.nanmean, lw_hip), _nan(np.nanmin, lw_hip), _nan(np.nanmean, rw_hip), _nan(np.nanmin, rw_hip),
        _nan(np.nanmin, np.concatenate([lw_hip, rw_hip])),
        _nan(np.nanmean, lw_sp), _nan(np.nanmax, lw_sp), _nan(np.nanmean, rw_sp), _nan(np.nanmax, rw_sp),
        above[valid].mean(), at_waist[valid].mean(), float(np.nansum(frame_dt[retract])),
        _nan(np.nanmean, lean), _nan(np.nanmax, lean) - _nan(np.nanmin, lean),
        _nan(np.nanmax, aspect) - _nan(np.nanmin, aspect),
        _nan(np.nanmean, dist(xy[:, L_WRIST], xy[:, R_WRIST])),
        float((~vis_ok[:, [L_WRIST, R_WRIST]]).any(axis=1).mean()),
        _nan(np.nanmean, _angle_deg(xy[:, L_SHOULDER], xy[:, L_ELBOW], xy[:, L_WRIST])),
        _nan(np.nanmean, _angle_deg(xy[:, R_SHOULDER], xy[:, R_ELBOW], xy[:, R_WRIST])),
        _nan(np.nanmean, hip_sp), float(still[moving_known].mean()) if moving_known.any() else np.nan,
    ])


def window_features(
    keypoints: npt.ArrayLike, t_s: npt.ArrayLike, xyxy: npt.ArrayLike, *, window: int = 30, stride: int = 15,
    min_visibility: float = 0.3, min_valid_frac: float = 0.5, min_torso_px: float = 4.0,
    still_speed_torso_per_s: float = 0.1,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """The 21 documented features (`FEATURE_NAMES`) per sliding window of one person's track.

    Args:
        keypoints: `(T, 17, 3)` COCO-17 `[x, y, visibility]` in pixels, consecutive frames.
        t_s: `(T,)` seconds of each frame (non-increasing steps give NaN speeds).
        xyxy: `(T, 4)` person boxes as `[x1, y1, x2, y2]` in pixels.
        window: frames per window. Longer windows see whole gestures but blur short ones.
        stride: frames between window starts. Smaller strides react sooner but cost more.
        min_visibility: keypoints below this visibility count as missing. Raising it drops
            noisy points but hides more hands.
        min_valid_frac: smallest fraction of frames with a visible torso for a window to get
            features; below it the row is all NaN.
        min_torso_px: shortest median torso (pixels) for a window to get features; guards
            against division by ~0 for tiny or collapsed skeletons.
        still_speed_torso_per_s: speed under which hips and wrists count as still.

    Returns:
        `(features, window_bounds)`: `(W, 21)` float32 (rows of NaN for windows without
        enough torso, see the module doc) and `(W, 2)` int64 frame ranges `[start, end)`.

    Raises:
        ValueError: on wrong shapes, or `window < 2` / `stride < 1`.

    Example:
        >>> f, b = window_features(np.zeros((45, 17, 3)), np.arange(45) / 10, np.zeros((45, 4)))
        >>> f.shape, b.tolist()
        ((2, 21), [[0, 30], [15, 45]])
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    t = np.asarray(t_s, dtype=np.float64)
    boxes = np.asarray(xyxy, dtype=np.float64)
    n = len(kp)
    if kp.shape != (n, 17, 3):
        raise ValueError(f"keypoints must have shape (T, 17, 3), but got shape {kp.shape}")
    if t.shape != (n,) or boxes.shape != (n, 4):
        raise ValueError(f"t_s must be ({n},) and xyxy ({n}, 4), but got {t.shape} and {boxes.shape}")
    bounds = window_bounds(n, window=window, stride=stride)
    xy, vis_ok = _points(kp, min_visibility), kp[..., 2] >= min_visibility
    waist = waist_mask(kp, min_visibility=min_visibility)
    rows = [
        _one_window(xy[a:b], vis_ok[a:b], t[a:b], boxes[a:b], waist[a:b], min_valid_frac=min_valid_frac,
                    min_torso_px=min_torso_px, still_speed=still_speed_torso_per_s)
        for a, b in bounds.tolist()
    ]
    feats = np.array(rows, dtype=np.float32).reshape(-1, len(FEATURE_NAMES))
    return feats, bounds
