import warnings
from contextlib import ExitStack as DoesNotRaise

import numpy as np
import pytest

from domain.pose_features import FEATURE_NAMES, R_ELBOW, R_WRIST, L_WRIST, waist_mask, window_bounds, window_features

FPS = 10.0
TORSO_PX = 100.0


def standing_pose(cx: float = 300.0, hip_y: float = 300.0, arm: str = "rest", visibility: float = 0.9) -> np.ndarray:
    """`(17, 3)` COCO-17 skeleton of a person standing with hips at `(cx, hip_y)`, torso 100 px.

    `arm` places the right arm: `rest` (hanging straight), `raised` (wrist above the head),
    `waist` (wrist at the belly, elbow bent), `reach` (wrist 130 px right, 80 px up: a shelf).
    """
    y = hip_y
    pts = {
        0: (cx, y - 130), 1: (cx - 5, y - 135), 2: (cx + 5, y - 135), 3: (cx - 10, y - 130), 4: (cx + 10, y - 130),
        5: (cx - 25, y - 100), 6: (cx + 25, y - 100), 7: (cx - 30, y - 45), 8: (cx + 30, y - 45),
        9: (cx - 33, y + 10), 10: (cx + 33, y + 10), 11: (cx - 12, y), 12: (cx + 12, y),
        13: (cx - 12, y + 50), 14: (cx + 12, y + 50), 15: (cx - 12, y + 95), 16: (cx + 12, y + 95),
    }
    arm_pts = {
        "rest": {},
        "raised": {R_ELBOW: (cx + 35, y - 125), R_WRIST: (cx + 30, y - 150)},
        "waist": {R_ELBOW: (cx + 45, y - 50), R_WRIST: (cx + 10, y - 20)},
        "reach": {R_ELBOW: (cx + 80, y - 90), R_WRIST: (cx + 130, y - 80)},
    }[arm]
    pts.update(arm_pts)
    return np.array([[*pts[i], visibility] for i in range(17)], dtype=np.float32)


