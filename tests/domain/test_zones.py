from contextlib import ExitStack as DoesNotRaise

import numpy as np
import pytest

from domain.site import LineConfig, ZoneConfig
from domain.zones import LineZone, PolygonZone

LEFT_HALF = [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]


@pytest.mark.parametrize(
    ("polygon", "anchors_xy", "expected", "exception"),
    [
        (LEFT_HALF, np.empty((0, 2)), [], DoesNotRaise()),  # empty input
        (LEFT_HALF, [[10, 10], [90, 10]], [True, False], DoesNotRaise()),  # inside, outside
        (LEFT_HALF, [[10, 100]], [True], DoesNotRaise()),  # foot on the bottom frame edge
        (LEFT_HALF, [[-1, 10], [10, 101]], [False, False], DoesNotRaise()),  # outside the frame
        ([[0.2, 0.2], [0.8, 0.2], [0.5, 0.8]], [[50, 30], [21, 70]], [True, False], DoesNotRaise()),  # triangle
    ],
)
def test_polygon_zone_trigger(polygon, anchors_xy, expected, exception) -> None:
    with exception:
        zone = PolygonZone("z", ZoneConfig(polygon=polygon), (100, 100))
        np.testing.assert_array_equal(zone.trigger(anchors_xy), expected)


def test_polygon_zone_precomputes_pixels() -> None:
    zone = PolygonZone("z", ZoneConfig(polygon=LEFT_HALF, inertia_frames=3), (200, 100))
    np.testing.assert_allclose(zone.polygon_xy, [[0, 0], [100, 0], [100, 100], [0, 100]])
    assert zone.mask.shape == (100, 200)
    assert zone.inertia_frames == 3


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([], []),  # empty input
        ([[(1, 50, 40)], [(1, 50, 60)]], [[0], [1]]),  # downwards across a left-to-right line: in
        ([[(1, 50, 60)], [(1, 50, 40)]], [[0], [-1]]),  # upwards: out
        ([[(1, 50, 40)], [(1, 50, 50)], [(1, 50, 60)]], [[0], [0], [1]]),  # touching the line counts once
        ([[(1, 50, 40)], [(1, 50, 50)], [(1, 50, 40)]], [[0], [0], [0]]),  # touch and back: no crossing
        ([[(1, 50, 40), (2, 50, 60)], [(1, 50, 60), (2, 50, 40)]], [[0, 0], [1, -1]]),  # per-track state
        ([[(1, -5, 40)], [(1, -5, 60)]], [[0], [0]]),  # passes beyond the line's end
    ],
)
def test_line_zone_trigger(steps, expected) -> None:
    line = LineZone("door", LineConfig(start=[0, 0.5], end=[1, 0.5]), (100, 100))
    for step, want in zip(steps, expected):
        ids = [t for t, _, _ in step]
        xy = [[x, y] for _, x, y in step]
        np.testing.assert_array_equal(line.trigger(ids, xy), want)


def test_line_zone_reset_forgets_tracks() -> None:
    line = LineZone("door", LineConfig(start=[0, 0.5], end=[1, 0.5]), (100, 100))
    line.trigger([1], [[50, 40]])
    line.reset()
    np.testing.assert_array_equal(line.trigger([1], [[50, 60]]), [0])
