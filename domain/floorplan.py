"""The floor plan: camera calibration (image → plan homography), foot points in metres, smoothing.

A camera is calibrated by at least four correspondences between points on its image (normalised
0–1 of the frame, like zones) and the same points on the floor plan (metres, origin and axes of
the plan). The fitted homography maps a person's foot point (the bottom-centre of their box,
where they touch the floor) to `map_xy` in metres; this is exact only for points on the floor
plane, which is why the foot point and not the box centre is used (Hartley & Zisserman,
"Multiple View Geometry", 2nd ed., 2004, sec. 2.3 and 4.1).

Map trajectories are noisy (box jitter of a few pixels is tens of centimetres far from the
camera), so they are smoothed with a constant-velocity Kalman filter (`MapKalman`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from domain.geometry import Homography, foot_points

__all__ = [
    "CalibrationError",
    "CameraCalibration",
    "fit_calibration",
    "KalmanParams",
    "MapKalman",
    "smooth_map_track",
    "path_length_m",
    "movement_metrics",
    "zone_dwell_s",
]

PointsXY = npt.NDArray[np.float64]  # (N, 2), [x, y]

# Relative tolerance of the collinearity and invertibility tests: a triangle whose area is below
# this fraction of the squared extent of the point set counts as flat.
_FLAT_TOL = 1e-3


class CalibrationError(ValueError):
    """A calibration that cannot be used: too few points, degenerate, or too inaccurate."""


@dataclass(frozen=True)
class CameraCalibration:
    """A fitted image → floor-plan mapping of one camera.

    Attributes:
        homography: maps normalised image points `[x, y]` (0–1 of width and height) to plan metres.
        reprojection_error_m: RMS distance (m) between the calibration's map points and its image
            points mapped through `homography`.
        max_error_m: largest single-point distance (m) among those.
    """

    homography: Homography
    reprojection_error_m: float
    max_error_m: float

    def to_map(self, image_xy_norm: npt.ArrayLike) -> PointsXY:
        """Normalised image points to plan metres.

        Args:
            image_xy_norm: `(N, 2)` `[x, y]` as fractions of the frame.

        Returns:
            `(N, 2)` float64 `[x, y]` in metres; rows above the camera's horizon (which have no
            floor point) are NaN.

        Example:
            >>> cal = fit_calibration([[0, 0], [1, 0], [1, 1], [0, 1]], [[0, 0], [4, 0], [4, 3], [0, 3]])
            >>> cal.to_map([[0.5, 0.5]]).round(3).tolist()
            [[2.0, 1.5]]
        """
        pts = np.asarray(image_xy_norm, dtype=np.float64).reshape(-1, 2)
        if len(pts) == 0:
            return np.empty((0, 2), np.float64)
        homog = np.c_[pts, np.ones(len(pts))] @ self.homography.matrix.T
        w = homog[:, 2]
        # Points behind the camera (w of the other sign than the calibration points) or on its
        # horizon line (w ~ 0) do not lie on the floor.
        sign = self._sign()
        ok = w * sign > 1e-9
        out = np.full((len(pts), 2), np.nan)
        out[ok] = homog[ok, :2] / w[ok, None]
        return out

    def boxes_to_map(self, xyxy: npt.ArrayLike, resolution_wh: tuple[int, int]) -> PointsXY:
        """Foot points of boxes in pixels to plan metres.

        Args:
            xyxy: `(N, 4)` boxes `[x1, y1, x2, y2]` in pixels of a `resolution_wh` frame.
            resolution_wh: `(width, height)` of that frame in pixels.

        Returns:
            `(N, 2)` float64 `[x, y]` in metres (NaN above the horizon).

        Example:
            >>> cal = fit_calibration([[0, 0], [1, 0], [1, 1], [0, 1]], [[0, 0], [4, 0], [4, 3], [0, 3]])
            >>> cal.boxes_to_map([[40, 50, 60, 100]], (100, 100)).round(3).tolist()
            [[2.0, 3.0]]
        """
        w, h = resolution_wh
        if w <= 0 or h <= 0:
            raise ValueError(f"resolution_wh must be positive, but got {resolution_wh}")
        feet = foot_points(xyxy)
        return self.to_map(feet / np.array([w, h], np.float64))

    def field_of_view(self, *, samples_per_edge: int = 16, max_range_m: float | None = None) -> PointsXY:
        """The part of the floor the camera sees, as a polygon on the plan.

        The image border is sampled and mapped; samples above the horizon are dropped and
        points further than `max_range_m` from the calibration points' centroid are pulled in
        to that range (a camera looking at the horizon sees "to infinity").

        Args:
            samples_per_edge: points sampled along each image edge.
            max_range_m: clamp distance (m); default 3× the calibration points' extent.

        Returns:
            `(K, 2)` float64 polygon vertices in metres, in image-border order (K may be 0).
        """
        t = np.linspace(0.0, 1.0, samples_per_edge, endpoint=False)
        border = np.concatenate([
            np.c_[t, np.zeros_like(t)], np.c_[np.ones_like(t), t], np.c_[1 - t, np.ones_like(t)], np.c_[np.zeros_like(t), 1 - t],
        ])
        mapped = self.to_map(border)
        mapped = mapped[np.isfinite(mapped).all(axis=1)]
        if len(mapped) == 0:
            return mapped
        centre, extent = self._centre_extent()
        limit = max_range_m if max_range_m is not None else 3.0 * max(extent, 1.0)
        d = np.linalg.norm(mapped - centre, axis=1)
        far = d > limit
        mapped[far] = centre + (mapped[far] - centre) * (limit / d[far])[:, None]
        return mapped

    def _sign(self) -> float:
        # The sign of w at the image centre-bottom (the floor in front of any sensible camera).
        w = (self.homography.matrix @ np.array([0.5, 1.0, 1.0]))[2]
        return 1.0 if w >= 0 else -1.0

    def _centre_extent(self) -> tuple[PointsXY, float]:
        pts = self.to_map([[0.5, 1.0], [0.0, 1.0], [1.0, 1.0]])
        pts = pts[np.isfinite(pts).all(axis=1)]
        if len(pts) == 0:
            return np.zeros(2), 1.0
        return pts.mean(axis=0), float(np.ptp(pts, axis=0).max())


def _flat_triples(points: PointsXY) -> list[tuple[int, int, int]]:
    """Index triples of points that lie (nearly) on one line, relative to the set's extent."""
    extent = float(np.ptp(points, axis=0).max()) if len(points) else 0.0
    if extent <= 0:
        return list(itertools.combinations(range(len(points)), 3))
    tol = _FLAT_TOL * extent * extent
    flat = []
    for i, j, k in itertools.combinations(range(len(points)), 3):
        a, b, c = points[i], points[j], points[k]
        area2 = abs((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))
        if area2 < tol:
            flat.append((i, j, k))
    return flat


