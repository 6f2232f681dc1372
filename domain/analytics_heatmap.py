"""Occupancy heatmaps: person-seconds per grid cell, on a camera image or on a floor plan.

A heatmap is a `(H, W)` grid of person-seconds: every foot point adds the time until the
person's next sample (capped) to the cell it stands in, so a person standing 10 s in one spot adds
10 to that cell whatever the sampling rate.

Camera image: the grid covers the frame in normalized coordinates (0–1), so grids of one camera
add up across videos of different resolutions; cells are `resolution_wh / grid_wh` pixels.
Floor plan: given a camera's `Homography` (pixels → plan metres) and the plan's extent, the same
foot points are mapped to metres first (`heat_grid(..., homography=H, extent_xyxy=plan)`), and
cells are `cell_m` metres. No camera is calibrated yet, so the rollups store image grids only;
the plan path is ready for the calibration to plug in.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from domain.geometry import Homography

__all__ = ["HeatGrid", "dwell_weights", "heat_grid", "render_heatmap", "plan_extent_grid_wh"]


@dataclass(frozen=True)
class HeatGrid:
    """A heatmap grid.

    Attributes:
        cells: `(H, W)` float64 person-seconds per cell, row 0 at the top (image y / plan y grows down).
        extent_xyxy: `(x0, y0, x1, y1)` the grid covers: `(0, 0, 1, 1)` normalized image
            coordinates, or plan metres.
        space: `"image"` or `"plan"`.
    """

    cells: npt.NDArray[np.float64]
    extent_xyxy: tuple[float, float, float, float]
    space: str = "image"

    @property
    def grid_wh(self) -> tuple[int, int]:
        """`(W, H)` cells."""
        return int(self.cells.shape[1]), int(self.cells.shape[0])

    def cell_size(self, resolution_wh: tuple[int, int] | None = None) -> tuple[float, float]:
        """`(width, height)` of a cell: in pixels of `resolution_wh` for an image grid, in metres for a plan."""
        x0, y0, x1, y1 = self.extent_xyxy
        w, h = self.grid_wh
        sx, sy = (x1 - x0) / w, (y1 - y0) / h
        if self.space == "image" and resolution_wh is not None:
            return sx * resolution_wh[0], sy * resolution_wh[1]
        return sx, sy

    def __add__(self, other: HeatGrid) -> HeatGrid:
        if other.cells.shape != self.cells.shape or other.extent_xyxy != self.extent_xyxy or other.space != self.space:
            raise ValueError("only grids of the same shape, extent and space add up")
        return HeatGrid(self.cells + other.cells, self.extent_xyxy, self.space)


def dwell_weights(t_s: npt.ArrayLike, *, max_dt_s: float) -> npt.NDArray[np.float64]:
    """Seconds each sample stands for: the time to the next sample, capped at `max_dt_s`.

    The last sample gets the median step (or `max_dt_s` for a single sample, capped).

    Example:
        >>> dwell_weights([0.0, 0.5, 1.0, 10.0], max_dt_s=2).tolist()
        [0.5, 0.5, 2.0, 0.5]
    """
    t = np.asarray(t_s, dtype=np.float64).reshape(-1)
    if t.size == 0:
        return np.empty(0)
    dt = np.diff(t)
    last = float(np.median(dt)) if dt.size else max_dt_s
    return np.minimum(np.concatenate([dt, [last]]), max_dt_s)


def heat_grid(
    points_xy: npt.ArrayLike,
    weights_s: npt.ArrayLike,
    *,
    grid_wh: tuple[int, int],
    resolution_wh: tuple[int, int] | None = None,
    homography: Homography | None = None,
    extent_xyxy: tuple[float, float, float, float] | None = None,
) -> HeatGrid:
    """Accumulate weighted foot points into a grid.

    Args:
        points_xy: `(N, 2)` foot points in pixels.
        weights_s: `(N,)` seconds per point (`dwell_weights`).
        grid_wh: `(W, H)` cells.
        resolution_wh: frame size, for an image grid (points are normalized by it).
        homography: pixels → plan metres; with it the grid is on the plan.
        extent_xyxy: the plan area `(x0, y0, x1, y1)` in metres (required with `homography`).

    Returns:
        The grid; points outside the extent are dropped.

    Raises:
        ValueError: on mismatched shapes, a non-positive grid, or a missing resolution / extent.

    Example:
        >>> g = heat_grid([[10, 10], [90, 90]], [1.0, 2.0], grid_wh=(2, 2), resolution_wh=(100, 100))
        >>> g.cells.tolist()
        [[1.0, 0.0], [0.0, 2.0]]
    """
    pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    w = np.asarray(weights_s, dtype=np.float64).reshape(-1)
    if len(pts) != len(w):
        raise ValueError(f"points_xy and weights_s must have the same length, but got {len(pts)} and {len(w)}")
    gw, gh = grid_wh
    if gw < 1 or gh < 1:
        raise ValueError(f"grid_wh must be positive, but got {grid_wh}")
    if homography is not None:
        if extent_xyxy is None:
            raise ValueError("extent_xyxy (the plan area in metres) is required with a homography")
        xy, extent, space = homography.transform(pts), extent_xyxy, "plan"
    else:
        if resolution_wh is None:
            raise ValueError("resolution_wh is required for an image grid")
        xy, extent, space = pts / np.asarray(resolution_wh, dtype=np.float64), (0.0, 0.0, 1.0, 1.0), "image"
    x0, y0, x1, y1 = extent
    cells, _, _ = np.histogram2d(xy[:, 1], xy[:, 0], bins=(gh, gw), range=((y0, y1), (x0, x1)), weights=w)
    return HeatGrid(cells, (float(x0), float(y0), float(x1), float(y1)), space)


def plan_extent_grid_wh(extent_xyxy: tuple[float, float, float, float], cell_m: float) -> tuple[int, int]:
    """Grid size `(W, H)` covering a plan extent with square cells of `cell_m` metres.

    Example:
        >>> plan_extent_grid_wh((0, 0, 20, 10), 0.5)
        (40, 20)
    """
    if cell_m <= 0:
        raise ValueError(f"cell_m must be > 0, but got {cell_m}")
    x0, y0, x1, y1 = extent_xyxy
    return max(1, int(np.ceil((x1 - x0) / cell_m))), max(1, int(np.ceil((y1 - y0) / cell_m)))


def render_heatmap(
    grid: HeatGrid,
    background_bgr: npt.NDArray[np.uint8] | None = None,
    *,
    size_wh: tuple[int, int] | None = None,
    alpha: float = 0.55,
    colormap: int = cv2.COLORMAP_JET,
) -> npt.NDArray[np.uint8]:
    """The heatmap as a BGR image, blended over `background_bgr` (a camera frame or a plan image).

    Cells are scaled to the grid's maximum (so the hottest cell is red) and smoothed when resized;
    empty cells are left transparent over the background.

    Args:
        grid: the grid.
        background_bgr: `(H, W, 3)` uint8 image the grid covers; `None` for a dark background.
        size_wh: output size; default the background's size, else 32 px per cell.
        alpha: opacity of the heat over the background (0–1).
        colormap: an OpenCV colormap.

    Returns:
        `(H, W, 3)` uint8 BGR.
    """
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in 0-1, but got {alpha}")
    if size_wh is None:
        size_wh = (background_bgr.shape[1], background_bgr.shape[0]) if background_bgr is not None else \
            (grid.grid_wh[0] * 32, grid.grid_wh[1] * 32)  # fmt: skip
    w, h = size_wh
    base = (cv2.resize(background_bgr, (w, h)) if background_bgr is not None else np.full((h, w, 3), 30, np.uint8))
    peak = float(grid.cells.max()) if grid.cells.size else 0.0
    if peak <= 0:
        return base.copy()
    norm = (grid.cells / peak).astype(np.float32)
    smooth = cv2.resize(norm, (w, h), interpolation=cv2.INTER_LINEAR)
    heat = cv2.applyColorMap(np.clip(smooth * 255, 0, 255).astype(np.uint8), colormap)
    mask = (smooth > 0.02)[..., None]
    blended = cv2.addWeighted(heat, alpha, base, 1 - alpha, 0)
    return np.where(mask, blended, base).astype(np.uint8)
