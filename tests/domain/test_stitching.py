from contextlib import ExitStack as DoesNotRaise
from dataclasses import replace

import numpy as np
import pytest

from domain.stitching import (
    StitchParams,
    concat_trajectories,
    interpolate_gaps,
    join_chunks,
    prune_short,
    renumber,
    select,
    stitch_tracklets,
)
from domain.tracks import Trajectory
from tests.factories import make_trajectory

FPS = 10.0
RED = [1.0, 0.0, 0.0]
REDDISH = [0.9, 0.1, 0.0]
BLUE = [0.0, 0.0, 1.0]


def walk(
    track_id: int,
    frames: list[int],
    *,
    x0: float = 10.0,
    vx: float = 5.0,
    y_foot: float = 120.0,
    height: float = 100.0,
    width: float = 40.0,
    embedding: list[float] | None = None,
) -> Trajectory:
    """A person walking right at `vx` px/frame: at frame f the box's left edge is `x0 + vx * f`."""
    xyxy = [[x0 + vx * f, y_foot - height, x0 + vx * f + width, y_foot] for f in frames]
    traj = make_trajectory(track_id, frames, xyxy, fps=FPS)
    return traj if embedding is None else replace(traj, embedding=np.asarray(embedding, np.float32))


def summary(trajectories: list[Trajectory]) -> list[tuple[int, list[int]]]:
    """`(track_id, frames)` per trajectory, in the given order."""
    return [(t.track_id, t.frame_index.tolist()) for t in trajectories]


A = list(range(0, 10))  # frames 0..9 (0.0-0.9 s)
B = list(range(20, 30))  # starts 1.1 s after A ends
C = list(range(40, 50))  # starts 1.1 s after B ends


# ----------------------------------------------------------------------------------- stitch_tracklets
@pytest.mark.parametrize(
    ("tracklets", "params", "expected", "exception"),
    [
        ([], StitchParams(), [], DoesNotRaise()),  # empty input
        ([walk(1, A)], StitchParams(), [(1, A)], DoesNotRaise()),  # one tracklet: unchanged
        ([walk(1, A), walk(2, B)], StitchParams(), [(1, A + B)], DoesNotRaise()),  # continues along its path
        ([walk(2, B), walk(1, A)], StitchParams(), [(1, A + B)], DoesNotRaise()),  # input order does not matter
        (  # a stop during the gap is within the residual allowance (B starts 1 s of walking behind)
            [walk(1, A), walk(2, B, x0=-40)], StitchParams(), [(1, A + B)], DoesNotRaise(),
        ),
        (  # gap of 5.1 s > max_gap_s 4 (B is still exactly on A's path)
            [walk(1, A), walk(2, list(range(60, 70)))], StitchParams(),
            [(1, A), (2, list(range(60, 70)))], DoesNotRaise(),
        ),
        (  # the same 5.1 s gap is joined with a longer max_gap_s
            [walk(1, A), walk(2, list(range(60, 70)))], StitchParams(max_gap_s=6.0),
            [(1, A + list(range(60, 70)))], DoesNotRaise(),
        ),
        (  # overlap in time: B starts before A ends
            [walk(1, A), walk(2, list(range(5, 15)))], StitchParams(), [(1, A), (2, list(range(5, 15)))], DoesNotRaise(),
        ),
        (  # zero gap: B starts on A's last frame
            [walk(1, A), walk(2, list(range(9, 19)))], StitchParams(), [(1, A), (2, list(range(9, 19)))], DoesNotRaise(),
        ),
        (  # B starts 300 px from where A was heading (reach is 132 px for a 1.1 s gap)
            [walk(1, A), walk(2, B, x0=310)], StitchParams(), [(1, A), (2, B)], DoesNotRaise(),
        ),
        (  # B is twice as tall at the junction (ratio 2 > 1.6)
            [walk(1, A), walk(2, B, height=200)], StitchParams(), [(1, A), (2, B)], DoesNotRaise(),
        ),
        (  # height ratio 1.5 is inside the gate
            [walk(1, A), walk(2, B, height=150)], StitchParams(), [(1, A + B)], DoesNotRaise(),
        ),
        (  # dissimilar appearance (cosine 0 < 0.75)
            [walk(1, A, embedding=RED), walk(2, B, embedding=BLUE)], StitchParams(), [(1, A), (2, B)], DoesNotRaise(),
        ),
        (  # similar appearance (cosine 0.99)
            [walk(1, A, embedding=RED), walk(2, B, embedding=REDDISH)], StitchParams(), [(1, A + B)], DoesNotRaise(),
        ),
        (  # appearance is ignored when one side has none
            [walk(1, A, embedding=RED), walk(2, B)], StitchParams(), [(1, A + B)], DoesNotRaise(),
        ),
        (  # a chain A -> B -> C keeps the id of its first tracklet, not the smallest id
            [walk(9, A), walk(3, B), walk(5, C)], StitchParams(), [(9, A + B + C)], DoesNotRaise(),
        ),
        (  # two candidates after A: the one on A's path wins, the one 100 px off stays separate
            [walk(1, A), walk(2, B, x0=110), walk(3, B)], StitchParams(), [(1, A + B), (2, B)], DoesNotRaise(),
        ),
        (  # two candidates before B: the one whose path leads to B wins
            [walk(1, A, x0=110), walk(2, A), walk(3, B)], StitchParams(), [(1, A), (2, A + B)], DoesNotRaise(),
        ),
        (  # two equally placed candidates: the similar-looking one wins
            [walk(1, A, embedding=RED), walk(2, B, embedding=[0.8, 0.6, 0.0]), walk(3, B, embedding=REDDISH)],
            StitchParams(min_similarity=0.5), [(1, A + B), (2, B)], DoesNotRaise(),
        ),
    ],
)
def test_stitch_tracklets(tracklets, params, expected, exception) -> None:
    with exception:
        result = stitch_tracklets(tracklets, params)
        assert summary(result) == expected