def _general_position(points: PointsXY) -> bool:
    """Whether some 4 of the points have no 3 on one line (what a homography needs)."""
    flat = set(_flat_triples(points))
    for quad in itertools.combinations(range(len(points)), 4):
        if not any(tri in flat for tri in itertools.combinations(quad, 3)):
            return True
    return False


def fit_calibration(
    image_points: npt.ArrayLike,
    map_points: npt.ArrayLike,
    *,
    max_reprojection_error_m: float = 0.5,
) -> CameraCalibration:
    """Fit and check a camera's image → plan homography.

    Args:
        image_points: `(N, 2)` `[x, y]` fractions (0–1) of the frame, N >= 4.
        map_points: `(N, 2)` `[x, y]` the same points on the plan, in metres.
        max_reprojection_error_m: refuse a fit whose RMS reprojection error is above this (m).
            With exactly 4 points the fit is exact (error 0), so the test bites from 5 points on:
            a wrong pair (a clicking slip) shows up as a large residual. Raising it accepts
            sloppier calibrations; lowering it below the clicking accuracy refuses good ones.

    Returns:
        The `CameraCalibration`.

    Raises:
        CalibrationError: fewer than 4 pairs, mismatched lengths, points not finite, image or map
            points with no 4 in general position (3 or more on one line, repeated points), a
            homography that is not invertible or folds the image (points on both sides of the
            horizon), or an RMS reprojection error above `max_reprojection_error_m`. The message
            says which and the numbers.

    Example:
        >>> cal = fit_calibration([[0.1, 0.9], [0.9, 0.9], [0.8, 0.4], [0.2, 0.4]],
        ...                       [[2.0, 1.0], [8.0, 1.0], [7.5, 9.0], [2.5, 9.0]])
        >>> cal.to_map([[0.1, 0.9]]).round(3).tolist(), cal.reprojection_error_m < 1e-6
        ([[2.0, 1.0]], True)
    """
    src = np.asarray(image_points, dtype=np.float64)
    dst = np.asarray(map_points, dtype=np.float64)
    src, dst = (a.reshape(0, 2) if a.size == 0 else a for a in (src, dst))
    if src.ndim != 2 or src.shape[-1] != 2 or dst.ndim != 2 or dst.shape[-1] != 2:
        raise CalibrationError(
            f"image_points and map_points must be lists of [x, y] pairs, but got shapes {src.shape} and {dst.shape}"
        )
    if len(src) != len(dst):
        raise CalibrationError(f"image_points has {len(src)} points but map_points has {len(dst)}; they must pair up")
    if len(src) < 4:
        raise CalibrationError(f"a calibration needs at least 4 point pairs, but got {len(src)}")
    if not (np.isfinite(src).all() and np.isfinite(dst).all()):
        raise CalibrationError("calibration points must be finite numbers")
    for name, pts in (("image_points", src), ("map_points", dst)):
        if not _general_position(pts):
            raise CalibrationError(
                f"{name} are degenerate: no 4 of them are free of 3 on one line (collinear or repeated points)"
            )
    try:
        homography = Homography.from_points(src, dst)
    except ValueError as exc:
        raise CalibrationError(f"no homography fits these points: {exc}") from None
    m = homography.matrix
    scale = np.abs(m).max()
    if not np.isfinite(m).all() or scale == 0 or abs(np.linalg.det(m / scale)) < 1e-9:
        raise CalibrationError("the fitted homography is not invertible (the points are degenerate)")
    w = np.c_[src, np.ones(len(src))] @ m[2]
    if not (np.all(w > 1e-12) or np.all(w < -1e-12)):
        raise CalibrationError(
            "the calibration folds the image: some image points map from beyond the camera's horizon "
            "(check that each image point pairs with the right map point)"
        )
    cal = CameraCalibration(homography, 0.0, 0.0)
    residual = np.linalg.norm(cal.to_map(src) - dst, axis=1)
    rms, worst = float(np.sqrt(np.mean(residual**2))), float(residual.max())
    if rms > max_reprojection_error_m:
        raise CalibrationError(
            f"reprojection error {rms:.2f} m RMS (worst point {int(residual.argmax())}: {worst:.2f} m) is above the "
            f"{max_reprojection_error_m:g} m allowed; a point pair is probably wrong"
        )
    return CameraCalibration(homography, rms, worst)