def pose_sequence(arms: list[str], cx: float = 300.0, fps: float = FPS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(keypoints (T, 17, 3), t_s (T,), xyxy (T, 4))` for one standing person, one arm pose per frame."""
    kp = np.array([standing_pose(cx, arm=a) for a in arms], np.float32).reshape(-1, 17, 3)
    t_s = np.arange(len(arms)) / fps
    xyxy = np.tile(np.array([cx - 40, 160, cx + 40, 400], np.float32), (len(arms), 1))
    return kp, t_s, xyxy


def feature(features: np.ndarray, name: str) -> np.ndarray:
    return features[:, FEATURE_NAMES.index(name)]


def test_feature_names() -> None:
    assert len(FEATURE_NAMES) == 21
    assert len(set(FEATURE_NAMES)) == 21


@pytest.mark.parametrize(
    ("n_frames", "window", "stride", "expected", "exception"),
    [
        (0, 30, 15, [], DoesNotRaise()),  # empty input
        (29, 30, 15, [], DoesNotRaise()),  # shorter than one window: no windows
        (30, 30, 15, [[0, 30]], DoesNotRaise()),  # exactly one window
        (45, 30, 15, [[0, 30], [15, 45]], DoesNotRaise()),  # two overlapping windows
        (100, 30, 15, [[0, 30], [15, 45], [30, 60], [45, 75], [60, 90]], DoesNotRaise()),  # tail 90–99 dropped
        (10, 5, 5, [[0, 5], [5, 10]], DoesNotRaise()),  # configurable window and stride
        (10, 1, 1, None, pytest.raises(ValueError)),  # a window needs two frames for speeds
        (10, 5, 0, None, pytest.raises(ValueError)),  # zero stride
    ],
)
def test_window_bounds(n_frames, window, stride, expected, exception) -> None:
    with exception:
        kp, t_s, xyxy = pose_sequence(["rest"] * n_frames)
        features, bounds = window_features(kp, t_s, xyxy, window=window, stride=stride)
        assert bounds.tolist() == expected
        assert window_bounds(n_frames, window=window, stride=stride).tolist() == expected
        assert features.shape == (len(expected), 21)
        assert features.dtype == np.float32


@pytest.mark.parametrize(
    ("arms", "name", "expected", "exception"),
    [
        (["rest"] * 30, "hand_above_shoulder_frac", 0.0, DoesNotRaise()),  # hands down
        (["raised"] * 30, "hand_above_shoulder_frac", 1.0, DoesNotRaise()),  # hand raised all window
        (["rest"] * 15 + ["raised"] * 15, "hand_above_shoulder_frac", 0.5, DoesNotRaise()),  # half the window
        (["rest"] * 30, "hand_at_waist_frac", 0.0, DoesNotRaise()),  # relaxed straight arm is not at the waist
        (["waist"] * 30, "hand_at_waist_frac", 1.0, DoesNotRaise()),  # hand held at the belly
        (["reach"] * 10 + ["waist"] * 20, "retract_hold_s", 2.0, DoesNotRaise()),  # extended, then 20 frames at waist
        (["waist"] * 30, "retract_hold_s", 0.0, DoesNotRaise()),  # at the waist, never extended
        (["rest"] * 30, "hip_speed_mean", 0.0, DoesNotRaise()),  # standing
        (["rest"] * 30, "stillness_frac", 1.0, DoesNotRaise()),  # nothing moves
        (["rest"] * 30, "torso_lean_deg_mean", 0.0, DoesNotRaise()),  # upright
        (["rest"] * 30, "hands_hidden_frac", 0.0, DoesNotRaise()),  # all visible
        (["rest"] * 30, "right_elbow_angle_deg_mean", 177.9, DoesNotRaise()),  # nearly straight arm
        (["rest"] * 30, "hand_to_hand_dist_mean", 0.66, DoesNotRaise()),  # wrists 66 px apart, torso 100 px
    ],
)
def test_pose_cues(arms, name, expected, exception) -> None:
    with exception:
        features, _ = window_features(*pose_sequence(arms))
        np.testing.assert_allclose(feature(features, name), [expected], atol=0.5 if "deg" in name else 1e-5)


def test_wrist_speed_is_torso_lengths_per_second() -> None:
    kp, t_s, xyxy = pose_sequence(["rest"] * 30)
    kp[:, L_WRIST, 0] += np.arange(30) * 20.0  # 20 px/frame at 10 fps, torso 100 px → 2 torso/s
    features, _ = window_features(kp, t_s, xyxy)
    np.testing.assert_allclose(feature(features, "left_wrist_speed_mean"), [2.0], rtol=1e-5)
    np.testing.assert_allclose(feature(features, "left_wrist_speed_max"), [2.0], rtol=1e-5)
    np.testing.assert_allclose(feature(features, "right_wrist_speed_max"), [0.0], atol=1e-6)
    # Same motion filmed twice as close: same features (scale-free).
    kp2 = kp.copy()
    kp2[..., :2] *= 2
    np.testing.assert_allclose(window_features(kp2, t_s, xyxy * 2)[0], features, rtol=1e-4, atol=1e-4)


HAND_FEATURES = [n for n in FEATURE_NAMES if n.startswith(("left_", "right_", "wrist_", "hand_to_hand"))]


@pytest.mark.parametrize(
    ("hide", "expected_nan", "hidden_frac"),
    [
        ([], [], 0.0),  # everything visible: no NaN
        ([L_WRIST, R_WRIST], HAND_FEATURES, 1.0),  # hands invisible: only the hand features are NaN
        (list(range(17)), list(FEATURE_NAMES), None),  # nobody visible: whole row NaN
        ([5, 6], list(FEATURE_NAMES), None),  # no shoulders, so no torso: whole row NaN
    ],
)
def test_nan_safety(hide, expected_nan, hidden_frac) -> None:
    kp, t_s, xyxy = pose_sequence(["rest"] * 30)
    kp[:, hide, 2] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "mean of empty slice" warnings
        features, _ = window_features(kp, t_s, xyxy)
    assert [n for n, v in zip(FEATURE_NAMES, features[0]) if np.isnan(v)] == expected_nan
    if hidden_frac is not None:
        assert feature(features, "hands_hidden_frac")[0] == hidden_frac


def test_zero_torso_length_gives_nan_row_without_warnings() -> None:
    kp = np.zeros((30, 17, 3), np.float32)
    kp[..., 2] = 1.0  # every keypoint visible at the same pixel
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        features, bounds = window_features(kp, np.arange(30) / FPS, np.zeros((30, 4)))
    assert bounds.tolist() == [[0, 30]]
    assert np.isnan(features).all()


@pytest.mark.parametrize(
    ("keypoints", "t_s", "xyxy", "exception"),
    [
        (np.zeros((0, 17, 3)), np.zeros(0), np.zeros((0, 4)), DoesNotRaise()),  # empty input
        (np.zeros((5, 17, 2)), np.zeros(5), np.zeros((5, 4)), pytest.raises(ValueError)),  # no visibility column
        (np.zeros((5, 17, 3)), np.zeros(4), np.zeros((5, 4)), pytest.raises(ValueError)),  # t_s too short
        (np.zeros((5, 17, 3)), np.zeros(5), np.zeros((5, 5)), pytest.raises(ValueError)),  # bad boxes
    ],
)
def test_window_features_validation(keypoints, t_s, xyxy, exception) -> None:
    with exception:
        features, bounds = window_features(keypoints, t_s, xyxy)
        assert features.shape == (0, 21) and bounds.shape == (0, 2)


@pytest.mark.parametrize(
    ("arm", "expected"),
    [
        ("rest", [False, False]),  # arms hanging
        ("waist", [False, True]),  # right hand at the belly
        ("raised", [False, False]),  # hand up
        ("reach", [False, False]),  # hand in a shelf
    ],
)
def test_waist_mask(arm, expected) -> None:
    assert waist_mask(standing_pose(arm=arm)[None]).tolist() == [expected]
