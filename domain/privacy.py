"""Face masking: face regions from pose keypoints, and an irreversible mask over them.

A face box is built from the visible face keypoints (COCO-17 nose, eyes, ears): a square centred
on them, as large as the larger of `face_scale_bh` body heights (a head is about 1/7.5 of a
standing adult's height, so 0.16 leaves margin) and `spread_factor` times their spread. With no
face keypoint visible (a person seen from behind, or a detector without pose) the head is taken
to be at the top of the box: the same square, centred horizontally, its top at the box's top.
So every person box yields a face box: masking errs towards hiding too much.

The mask pixelates the region into `blocks` × `blocks` cells (each the mean colour of its pixels),
then blurs it; outside the regions the image is untouched, bit for bit.
"""

from __future__ import annotations

from enum import Enum

import cv2
import numpy as np
import numpy.typing as npt

from domain.pose_features import L_EAR, L_EYE, NOSE, R_EAR, R_EYE

__all__ = ["FACE_KEYPOINTS", "MaskMethod", "face_boxes", "mask_regions", "relative_boxes", "apply_relative", "masked_key"]

FACE_KEYPOINTS: tuple[int, ...] = (NOSE, L_EYE, R_EYE, L_EAR, R_EAR)


class MaskMethod(str, Enum):
    """How a face region is hidden."""

    PIXELATE = "pixelate"  # mean-colour cells, then a blur: identity is not recoverable
    FILL = "fill"  # one flat colour (the region's mean)


def face_boxes(keypoints: npt.ArrayLike | None, xyxy: npt.ArrayLike, *, min_visibility: float = 0.3,
               face_scale_bh: float = 0.16, spread_factor: float = 2.2) -> npt.NDArray[np.float64]:  # fmt: skip
    """One face box per person.

    Args:
        keypoints: `(N, 17, 3)` COCO-17 `[x, y, visibility]` in pixels, or `None` (boxes only).
        xyxy: `(N, 4)` person boxes `[x1, y1, x2, y2]` in pixels.
        min_visibility: face keypoints below this visibility are ignored.
        face_scale_bh: smallest face size, in body (box) heights. Raising it hides more of the
            head and shoulders; lowering it risks leaving an ear or a chin visible.
        spread_factor: face size as a multiple of the visible face keypoints' spread (their
            largest distance). Raising it covers hair and chin on close-up faces.

    Returns:
        `(N, 4)` float64 `[x1, y1, x2, y2]` face boxes in pixels (not clipped to the frame).

    Raises:
        ValueError: if `xyxy` is not `(N, 4)` or `keypoints` not `(N, 17, 3)`.

    Example:
        >>> face_boxes(None, [[100, 50, 140, 150]]).tolist()  # no pose: a head at the box's top
        [[112.0, 50.0, 128.0, 66.0]]
    """
    boxes = np.asarray(xyxy, dtype=np.float64)
    if boxes.size == 0:
        return np.zeros((0, 4))
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"xyxy must have shape (N, 4), but got shape {boxes.shape}")
    n = len(boxes)
    height = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
    size = face_scale_bh * height
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = boxes[:, 1] + size / 2
    if keypoints is not None:
        kp = np.asarray(keypoints, dtype=np.float64)
        if kp.shape != (n, 17, 3):
            raise ValueError(f"keypoints must have shape ({n}, 17, 3), but got shape {kp.shape}")
        face = kp[:, list(FACE_KEYPOINTS)]
        seen = face[..., 2] >= min_visibility
        for k in np.flatnonzero(seen.any(axis=1)):
            pts = face[k, seen[k], :2]
            spread = float(np.max(np.linalg.norm(pts[:, None] - pts[None], axis=-1))) if len(pts) > 1 else 0.0
            size[k] = max(size[k], spread_factor * spread)
            cx[k], cy[k] = pts[:, 0].mean(), pts[:, 1].mean()
    half = size / 2
    return np.stack([cx - half, cy - half, cx + half, cy + half], axis=1)


def mask_regions(bgr: npt.NDArray[np.uint8], boxes: npt.ArrayLike, *, method: MaskMethod | str = MaskMethod.PIXELATE,
                 blocks: int = 4) -> npt.NDArray[np.uint8]:  # fmt: skip
    """A copy of `bgr` with each box's region masked; pixels outside every box are unchanged.

    Args:
        bgr: `(H, W, 3)` uint8 image.
        boxes: `(N, 4)` `[x1, y1, x2, y2]` in pixels (clipped to the image; empty ones skipped).
        method: `pixelate` or `fill` (`MaskMethod`).
        blocks: cells per side for `pixelate`. Fewer cells hide more (4 leaves no facial feature
            readable at any size); more keep the head's outline.

    Returns:
        The masked copy.

    Example:
        >>> img = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
        >>> out = mask_regions(img, [[0, 0, 2, 2]], method="fill")
        >>> bool((out[2:, :] == img[2:, :]).all()), out[0, 0].tolist() == out[1, 1].tolist()
        (True, True)
    """
    method = MaskMethod(method)
    out = bgr.copy()
    h, w = bgr.shape[:2]
    for x1, y1, x2, y2 in np.asarray(boxes, dtype=np.float64).reshape(-1, 4).tolist():
        left, top = int(max(0, np.floor(x1))), int(max(0, np.floor(y1)))
        right, bottom = int(min(w, np.ceil(x2))), int(min(h, np.ceil(y2)))
        if right <= left or bottom <= top:
            continue
        region = out[top:bottom, left:right]
        if method is MaskMethod.FILL:
            region[:] = region.reshape(-1, 3).mean(axis=0).astype(np.uint8)
            continue
        rh, rw = region.shape[:2]
        small = cv2.resize(region, (max(1, min(blocks, rw)), max(1, min(blocks, rh))), interpolation=cv2.INTER_AREA)
        cells = cv2.resize(small, (rw, rh), interpolation=cv2.INTER_NEAREST)
        k = max(3, (min(rw, rh) // 4) | 1)
        region[:] = cv2.GaussianBlur(cells, (k, k), 0)
    return out


def relative_boxes(inner: npt.ArrayLike, outer: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """`inner` boxes as fractions of their `outer` boxes (`(N, 4)` each), to move them with the outer box.

    Example:
        >>> relative_boxes([[12, 50, 28, 66]], [[10, 50, 30, 150]]).tolist()
        [[0.1, 0.0, 0.9, 0.16]]
    """
    a, b = np.asarray(inner, np.float64).reshape(-1, 4), np.asarray(outer, np.float64).reshape(-1, 4)
    wh = np.maximum(np.stack([b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]] * 2, axis=1), 1e-9)
    origin = np.stack([b[:, 0], b[:, 1]] * 2, axis=1)
    return (a - origin) / wh


def apply_relative(relative: npt.ArrayLike, outer: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The inverse of `relative_boxes`: fractions of `outer` boxes back to pixels."""
    r, b = np.asarray(relative, np.float64).reshape(-1, 4), np.asarray(outer, np.float64).reshape(-1, 4)
    wh = np.stack([b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]] * 2, axis=1)
    return np.stack([b[:, 0], b[:, 1]] * 2, axis=1) + r * wh


def masked_key(key: str) -> str:
    """Object-store key of the face-masked copy of a clip stored under `key`.

    Example:
        >>> masked_key("clips/job/video/e1.mp4")
        'clips/job/video/e1.masked.mp4'
    """
    stem, dot, ext = key.rpartition(".")
    return f"{stem}.masked.{ext}" if dot and "/" not in ext else f"{key}.masked"