# ----------------------------------------------------------------------------------- smoothing
@dataclass(frozen=True)
class KalmanParams:
    """Noise of the constant-velocity model of a walking person on the plan.

    State `[x, y, vx, vy]` (m, m/s); the person's velocity changes by a white-noise acceleration
    ("discretised continuous white-noise acceleration" model, Bar-Shalom, Li & Kirubarajan,
    "Estimation with Applications to Tracking and Navigation", 2001, sec. 6.2.2): over a step
    `dt` the process noise covariance per axis is
    `accel_noise_mps2² · [[dt³/3, dt²/2], [dt²/2, dt]]`. Measurements are positions with
    independent noise `measurement_noise_m` per axis.

    Attributes:
        accel_noise_mps2: spectral density of the acceleration noise (m/s² per √Hz). A walking
            person starts, stops and turns at about 1 m/s²; raising it follows turns faster but
            smooths less, lowering it smooths more but lags behind turns.
        measurement_noise_m: standard deviation of a foot point on the plan (m). About 0.3 m for
            a few pixels of box jitter at 10 m; raising it trusts the model more (smoother, more lag).
        initial_speed_sd_mps: standard deviation of the unknown initial velocity (m/s), about a
            brisk walking speed.
    """

    accel_noise_mps2: float = 1.0
    measurement_noise_m: float = 0.3
    initial_speed_sd_mps: float = 1.5

    def __post_init__(self) -> None:
        for name in ("accel_noise_mps2", "measurement_noise_m", "initial_speed_sd_mps"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, but got {getattr(self, name)}")


_H = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0]])


