"""Image geometry: anchors, normalized polygons, homography and line-side tests.

All image coordinates are pixels with the origin at the top-left corner, x to the right and
y downwards (OpenCV convention).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

__all__ = [
    "foot_points",
    "denormalize_polygon",
    "Homography",
    "side_of_line",
    "segment_crosses",
    "polygon_area",
    "polygon_self_intersects",
]

PointsXY = npt.NDArray[np.float64]  # (N, 2), [x, y]


def _as_points(points: npt.ArrayLike, name: str) -> PointsXY:
    arr = np.asarray(points, dtype=np.float64)
    if arr.size == 0:
        return np.empty((0, 2), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{name} must have shape (N, 2), but got shape {arr.shape}")
    return arr


def foot_points(xyxy: npt.ArrayLike) -> PointsXY:
    """Bottom-centre of each box: where a standing person touches the floor.

    Args:
        xyxy: `(N, 4)` boxes as `[x1, y1, x2, y2]` in pixels.

    Returns:
        `(N, 2)` float64 `[x, y]` in pixels.

    Raises:
        ValueError: if `xyxy` is not of shape `(N, 4)`.

    Example:
        >>> foot_points([[10, 20, 30, 60]])
        array([[20., 60.]])
    """
    boxes = np.asarray(xyxy, dtype=np.float64)
    if boxes.size == 0:
        return np.empty((0, 2), dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"xyxy must have shape (N, 4), but got shape {boxes.shape}")
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, boxes[:, 3]], axis=1)


def denormalize_polygon(
    polygon_norm: npt.ArrayLike, resolution_wh: tuple[int, int]
) -> PointsXY:
    """Scale a polygon from 0–1 frame fractions to pixels.

    Args:
        polygon_norm: `(K, 2)` `[x, y]` as fractions of the frame width and height.
        resolution_wh: frame size `(width, height)` in pixels.

    Returns:
        `(K, 2)` float64 `[x, y]` in pixels.

    Raises:
        ValueError: if the polygon is not `(K, 2)` or the resolution is not positive.

    Example:
        >>> denormalize_polygon([[0, 0], [0.5, 1.0]], (768, 576))
        array([[  0.,   0.],
               [384., 576.]])
    """
    width, height = resolution_wh
    if width <= 0 or height <= 0:
        raise ValueError(f"resolution_wh must be positive, but got {resolution_wh}")
    poly = _as_points(polygon_norm, "polygon_norm")
    return poly * np.array([width, height], dtype=np.float64)


@dataclass(frozen=True)
class Homography:
    """A planar projective mapping, e.g. from image pixels to floor-plan metres.

    Attributes:
        matrix: `(3, 3)` float64 homogeneous transform applied as `matrix @ [x, y, 1]`.
    """

    matrix: npt.NDArray[np.float64]

    def __post_init__(self) -> None:
        m = np.asarray(self.matrix, dtype=np.float64)
        if m.shape != (3, 3):
            raise ValueError(f"matrix must have shape (3, 3), but got shape {m.shape}")
        object.__setattr__(self, "matrix", m)

    @classmethod
    def from_points(cls, image_xy: npt.ArrayLike, world_xy: npt.ArrayLike) -> Homography:
        """Fit the homography mapping `image_xy` onto `world_xy` (least squares).

        Args:
            image_xy: `(N, 2)` source points, N >= 4, e.g. pixels.
            world_xy: `(N, 2)` matching destination points, e.g. floor-plan metres.

        Returns:
            The fitted `Homography`.

        Raises:
            ValueError: with fewer than 4 pairs, mismatched shapes, or a degenerate
                configuration (e.g. three or more points on one line).

        Example:
            >>> h = Homography.from_points([[0, 0], [1, 0], [1, 1], [0, 1]],
            ...                            [[0, 0], [2, 0], [2, 2], [0, 2]])
            >>> h.transform([[0.5, 0.5]]).round(6)
            array([[1., 1.]])
        """
        src = _as_points(image_xy, "image_xy")
        dst = _as_points(world_xy, "world_xy")
        if src.shape != dst.shape:
            raise ValueError(
                f"image_xy and world_xy must have the same shape, but got {src.shape} and {dst.shape}"
            )
        if len(src) < 4:
            raise ValueError(f"a homography needs at least 4 point pairs, but got {len(src)}")
        matrix, _ = cv2.findHomography(src, dst, method=0)
        if matrix is None or not np.all(np.isfinite(matrix)) or abs(np.linalg.det(matrix)) < 1e-12:
            raise ValueError("degenerate point configuration: no homography fits these points")
        return cls(matrix=matrix)

    def transform(self, points: npt.ArrayLike) -> PointsXY:
        """Map points through the homography.

        Args:
            points: `(N, 2)` `[x, y]` in source coordinates.

        Returns:
            `(N, 2)` float64 `[x, y]` in destination coordinates.

        Example:
            >>> Homography(np.eye(3)).transform([[3, 4]])
            array([[3., 4.]])
        """
        pts = _as_points(points, "points")
        if len(pts) == 0:
            return pts
        return cv2.perspectiveTransform(pts.reshape(-1, 1, 2), self.matrix).reshape(-1, 2)


def side_of_line(points: npt.ArrayLike, start: npt.ArrayLike, end: npt.ArrayLike) -> npt.NDArray[np.int8]:
    """Which side of the directed line `start → end` each point lies on.

    With image coordinates (y down), `+1` is the right-hand side when looking from `start`
    towards `end` (e.g. below a left-to-right line), `-1` the left-hand side, `0` on the line.

    Args:
        points: `(N, 2)` `[x, y]`.
        start: `(2,)` first point of the line.
        end: `(2,)` second point of the line.

    Returns:
        `(N,)` int8 in `{-1, 0, +1}`.

    Example:
        >>> side_of_line([[5, 10], [5, -10], [7, 0]], [0, 0], [10, 0])
        array([ 1, -1,  0], dtype=int8)
    """
    pts = _as_points(points, "points")
    a = np.asarray(start, dtype=np.float64)
    b = np.asarray(end, dtype=np.float64)
    d = b - a
    cross = d[0] * (pts[:, 1] - a[1]) - d[1] * (pts[:, 0] - a[0])
    return np.sign(np.where(np.abs(cross) < 1e-9, 0.0, cross)).astype(np.int8)


def segment_crosses(
    p0: npt.ArrayLike, p1: npt.ArrayLike, a: npt.ArrayLike, b: npt.ArrayLike
) -> bool:
    """Whether the movement `p0 → p1` crosses the segment `a–b`.

    `p0` and `p1` must lie strictly on opposite sides of the line through `a–b`, and the
    crossing point must fall within the segment (touching an end point counts).

    Args:
        p0: `(2,)` start of the movement.
        p1: `(2,)` end of the movement.
        a: `(2,)` first end of the segment.
        b: `(2,)` second end of the segment.

    Returns:
        True if the movement crosses the segment.

    Example:
        >>> segment_crosses([5, -1], [5, 1], [0, 0], [10, 0])
        True
        >>> segment_crosses([15, -1], [15, 1], [0, 0], [10, 0])
        False
    """
    sides_p = side_of_line(np.array([p0, p1], dtype=np.float64), a, b)
    if sides_p[0] * sides_p[1] >= 0:
        return False
    sides_ab = side_of_line(np.array([a, b], dtype=np.float64), p0, p1)
    return bool(sides_ab[0] * sides_ab[1] <= 0)


def polygon_area(polygon: npt.ArrayLike) -> float:
    """Unsigned area of a simple polygon (shoelace formula).

    Args:
        polygon: `(K, 2)` vertices in order.

    Returns:
        Area in squared input units.

    Example:
        >>> polygon_area([[0, 0], [2, 0], [2, 1], [0, 1]])
        2.0
    """
    p = _as_points(polygon, "polygon")
    if len(p) < 3:
        return 0.0
    x, y = p[:, 0], p[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def polygon_self_intersects(polygon: npt.ArrayLike) -> bool:
    """Whether any two non-adjacent edges of a closed polygon properly cross.

    Args:
        polygon: `(K, 2)` vertices in order; the last connects back to the first.

    Returns:
        True for a self-intersecting ("bow-tie") polygon.

    Example:
        >>> polygon_self_intersects([[0, 0], [1, 1], [1, 0], [0, 1]])
        True
    """
    p = _as_points(polygon, "polygon")
    k = len(p)
    edges = [(p[i], p[(i + 1) % k]) for i in range(k)]
    for i in range(k):
        for j in range(i + 2, k):
            if i == 0 and j == k - 1:
                continue  # adjacent through the closing edge
            a0, a1 = edges[i]
            b0, b1 = edges[j]
            if segment_crosses(a0, a1, b0, b1) and segment_crosses(b0, b1, a0, a1):
                return True
    return False
