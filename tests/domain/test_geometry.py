from contextlib import ExitStack as DoesNotRaise

import numpy as np
import pytest

from domain.geometry import (
    Homography,
    denormalize_polygon,
    foot_points,
    polygon_area,
    polygon_self_intersects,
    segment_crosses,
    side_of_line,
)


@pytest.mark.parametrize(
    ("xyxy", "expected", "exception"),
    [
        ([], np.empty((0, 2)), DoesNotRaise()),  # empty input
        ([[10, 20, 30, 60]], [[20, 60]], DoesNotRaise()),  # one box
        ([[0, 0, 2, 2], [4, 4, 8, 10]], [[1, 2], [6, 10]], DoesNotRaise()),  # two boxes
        ([[1, 2, 3]], None, pytest.raises(ValueError)),  # wrong width
    ],
)
def test_foot_points(xyxy, expected, exception) -> None:
    with exception:
        result = foot_points(xyxy)
        np.testing.assert_allclose(result, expected)
        assert result.shape == (len(xyxy), 2)


@pytest.mark.parametrize(
    ("polygon", "resolution_wh", "expected", "exception"),
    [
        ([], (100, 50), np.empty((0, 2)), DoesNotRaise()),  # empty input
        ([[0, 0], [1, 1], [0.5, 0.2]], (100, 50), [[0, 0], [100, 50], [50, 10]], DoesNotRaise()),  # scaled w, h
        ([[0, 0]], (0, 50), None, pytest.raises(ValueError)),  # zero width
        ([[0, 0, 0]], (10, 10), None, pytest.raises(ValueError)),  # not (K, 2)
    ],
)
def test_denormalize_polygon(polygon, resolution_wh, expected, exception) -> None:
    with exception:
        np.testing.assert_allclose(denormalize_polygon(polygon, resolution_wh), expected)


SQUARE = [[0, 0], [1, 0], [1, 1], [0, 1]]


@pytest.mark.parametrize(
    ("image_xy", "world_xy", "points", "expected", "exception"),
    [
        (SQUARE, SQUARE, [], np.empty((0, 2)), DoesNotRaise()),  # empty input to transform
        (SQUARE, [[0, 0], [2, 0], [2, 2], [0, 2]], [[0.5, 0.5], [1, 1]], [[1, 1], [2, 2]], DoesNotRaise()),  # scale
        (SQUARE, [[5, 5], [6, 5], [6, 6], [5, 6]], [[0, 0]], [[5, 5]], DoesNotRaise()),  # translation
        (SQUARE[:3], SQUARE[:3], [[0, 0]], None, pytest.raises(ValueError)),  # fewer than 4 points
        ([[0, 0], [1, 0], [2, 0], [3, 0]], SQUARE, [[0, 0]], None, pytest.raises(ValueError)),  # collinear
        (SQUARE, SQUARE[:3], [[0, 0]], None, pytest.raises(ValueError)),  # mismatched shapes
    ],
)
def test_homography(image_xy, world_xy, points, expected, exception) -> None:
    with exception:
        h = Homography.from_points(image_xy, world_xy)
        np.testing.assert_allclose(h.transform(points), expected, atol=1e-6)


def test_homography_rejects_bad_matrix() -> None:
    with pytest.raises(ValueError):
        Homography(np.eye(2))


@pytest.mark.parametrize(
    ("points", "start", "end", "expected"),
    [
        ([], [0, 0], [10, 0], []),  # empty input
        ([[5, 10]], [0, 0], [10, 0], [1]),  # below a left-to-right line: right-hand side
        ([[5, -10]], [0, 0], [10, 0], [-1]),  # above: left-hand side
        ([[20, 0]], [0, 0], [10, 0], [0]),  # on the (extended) line
        ([[5, 10]], [10, 0], [0, 0], [-1]),  # swapping start/end flips the side
    ],
)
def test_side_of_line(points, start, end, expected) -> None:
    np.testing.assert_array_equal(side_of_line(points, start, end), expected)


@pytest.mark.parametrize(
    ("p0", "p1", "expected"),
    [
        ([5, -1], [5, 1], True),  # straight through the middle
        ([15, -1], [15, 1], False),  # crosses the extension, not the segment
        ([5, -1], [5, 0], False),  # ends on the line: not yet crossed
        ([0, -1], [0, 1], True),  # through an end point
        ([2, -1], [8, -1], False),  # parallel, same side
    ],
)
def test_segment_crosses(p0, p1, expected) -> None:
    assert segment_crosses(p0, p1, [0, 0], [10, 0]) is expected


@pytest.mark.parametrize(
    ("polygon", "area", "self_intersects"),
    [
        ([], 0.0, False),  # empty input
        ([[0, 0], [2, 0], [2, 1], [0, 1]], 2.0, False),  # rectangle
        ([[0, 0], [2, 0], [0, 2], [2, 2]], 0.0, True),  # bow-tie: signed halves cancel
        ([[0, 0], [1, 0], [2, 0]], 0.0, False),  # collinear: degenerate
    ],
)
def test_polygon_checks(polygon, area, self_intersects) -> None:
    assert polygon_area(polygon) == pytest.approx(area)
    assert polygon_self_intersects(polygon) is self_intersects