def test_stitch_tracklets_keeps_boxes_and_merges_appearance() -> None:
    a, b = walk(1, A, embedding=[1.0, 0.0]), walk(2, B, embedding=[0.8, 0.6])
    (joined,) = stitch_tracklets([a, b], StitchParams(min_similarity=0.5))
    np.testing.assert_array_equal(joined.xyxy, np.concatenate([a.xyxy, b.xyxy]))
    np.testing.assert_allclose(joined.t_s, np.array(A + B) / FPS)
    np.testing.assert_allclose(joined.embedding, [0.9, 0.3])  # equal detected counts: plain mean


# ------------------------------------------------------------------------------------ interpolate_gaps
@pytest.mark.parametrize(
    ("frames", "step", "max_gap_s", "expected_frames", "expected_interpolated"),
    [
        ([], 2, 1.0, [], []),  # empty input
        ([4], 2, 1.0, [4], [False]),  # one point: nothing to fill
        ([0, 2, 4], 2, 1.0, [0, 2, 4], [False] * 3),  # no gap at the stride
        ([0, 2, 10], 2, 1.0, [0, 2, 4, 6, 8, 10], [False, False, True, True, True, False]),  # 0.8 s gap filled
        ([0, 2, 10], 2, 0.5, [0, 2, 10], [False] * 3),  # 0.8 s gap > 0.5 s: left empty
        ([0, 4, 30, 32], 2, 1.0, [0, 2, 4, 30, 32], [False, True, False, False, False]),  # short filled, long left
        ([0, 3], 1, 1.0, [0, 1, 2, 3], [False, True, True, False]),  # stride 1
        ([0, 5], 2, 1.0, [0, 2, 4, 5], [False, True, True, False]),  # gap not a multiple of the stride
    ],
)
def test_interpolate_gaps(frames, step, max_gap_s, expected_frames, expected_interpolated) -> None:
    traj = walk(7, frames)
    result = interpolate_gaps(traj, step_frames=step, fps=FPS, max_gap_s=max_gap_s)
    assert result.track_id == 7
    np.testing.assert_array_equal(result.frame_index, expected_frames)
    np.testing.assert_array_equal(result.interpolated, expected_interpolated)
    # Boxes follow the straight path (the walk is linear), times follow the frames.
    np.testing.assert_allclose(result.xyxy, walk(7, expected_frames).xyxy, atol=1e-4)
    np.testing.assert_allclose(result.t_s, np.asarray(expected_frames, float) / FPS)
    filled = np.asarray(expected_interpolated, bool)
    np.testing.assert_array_equal(result.confidence[filled], 0.0)
    np.testing.assert_allclose(result.confidence[~filled], 0.9)


