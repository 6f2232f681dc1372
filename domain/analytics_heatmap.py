"""Occupancy heatmaps: person-seconds per grid cell, on a camera image or on a floor plan.

A heatmap is a `(H, W)` grid of person-seconds: every foot point adds the time until the
person's next sample (capped) to the cell it stands in, so a person standing 10 s in one spot adds
10 to that cell whatever the sampling rate.

Camera image: the grid covers the frame in normalized coordinates (0–1), so grids of one camera
add up across videos of different resolutions; cells are `resolution_wh / grid_wh` pixels.
Floor plan: a calibrated camera's foot points are mapped to plan metres first (its
`domain.floorplan.CameraCalibration`), then binned by `plan_heat_grid` into square cells of
`cell_m` metres anchored at the plan's origin (0, 0), its top-left corner. Anchoring every
camera's grid at the same origin with the same cell size is what lets `sum_plan_grids` add the
grids of every camera of a site (and of hours when the plan grew) into one store-wide heatmap.
`heat_grid(..., homography=H, extent_xyxy=plan)` does the same for a pixel homography.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from domain.geometry import Homography

__all__ = ["HeatGrid", "dwell_weights", "heat_grid", "plan_heat_grid", "sum_plan_grids", "render_heatmap",
           "plan_extent_grid_wh"]


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


def plan_heat_grid(plan_xy_m: npt.ArrayLike, weights_s: npt.ArrayLike, *, cell_m: float,
                   size_m: tuple[float, float]) -> HeatGrid:  # fmt: skip
    """Accumulate weighted floor-plan points into square cells anchored at the plan's origin.

    Args:
        plan_xy_m: `(N, 2)` points `[x, y]` in plan metres (x right, y down from the top-left
            corner); NaN rows (feet above a camera's horizon) are dropped.
        weights_s: `(N,)` seconds per point (`dwell_weights`).
        cell_m: cell side (m), `ANALYTICS__HEAT_CELL_M`.
        size_m: `(width, height)` of the plan area (m); the grid covers it in whole cells
            (`ceil(size / cell_m)`), points outside it are dropped.

    Returns:
        A `"plan"` grid with extent `(0, 0, W * cell_m, H * cell_m)`.

    Raises:
        ValueError: on mismatched lengths or a non-positive cell or size.

    Example:
        >>> g = plan_heat_grid([[0.2, 0.2], [1.7, 0.4], [float("nan"), 1.0]], [1, 2, 5], cell_m=1.0, size_m=(2, 1))
        >>> g.cells.tolist(), g.extent_xyxy
        ([[1.0, 2.0]], (0.0, 0.0, 2.0, 1.0))
    """
    pts = np.asarray(plan_xy_m, dtype=np.float64).reshape(-1, 2)
    w = np.asarray(weights_s, dtype=np.float64).reshape(-1)
    if len(pts) != len(w):
        raise ValueError(f"plan_xy_m and weights_s must have the same length, but got {len(pts)} and {len(w)}")
    if cell_m <= 0 or size_m[0] <= 0 or size_m[1] <= 0:
        raise ValueError(f"cell_m and size_m must be positive, but got {cell_m} and {size_m}")
    gw, gh = plan_extent_grid_wh((0.0, 0.0, float(size_m[0]), float(size_m[1])), cell_m)
    ok = np.isfinite(pts).all(axis=1)
    x1, y1 = gw * cell_m, gh * cell_m
    cells, _, _ = np.histogram2d(pts[ok, 1], pts[ok, 0], bins=(gh, gw), range=((0.0, y1), (0.0, x1)), weights=w[ok])
    return HeatGrid(cells, (0.0, 0.0, float(x1), float(y1)), "plan")


def sum_plan_grids(grids: list[HeatGrid]) -> HeatGrid | None:
    """Add plan grids of one cell size: smaller grids (a plan that grew later) are padded right and down.

    Grids with another cell size than the first one's are left out (the setting changed).

    Returns:
        The sum, or `None` for no grids.

    Example:
        >>> a = plan_heat_grid([[0.5, 0.5]], [1.0], cell_m=1.0, size_m=(1, 1))
        >>> b = plan_heat_grid([[1.5, 0.5]], [2.0], cell_m=1.0, size_m=(2, 1))
        >>> sum_plan_grids([a, b]).cells.tolist()
        [[1.0, 2.0]]
    """
    if not grids:
        return None
    cell = grids[0].cell_size()
    same = [g for g in grids if g.space == "plan" and np.allclose(g.cell_size(), cell)]
    gh = max(g.cells.shape[0] for g in same)
    gw = max(g.cells.shape[1] for g in same)
    total = np.zeros((gh, gw), np.float64)
    for g in same:
        total[: g.cells.shape[0], : g.cells.shape[1]] += g.cells
    return HeatGrid(total, (0.0, 0.0, gw * cell[0], gh * cell[1]), "plan")


def plan_extent_grid_wh(extent_xyxy: tuple[float, float, float, float], cell_m: float) -> tuple[int, int]:
    """Grid size `(W, H)` covering a plan extent with square cells of `cell_m` metres.

    Example:
        >>> plan_extent_grid_wh((0, 0, 20, 10), 0.5)
        (40, 20)
    """
    if cell_m <= 0:
        raise ValueError(f"cell_m must be > 0, but got {cell_m}")
    x0, y0, x1, y1 = extent_xyxy
    eps = 1e-6  # a size a rounding error above whole cells does not add a row of them
    return max(1, int(np.ceil((x1 - x0) / cell_m - eps))), max(1, int(np.ceil((y1 - y0) / cell_m - eps)))


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
