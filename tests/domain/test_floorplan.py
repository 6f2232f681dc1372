from contextlib import ExitStack as DoesNotRaise

import numpy as np
import pytest

from domain.floorplan import CalibrationError, KalmanParams, MapKalman, fit_calibration, path_length_m, smooth_map_track
from domain.site import SiteConfigError, parse_site_yaml

SQUARE_IMG = [[0.1, 0.9], [0.9, 0.9], [0.8, 0.4], [0.2, 0.4]]
SQUARE_MAP = [[2.0, 1.0], [8.0, 1.0], [7.5, 9.0], [2.5, 9.0]]


@pytest.mark.parametrize(
    ("image_points", "map_points", "message", "exception"),
    [
        ([], [], "at least 4 point pairs", pytest.raises(CalibrationError)),  # empty input
        (SQUARE_IMG[:3], SQUARE_MAP[:3], "at least 4 point pairs, but got 3", pytest.raises(CalibrationError)),
        (SQUARE_IMG, SQUARE_MAP[:3], "image_points has 4 points but map_points has 3", pytest.raises(CalibrationError)),
        # three image points on one line: no homography is determined
        ([[0.1, 0.9], [0.5, 0.9], [0.9, 0.9], [0.5, 0.4]], SQUARE_MAP, "image_points are degenerate",
         pytest.raises(CalibrationError)),
        # all map points on one line
        (SQUARE_IMG, [[0, 0], [1, 1], [2, 2], [3, 3]], "map_points are degenerate", pytest.raises(CalibrationError)),
        # a repeated point
        ([[0.1, 0.9], [0.1, 0.9], [0.8, 0.4], [0.2, 0.4]], SQUARE_MAP, "degenerate", pytest.raises(CalibrationError)),
        # a fifth pair that contradicts the other four (a clicking slip)
        (SQUARE_IMG + [[0.5, 0.6]], SQUARE_MAP + [[7.0, 5.6]], "reprojection error", pytest.raises(CalibrationError)),
        # two pairs swapped: the image folds across the horizon
        (SQUARE_IMG, [SQUARE_MAP[0], SQUARE_MAP[2], SQUARE_MAP[1], SQUARE_MAP[3]], "", pytest.raises(CalibrationError)),
        (SQUARE_IMG, SQUARE_MAP, "", DoesNotRaise()),  # exact with 4 points
        # 5 consistent points (the fifth on the fitted plane)
        (SQUARE_IMG + [[0.5, 0.9]], SQUARE_MAP + [[5.0, 1.0]], "", DoesNotRaise()),
    ],
)
def test_fit_calibration_checks(image_points, map_points, message, exception) -> None:
    with exception as info:
        fit_calibration(image_points, map_points)
    if message:
        assert message in str(info.value)


def test_calibration_maps_foot_points_to_metres() -> None:
    cal = fit_calibration(SQUARE_IMG, SQUARE_MAP)
    # the foot point of a box whose bottom-centre is the first image point maps to the first map point
    xyxy = [[0.1 * 768 - 10, 300, 0.1 * 768 + 10, 0.9 * 576]]
    assert np.allclose(cal.boxes_to_map(xyxy, (768, 576)), [SQUARE_MAP[0]], atol=1e-6)
    assert cal.reprojection_error_m < 1e-6
    fov = cal.field_of_view()
    assert len(fov) > 3 and np.isfinite(fov).all()


def test_points_above_the_horizon_have_no_floor_point() -> None:
    # a steeply converging floor: the horizon is at y ~ 0.4 of the image
    cal = fit_calibration([[0.1, 0.9], [0.9, 0.9], [0.6, 0.5], [0.4, 0.5]], [[2, 1], [8, 1], [8, 9], [2, 9]])
    out = cal.to_map([[0.5, 0.0], [0.5, 0.9]])
    assert np.isnan(out[0]).all() and np.isfinite(out[1]).all()


def test_site_file_refuses_bad_calibration_naming_camera_and_line() -> None:
    text = """\
site: {name: s}
cameras:
  entrance:
    calibration:
      image_points: [[0.1, 0.9], [0.5, 0.9], [0.9, 0.9], [0.5, 0.4]]
      map_points: [[2, 1], [8, 1], [7.5, 9], [2.5, 9]]
"""
    with pytest.raises(SiteConfigError) as info:
        parse_site_yaml(text, "site.yaml")
    assert "site.yaml:4: cameras.entrance.calibration: calibration: image_points are degenerate" in str(info.value)


def test_site_file_floor_plan_and_neighbours() -> None:
    text = """\
site:
  name: s
  floor_plan: {image: plan.png, metres_per_pixel: 0.05}
cameras:
  entrance:
    calibration: {image_points: [[0.1, 0.9], [0.9, 0.9], [0.8, 0.4], [0.2, 0.4]], map_points: [[2, 1], [8, 1], [7.5, 9], [2.5, 9]]}
    neighbours: {checkout: {transit_s: [0, 20]}}
  checkout: {}
"""
    site = parse_site_yaml(text, "site.yaml")
    assert site.site.floor_plan.metres_per_pixel == 0.05
    assert site.cameras["entrance"].neighbours["checkout"].transit_s == (0.0, 20.0)
    assert site.cameras["entrance"].calibration.fitted.reprojection_error_m < 1e-6
    bad = text.replace("checkout: {transit_s", "office: {transit_s")
    with pytest.raises(SiteConfigError) as info:
        parse_site_yaml(bad, "site.yaml")
    assert "site.yaml:7: cameras.entrance.neighbours.office: camera 'entrance' lists neighbour 'office'" in str(info.value)
    backwards = text.replace("[0, 20]", "[20, 0]")
    with pytest.raises(SiteConfigError, match="min <= max"):
        parse_site_yaml(backwards, "site.yaml")


def test_kalman_reduces_noise_and_keeps_velocity() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(0, 20, 0.2)
    truth = np.c_[1.2 * t, 0.5 * t]  # 1.3 m/s, straight
    noisy = truth + rng.normal(0, 0.3, truth.shape)
    smooth = smooth_map_track(t, noisy)
    kf = MapKalman(KalmanParams())
    online = np.array([kf.update(ti, zi) for ti, zi in zip(t, noisy)])
    raw_err = np.linalg.norm(noisy - truth, axis=1).mean()
    assert np.linalg.norm(smooth - truth, axis=1).mean() < 0.5 * raw_err
    assert np.linalg.norm(online[10:] - truth[10:], axis=1).mean() < 0.8 * raw_err
    # the path length of the smoothed track is close to the true one; the raw one is inflated by the jitter
    true_len = path_length_m(truth)
    assert abs(path_length_m(smooth) - true_len) < 0.05 * true_len < path_length_m(noisy) - true_len
    assert np.allclose(kf.x[2:], [1.2, 0.5], atol=0.2)


def test_kalman_bridges_missing_points_and_empty_input() -> None:
    t = np.arange(6, dtype=float)
    xy = np.c_[t, np.zeros(6)]
    xy[2:4] = np.nan
    out = smooth_map_track(t, xy)
    assert np.allclose(out[2:4, 0], [2, 3], atol=0.1)
    assert smooth_map_track([], np.empty((0, 2))).shape == (0, 2)
    with pytest.raises(ValueError, match="shape"):
        smooth_map_track([0, 1], [[0, 0]])