def test_interpolate_gaps_zero_keypoints_for_filled_points() -> None:
    traj = make_trajectory(1, [0, 4], [[0, 0, 10, 10], [8, 0, 18, 10]], keypoints=True, fps=FPS)
    result = interpolate_gaps(traj, step_frames=2, fps=FPS, max_gap_s=1.0)
    assert result.keypoints is not None and result.keypoints.shape == (3, 17, 3)
    np.testing.assert_array_equal(result.keypoints[1], 0.0)
    np.testing.assert_array_equal(result.keypoints[[0, 2]], traj.keypoints)
    np.testing.assert_allclose(result.xyxy[1], [4, 0, 14, 10])


# ---------------------------------------------------------------------------------------- prune_short
@pytest.mark.parametrize(
    ("trajectories", "min_detected_s", "expected_ids"),
    [
        ([], 1.0, []),  # empty input
        ([walk(1, list(range(5))), walk(2, list(range(4)))], 1.0, [1]),  # 5 x 0.2 s = 1 s kept, 0.8 s dropped
        ([make_trajectory(3, [0, 1, 2, 3, 4], interpolated=[False, True, True, True, False])], 1.0, []),  # 2 detected
        ([walk(1, [0]), walk(2, [0, 1])], 0.0, [1, 2]),  # no minimum: all kept
    ],
)
def test_prune_short(trajectories, min_detected_s, expected_ids) -> None:
    result = prune_short(trajectories, min_detected_s=min_detected_s, step_s=0.2)
    assert [t.track_id for t in result] == expected_ids


# -------------------------------------------------------------------------------------------- renumber
@pytest.mark.parametrize(
    ("trajectories", "expected"),
    [
        ([], []),  # empty input
        ([walk(42, [3, 4])], [(1, [3, 4])]),  # one track becomes 1
        ([walk(5, [10]), walk(9, [0]), walk(2, [4])], [(1, [0]), (2, [4]), (3, [10])]),  # order of first frame
        ([walk(8, [0, 1]), walk(3, [0, 2])], [(1, [0, 2]), (2, [0, 1])]),  # same first frame: by old id
    ],
)
def test_renumber(trajectories, expected) -> None:
    assert summary(renumber(trajectories)) == expected


# ---------------------------------------------------------------------------------------------- select
@pytest.mark.parametrize(
    ("mask", "expected_frames"),
    [
        ([False, False, False, False], []),  # empty result
        ([True, True, True, True], [0, 2, 4, 6]),  # everything
        ([True, False, True, False], [0, 4]),  # every other point
    ],
)
def test_select(mask, expected_frames) -> None:
    traj = replace(walk(3, [0, 2, 4, 6]), embedding=np.ones(4, np.float32))
    traj = replace(traj, keypoints=np.arange(4 * 17 * 3, dtype=np.float32).reshape(4, 17, 3))
    mask = np.asarray(mask, bool)
    result = select(traj, mask)
    assert result.track_id == 3
    np.testing.assert_array_equal(result.frame_index, expected_frames)
    np.testing.assert_array_equal(result.xyxy, traj.xyxy[mask])
    np.testing.assert_array_equal(result.t_s, traj.t_s[mask])
    np.testing.assert_array_equal(result.keypoints, traj.keypoints[mask])
    np.testing.assert_array_equal(result.embedding, traj.embedding)


# ----------------------------------------------------------------------------------------- join_chunks
P0 = list(range(0, 15))  # chunk 0: frames 0..14
P1 = list(range(10, 25))  # chunk 1: frames 10..24, overlap [10, 15), cut at 12
Q1 = list(range(20, 35))  # chunk 2: frames 20..34, overlap [20, 25), cut at 22


