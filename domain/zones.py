"""Runtime zones and lines: site-file geometry converted to pixels for one frame size."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from domain.geometry import denormalize_polygon, segment_crosses, side_of_line
from domain.site import LineConfig, ZoneConfig, ZoneKind

__all__ = ["PolygonZone", "LineZone"]


class PolygonZone:
    """A zone polygon in pixels with a precomputed membership mask.

    Args:
        name: zone key in the site file.
        config: the zone's config (normalized polygon).
        resolution_wh: frame size `(width, height)` in pixels.

    Attributes:
        polygon_xy: `(K, 2)` float64 vertices in pixels.
        mask: `(H, W)` bool, True inside the polygon (edges included).

    Example:
        >>> cfg = ZoneConfig(polygon=[[0, 0], [0.5, 0], [0.5, 0.5], [0, 0.5]])
        >>> PolygonZone("z", cfg, (100, 100)).trigger(np.array([[10, 10], [90, 90]]))
        array([ True, False])
    """

    def __init__(self, name: str, config: ZoneConfig, resolution_wh: tuple[int, int]) -> None:
        self.name = name
        self.config = config
        self.resolution_wh = resolution_wh
        self.polygon_xy = denormalize_polygon(config.polygon, resolution_wh)
        width, height = resolution_wh
        mask = np.zeros((height, width), dtype=np.uint8)
        cv2.fillPoly(mask, [np.round(self.polygon_xy).astype(np.int32)], color=1)
        self.mask = mask.astype(bool)

    @property
    def kind(self) -> ZoneKind:
        """The zone's kind (shelf, checkout, ...)."""
        return self.config.kind

    @property
    def inertia_frames(self) -> int:
        """Consecutive frames needed to enter or exit."""
        return self.config.inertia_frames

    def trigger(self, anchors_xy: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Which anchors lie inside the zone.

        Args:
            anchors_xy: `(N, 2)` `[x, y]` in pixels (e.g. foot points).

        Returns:
            `(N,)` bool; anchors outside the frame are never inside.
        """
        pts = np.asarray(anchors_xy, dtype=np.float64).reshape(-1, 2)
        width, height = self.resolution_wh
        # A foot point on the bottom/right edge (x == width) still belongs to the last pixel.
        valid = (pts[:, 0] >= 0) & (pts[:, 0] <= width) & (pts[:, 1] >= 0) & (pts[:, 1] <= height)
        x = np.clip(np.floor(pts[:, 0]).astype(np.int64), 0, width - 1)
        y = np.clip(np.floor(pts[:, 1]).astype(np.int64), 0, height - 1)
        return valid & self.mask[y, x]


class LineZone:
    """A counting line in pixels that remembers each track's last side.

    `+1` ("in") is a crossing from the left-hand to the right-hand side of `start → end` as
    seen on the image (y down); `-1` ("out") the reverse. A track standing exactly on the
    line keeps its previous position until it leaves the line, so it is counted once.

    Args:
        name: line key in the site file.
        config: the line's config (normalized points).
        resolution_wh: frame size `(width, height)` in pixels.

    Example:
        >>> line = LineZone("door", LineConfig(start=[0, 0.5], end=[1, 0.5]), (100, 100))
        >>> line.trigger(np.array([7]), np.array([[50, 40]]))
        array([0], dtype=int8)
        >>> line.trigger(np.array([7]), np.array([[50, 60]]))
        array([1], dtype=int8)
    """

    def __init__(self, name: str, config: LineConfig, resolution_wh: tuple[int, int]) -> None:
        self.name = name
        self.config = config
        pts = denormalize_polygon([config.start, config.end], resolution_wh)
        self.start_xy, self.end_xy = pts[0], pts[1]
        self._last_xy: dict[int, npt.NDArray[np.float64]] = {}

    def trigger(self, tracker_id: npt.ArrayLike, anchors_xy: npt.ArrayLike) -> npt.NDArray[np.int8]:
        """Update each track's position and report crossings since its last off-line position.

        Args:
            tracker_id: `(N,)` int track ids.
            anchors_xy: `(N, 2)` `[x, y]` in pixels.

        Returns:
            `(N,)` int8: `+1` in, `-1` out, `0` no crossing (or first sighting).
        """
        ids = np.asarray(tracker_id, dtype=np.int64).reshape(-1)
        pts = np.asarray(anchors_xy, dtype=np.float64).reshape(-1, 2)
        sides = side_of_line(pts, self.start_xy, self.end_xy)
        result = np.zeros(len(ids), dtype=np.int8)
        for i, (track, point, side) in enumerate(zip(ids.tolist(), pts, sides)):
            if side == 0:
                continue
            last = self._last_xy.get(track)
            if last is not None and segment_crosses(last, point, self.start_xy, self.end_xy):
                result[i] = side  # ended on the right-hand side: in (+1); left-hand: out (-1)
            self._last_xy[track] = point
        return result

    def forget(self, tracker_ids: list[int]) -> None:
        """Drop the remembered positions of tracks (e.g. lost ones)."""
        for track in tracker_ids:
            self._last_xy.pop(track, None)

    def reset(self) -> None:
        """Forget every track."""
        self._last_xy.clear()