def _transition(dt: float, q: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    f = np.eye(4)
    f[0, 2] = f[1, 3] = dt
    block = q * q * np.array([[dt**3 / 3, dt**2 / 2], [dt**2 / 2, dt]])
    qm = np.zeros((4, 4))
    qm[np.ix_([0, 2], [0, 2])] = block
    qm[np.ix_([1, 3], [1, 3])] = block
    return f, qm


class MapKalman:
    """Online constant-velocity Kalman filter of one person's plan position (see `KalmanParams`).

    Args:
        params: the noise model.

    Example:
        >>> kf = MapKalman(KalmanParams())
        >>> [kf.update(t, [t * 1.0, 0.0]).round(2).tolist() for t in (0.0, 1.0)]
        [[0.0, 0.0], [0.97, 0.0]]
    """

    def __init__(self, params: KalmanParams | None = None) -> None:
        self.params = params or KalmanParams()
        self.x: npt.NDArray[np.float64] | None = None
        self.p: npt.NDArray[np.float64] | None = None
        self.t_s: float | None = None

    def reset(self) -> None:
        """Forget the state (the next `update` starts a new track)."""
        self.x = self.p = self.t_s = None

    def predict(self, t_s: float) -> npt.NDArray[np.float64] | None:
        """Predicted `(2,)` position at `t_s` without changing the state (`None` before the first update)."""
        if self.x is None or self.t_s is None:
            return None
        dt = max(0.0, t_s - self.t_s)
        return self.x[:2] + dt * self.x[2:]

    def update(self, t_s: float, xy: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Fold in a measured position and return the filtered one.

        Args:
            t_s: measurement time (s); non-decreasing (an earlier time is treated as `dt = 0`).
            xy: `(2,)` measured position (m); a NaN measurement only advances the prediction.

        Returns:
            `(2,)` float64 filtered position (m) at `t_s`.
        """
        z = np.asarray(xy, dtype=np.float64).reshape(2)
        p = self.params
        r = np.eye(2) * p.measurement_noise_m**2
        if self.x is None or self.p is None or self.t_s is None:
            if not np.isfinite(z).all():
                return z
            self.x = np.r_[z, 0.0, 0.0]
            self.p = np.diag([p.measurement_noise_m**2] * 2 + [p.initial_speed_sd_mps**2] * 2)
            self.t_s = t_s
            return z.copy()
        dt = max(0.0, t_s - self.t_s)
        f, q = _transition(dt, p.accel_noise_mps2)
        x = f @ self.x
        pm = f @ self.p @ f.T + q
        if np.isfinite(z).all():
            s = _H @ pm @ _H.T + r
            k = pm @ _H.T @ np.linalg.inv(s)
            x = x + k @ (z - _H @ x)
            pm = (np.eye(4) - k @ _H) @ pm
        self.x, self.p, self.t_s = x, pm, max(self.t_s, t_s)
        return x[:2].copy()


def smooth_map_track(t_s: npt.ArrayLike, xy: npt.ArrayLike, params: KalmanParams | None = None) -> PointsXY:
    """Smooth a whole map trajectory (Kalman filter forward, Rauch–Tung–Striebel smoother backward).

    The RTS pass (Rauch, Tung & Striebel, AIAA Journal 3(8), 1965) uses later measurements too,
    so a finished track (bulk jobs, person history) lags less than the online `MapKalman`.

    Args:
        t_s: `(T,)` increasing times (s).
        xy: `(T, 2)` measured positions (m); NaN rows (no floor point) are bridged by the model.
        params: the noise model.

    Returns:
        `(T, 2)` float64 smoothed positions (m); all-NaN input stays NaN.

    Raises:
        ValueError: if the shapes do not match.

    Example:
        >>> smooth_map_track([0, 1, 2], [[0, 0], [1, 0.2], [2, 0]]).round(2)[:, 1].tolist()
        [0.02, 0.13, 0.03]
    """
    t = np.asarray(t_s, dtype=np.float64).reshape(-1)
    z = np.asarray(xy, dtype=np.float64)
    if z.size == 0:
        return np.empty((0, 2), np.float64)
    if z.shape != (len(t), 2):
        raise ValueError(f"xy must have shape ({len(t)}, 2), but got shape {z.shape}")
    finite = np.isfinite(z).all(axis=1)
    if not finite.any():
        return z.copy()
    p = params or KalmanParams()
    r = np.eye(2) * p.measurement_noise_m**2
    n = len(t)
    xs, ps, xp, pp, fs = np.zeros((n, 4)), np.zeros((n, 4, 4)), np.zeros((n, 4)), np.zeros((n, 4, 4)), np.zeros((n, 4, 4))
    first = int(np.argmax(finite))
    x = np.r_[z[first], 0.0, 0.0]
    pm = np.diag([p.measurement_noise_m**2] * 2 + [p.initial_speed_sd_mps**2] * 2)
    for i in range(n):
        dt = max(0.0, t[i] - t[i - 1]) if i > 0 else 0.0
        f, q = _transition(dt, p.accel_noise_mps2)
        if i > 0:
            x, pm = f @ x, f @ pm @ f.T + q
        fs[i], xp[i], pp[i] = f, x, pm
        if finite[i]:
            s = _H @ pm @ _H.T + r
            k = pm @ _H.T @ np.linalg.inv(s)
            x = x + k @ (z[i] - _H @ x)
            pm = (np.eye(4) - k @ _H) @ pm
        xs[i], ps[i] = x, pm
    for i in range(n - 2, -1, -1):
        c = ps[i] @ fs[i + 1].T @ np.linalg.pinv(pp[i + 1])
        xs[i] = xs[i] + c @ (xs[i + 1] - xp[i + 1])
        ps[i] = ps[i] + c @ (ps[i + 1] - pp[i + 1]) @ c.T
    return xs[:, :2]


def path_length_m(xy: npt.ArrayLike) -> float:
    """Length of a polyline on the plan (m), skipping NaN points.

    Args:
        xy: `(T, 2)` positions in metres.

    Returns:
        Sum of the distances between consecutive finite points.

    Example:
        >>> path_length_m([[0, 0], [3, 4], [3, 5]])
        6.0
    """
    pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) < 2:
        return 0.0
    return float(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum())


def movement_metrics(t_s: npt.ArrayLike, xy: npt.ArrayLike, *, max_step_s: float = 2.0) -> dict[str, float]:
    """Distance walked and average speed of a plan trajectory.

    Steps longer than `max_step_s` (the person was unseen) are left out of both the distance
    and the time, so a person who leaves and comes back is not credited with a straight walk.

    Args:
        t_s: `(T,)` increasing times (s).
        xy: `(T, 2)` positions (m), NaN where unknown.
        max_step_s: longest step counted (s).

    Returns:
        `{"total_distance_m", "moving_time_s", "average_speed_mps"}` (speed 0 with no time).

    Example:
        >>> movement_metrics([0, 1, 2, 10], [[0, 0], [1, 0], [2, 0], [50, 0]])
        {'total_distance_m': 2.0, 'moving_time_s': 2.0, 'average_speed_mps': 1.0}
    """
    t = np.asarray(t_s, np.float64).reshape(-1)
    p = np.asarray(xy, np.float64).reshape(-1, 2)
    ok = np.isfinite(p).all(axis=1)
    t, p = t[ok], p[ok]
    if len(t) < 2:
        return {"total_distance_m": 0.0, "moving_time_s": 0.0, "average_speed_mps": 0.0}
    dt = np.diff(t)
    step = np.linalg.norm(np.diff(p, axis=0), axis=1)
    keep = (dt > 0) & (dt <= max_step_s)
    dist, time_s = float(step[keep].sum()), float(dt[keep].sum())
    return {"total_distance_m": round(dist, 3), "moving_time_s": round(time_s, 3),
            "average_speed_mps": round(dist / time_s, 3) if time_s > 0 else 0.0}


def zone_dwell_s(t_s: npt.ArrayLike, inside: npt.ArrayLike, *, max_step_s: float = 2.0) -> float:
    """Seconds spent inside a zone from samples of whether a person was inside.

    Each step between two samples counts when the person was inside at its start and it is no
    longer than `max_step_s`.

    Args:
        t_s: `(T,)` increasing times (s).
        inside: `(T,)` bool.
        max_step_s: longest step counted (s).

    Example:
        >>> zone_dwell_s([0, 1, 2, 3, 20], [True, True, False, True, True])
        2.0
    """
    t = np.asarray(t_s, np.float64).reshape(-1)
    a = np.asarray(inside, bool).reshape(-1)
    if len(t) < 2:
        return 0.0
    dt = np.diff(t)
    return float(dt[a[:-1] & (dt <= max_step_s)].sum())
