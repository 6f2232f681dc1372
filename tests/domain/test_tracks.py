from contextlib import ExitStack as DoesNotRaise

import numpy as np
import pytest

from domain.tracks import Trajectory, densify
from tests.factories import make_trajectory


def _arrays(n: int = 2, **override) -> dict:
    """Keyword arguments of a valid `Trajectory` of `n` points, with some replaced."""
    kwargs = {
        "track_id": 1,
        "frame_index": np.arange(n, dtype=np.int64),
        "t_s": np.arange(n, dtype=np.float64) / 10,
        "xyxy": np.zeros((n, 4), np.float32),
        "confidence": np.ones(n, np.float32),
        "interpolated": np.zeros(n, bool),
        "keypoints": None,
    }
    kwargs.update(override)
    return kwargs


@pytest.mark.parametrize(
    ("kwargs", "exception"),
    [
        (_arrays(0), DoesNotRaise()),  # empty input: a trajectory of no points is valid
        (_arrays(2), DoesNotRaise()),  # well-formed
        (_arrays(2, keypoints=np.zeros((2, 17, 3), np.float32)), DoesNotRaise()),  # with keypoints
        (_arrays(2, xyxy=np.zeros((3, 4), np.float32)), pytest.raises(ValueError, match="xyxy")),  # one box too many
        (_arrays(2, xyxy=np.zeros(8, np.float32)), pytest.raises(ValueError, match="xyxy")),  # boxes not (T, 4)
        (_arrays(2, t_s=np.zeros(3)), pytest.raises(ValueError, match="t_s")),  # times longer than frames
        (_arrays(2, confidence=np.zeros(1, np.float32)), pytest.raises(ValueError, match="confidence")),  # too short
        (_arrays(2, interpolated=np.zeros((2, 1), bool)), pytest.raises(ValueError, match="interpolated")),  # 2-D
        (_arrays(2, keypoints=np.zeros((2, 17, 2), np.float32)), pytest.raises(ValueError, match="keypoints")),  # no vis
        (_arrays(2, keypoints=np.zeros((1, 17, 3), np.float32)), pytest.raises(ValueError, match="keypoints")),  # T=1
        (_arrays(0, xyxy=np.zeros((1, 4), np.float32)), pytest.raises(ValueError, match="xyxy")),  # no frames, 1 box
    ],
)
def test_trajectory_validation(kwargs, exception) -> None:
    with exception:
        traj = Trajectory(**kwargs)
        assert len(traj) == len(kwargs["frame_index"])


@pytest.mark.parametrize(
    ("xyxy", "expected"),
    [
        ([], np.empty((0, 2))),  # empty input
        ([[10, 20, 50, 120]], [[30, 120]]),  # bottom-centre of the box
        ([[0, 0, 1, 1], [-10, 5, 10, 7.5]], [[0.5, 1], [0, 7.5]]),  # negative and fractional coordinates
    ],
)
def test_foot_xy(xyxy, expected) -> None:
    traj = make_trajectory(frames=list(range(len(xyxy))), xyxy=xyxy)
    assert traj.foot_xy.shape == (len(xyxy), 2)
    np.testing.assert_allclose(traj.foot_xy, expected)


@pytest.mark.parametrize(
    ("interpolated", "expected"),
    [
        ([], 0),  # empty input
        ([False, False, False], 3),  # all detected
        ([False, True, True, False], 2),  # interpolated points don't count
        ([True], 0),  # nothing detected
    ],
)
def test_detected_count(interpolated, expected) -> None:
    traj = make_trajectory(frames=list(range(len(interpolated))), interpolated=interpolated)
    assert traj.detected_count == expected


@pytest.mark.parametrize(
    ("frames", "xyxy", "confidence", "interpolated", "max_gap", "expected_frames", "expected_xyxy", "expected_conf"),
    [
        ([], [], [], [], 2, [], np.empty((0, 4)), []),  # empty input
        ([5], [[0, 0, 2, 2]], [0.5], [False], 2, [5], [[0, 0, 2, 2]], [0.5]),  # one point: nothing to fill
        (  # gap of 2 at max_gap 2: the middle frame is filled halfway, confidence the mean of its neighbours
            [0, 2], [[0, 0, 2, 2], [2, 0, 4, 2]], [0.8, 0.6], [False, False], 2,
            [0, 1, 2], [[0, 0, 2, 2], [1, 0, 3, 2], [2, 0, 4, 2]], [0.8, 0.7, 0.6],
        ),
        (  # gap of 4 filled linearly: a quarter of the way at frame 1
            [0, 4], [[0, 0, 4, 4], [4, 4, 8, 8]], [0.9, 0.9], [False, False], 4,
            [0, 1, 2, 3, 4], [[0, 0, 4, 4], [1, 1, 5, 5], [2, 2, 6, 6], [3, 3, 7, 7], [4, 4, 8, 8]],
            [0.9, 0.9, 0.9, 0.9, 0.9],
        ),
        (  # gap of 5 > max_gap 2 stays empty; the short gap before it is filled
            [0, 2, 7], [[0, 0, 2, 2], [2, 0, 4, 2], [7, 0, 9, 2]], [0.5, 0.5, 0.5], [False, False, False], 2,
            [0, 1, 2, 7], [[0, 0, 2, 2], [1, 0, 3, 2], [2, 0, 4, 2], [7, 0, 9, 2]], [0.5, 0.5, 0.5, 0.5],
        ),
        (  # consecutive frames (stride 1): output equals input
            [3, 4], [[0, 0, 1, 1], [1, 0, 2, 1]], [0.4, 0.6], [False, False], 1,
            [3, 4], [[0, 0, 1, 1], [1, 0, 2, 1]], [0.4, 0.6],
        ),
        (  # a stored interpolated point (confidence 0) counts with the mean detected confidence
            [0, 2, 4], [[0, 0, 2, 2], [2, 0, 4, 2], [4, 0, 6, 2]], [0.8, 0.0, 0.6], [False, True, False], 2,
            [0, 1, 2, 3, 4], [[0, 0, 2, 2], [1, 0, 3, 2], [2, 0, 4, 2], [3, 0, 5, 2], [4, 0, 6, 2]],
            [0.8, 0.75, 0.7, 0.65, 0.6],
        ),
    ],
)
def test_densify(frames, xyxy, confidence, interpolated, max_gap, expected_frames, expected_xyxy, expected_conf) -> None:
    traj = make_trajectory(frames=frames, xyxy=xyxy, confidence=confidence, interpolated=interpolated)
    out_frames, out_xyxy, out_conf = densify(traj, max_gap_frames=max_gap)
    np.testing.assert_array_equal(out_frames, expected_frames)
    assert out_xyxy.shape == (len(expected_frames), 4)
    assert out_xyxy.dtype == np.float32 and out_conf.dtype == np.float32
    np.testing.assert_allclose(out_xyxy, np.asarray(expected_xyxy, np.float32).reshape(-1, 4), atol=1e-5)
    np.testing.assert_allclose(out_conf, expected_conf, atol=1e-6)