@pytest.mark.parametrize(
    ("chunks", "overlaps", "expected", "exception"),
    [
        ([], [], [], DoesNotRaise()),  # empty input
        ([[walk(1, P0)]], [], [(1, P0)], DoesNotRaise()),  # one chunk: unchanged
        (  # same person in both chunks (same boxes): one id, each frame once
            [[walk(1, P0)], [walk(101, P1)]], [(10, 15)], [(1, list(range(25)))], DoesNotRaise(),
        ),
        (  # boxes a few pixels apart still match (IoU ~0.8)
            [[walk(1, P0)], [walk(101, P1, x0=14)]], [(10, 15)], [(1, list(range(25)))], DoesNotRaise(),
        ),
        (  # unmatched people are kept: one leaves before the overlap, one enters after it
            [[walk(1, P0), walk(2, [0, 1, 2], x0=400)], [walk(101, P1), walk(102, [20, 21], x0=600)]], [(10, 15)],
            [(1, list(range(25))), (2, [0, 1, 2]), (102, [20, 21])], DoesNotRaise(),
        ),
        (  # disagreeing boxes in the overlap (IoU 0): two people, each keeps every point it has
            [[walk(1, P0)], [walk(101, P1, x0=300)]], [(10, 15)], [(1, P0), (101, P1)],
            DoesNotRaise(),
        ),
        (  # three chunks: the joined track keeps the id of its earliest part
            [[walk(1, P0)], [walk(101, P1)], [walk(201, Q1)]], [(10, 15), (20, 25)], [(1, list(range(35)))],
            DoesNotRaise(),
        ),
        (  # an empty chunk: the earlier track has no partner and keeps all its points
            [[walk(1, P0)], []], [(10, 15)], [(1, P0)], DoesNotRaise(),
        ),
        ([[walk(1, P0)], [walk(101, P1)]], [], None, pytest.raises(ValueError, match="overlaps")),  # overlap missing
        ([[walk(1, P0)]], [(10, 15)], None, pytest.raises(ValueError, match="overlaps")),  # one overlap too many
    ],
)
def test_join_chunks(chunks, overlaps, expected, exception) -> None:
    with exception:
        result = join_chunks(chunks, overlaps)
        assert sorted(summary(result), key=lambda s: (s[1][0], s[0])) == expected
        for traj in result:
            assert len(np.unique(traj.frame_index)) == len(traj)  # no duplicate frames
            assert (np.diff(traj.frame_index) > 0).all()


def test_join_chunks_keeps_each_sides_boxes() -> None:
    a, b = walk(1, P0), walk(101, P1, x0=14)
    (joined,) = join_chunks([[a], [b]], [(10, 15)])
    np.testing.assert_array_equal(joined.xyxy[:12], a.xyxy[:12])  # chunk 0 up to the cut
    np.testing.assert_array_equal(joined.xyxy[12:], b.xyxy[2:])  # chunk 1 from the cut


# ------------------------------------------------------------------------------------ concat_trajectories
@pytest.mark.parametrize(
    ("parts", "expected_frames", "expected_embedding", "has_keypoints", "exception"),
    [
        ([], None, None, False, pytest.raises(ValueError)),  # empty input: nothing to concatenate
        ([walk(1, [0, 1])], [0, 1], None, False, DoesNotRaise()),  # one part
        ([walk(1, [0, 1]), walk(2, [5, 6, 7])], [0, 1, 5, 6, 7], None, False, DoesNotRaise()),  # no appearance
        (  # appearance: mean weighted by detected points (1 x [1, 0] + 3 x [0, 1]) / 4
            [walk(1, [0], embedding=[1, 0]), walk(2, [5, 6, 7], embedding=[0, 1])],
            [0, 5, 6, 7], [0.25, 0.75], False, DoesNotRaise(),
        ),
        (  # a part without appearance does not dilute the others'
            [walk(1, [0], embedding=[1, 0]), walk(2, [5, 6])], [0, 5, 6], [1, 0], False, DoesNotRaise(),
        ),
        (  # keypoints kept when every part has them
            [make_trajectory(1, [0], keypoints=True), make_trajectory(2, [3, 4], keypoints=True)],
            [0, 3, 4], None, True, DoesNotRaise(),
        ),
        (  # keypoints dropped when one part lacks them
            [make_trajectory(1, [0], keypoints=True), make_trajectory(2, [3, 4])], [0, 3, 4], None, False, DoesNotRaise(),
        ),
    ],
)
def test_concat_trajectories(parts, expected_frames, expected_embedding, has_keypoints, exception) -> None:
    with exception:
        result = concat_trajectories(parts, track_id=77)
        assert result.track_id == 77
        np.testing.assert_array_equal(result.frame_index, expected_frames)
        np.testing.assert_array_equal(result.xyxy, np.concatenate([p.xyxy for p in parts]))
        np.testing.assert_array_equal(result.confidence, np.concatenate([p.confidence for p in parts]))
        if expected_embedding is None:
            assert result.embedding is None
        else:
            np.testing.assert_allclose(result.embedding, expected_embedding)
        assert (result.keypoints is not None) == has_keypoints
        if has_keypoints:
            assert result.keypoints.shape == (len(expected_frames), 17, 3)
