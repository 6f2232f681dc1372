"""Face boxes from keypoints, and masks that change only what they cover."""

from __future__ import annotations

from contextlib import ExitStack as DoesNotRaise

import numpy as np
import pytest

from domain.privacy import apply_relative, face_boxes, mask_regions, masked_key, relative_boxes


@pytest.mark.parametrize(
    ("keypoints", "xyxy", "expected", "exception"),
    [
        (None, np.zeros((0, 4)), [], DoesNotRaise()),  # empty input
        (None, [[100, 50, 140, 150]], [[112, 50, 128, 66]], DoesNotRaise()),  # no pose: the top of the box
        ("nose", [[100, 50, 140, 150]], [[112, 52, 128, 68]], DoesNotRaise()),  # centred on the one visible nose
        ("spread", [[100, 50, 140, 150]], [[109, 49, 131, 71]], DoesNotRaise()),  # ears 10 px apart: 2.2 × 10
        (None, [[1, 2, 3]], None, pytest.raises(ValueError, match=r"xyxy must have shape \(N, 4\)")),
        (np.zeros((1, 5, 3)), [[0, 0, 1, 1]], None, pytest.raises(ValueError, match=r"keypoints must have shape")),
    ],
)
def test_face_boxes(keypoints, xyxy, expected, exception) -> None:
    if isinstance(keypoints, str):
        kp = np.zeros((1, 17, 3))
        if keypoints == "nose":
            kp[0, 0] = [120, 60, 0.9]
        else:
            kp[0, 3], kp[0, 4] = [115, 60, 0.9], [125, 60, 0.9]  # left, right ear
        keypoints = kp
    with exception:
        got = face_boxes(keypoints, xyxy)
        np.testing.assert_allclose(got, np.array(expected, float).reshape(-1, 4), atol=0.5)


@pytest.mark.parametrize("method", ["pixelate", "fill"])
def test_mask_changes_only_the_regions(method) -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    out = mask_regions(img, [[10, 10, 30, 30], [70, 50, 200, 200]], method=method)  # the second is clipped
    inside = np.zeros(img.shape[:2], bool)
    inside[10:30, 10:30] = inside[50:60, 70:80] = True
    diff = np.abs(out.astype(int) - img.astype(int)).mean(axis=2)
    assert diff[~inside].max() == 0  # bit for bit outside
    assert diff[inside].mean() > 40  # random texture flattened
    assert (mask_regions(img, np.zeros((0, 4))) == img).all()


def test_relative_boxes_round_trip_and_masked_key() -> None:
    inner, outer = np.array([[12.0, 50, 28, 66]]), np.array([[10.0, 50, 30, 150]])
    np.testing.assert_allclose(apply_relative(relative_boxes(inner, outer), outer), inner)
    moved = apply_relative(relative_boxes(inner, outer), outer + [5, 0, 5, 0])
    np.testing.assert_allclose(moved, inner + [5, 0, 5, 0])
    assert masked_key("clips/live/cam/e1.mp4") == "clips/live/cam/e1.masked.mp4"
