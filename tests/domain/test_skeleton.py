"""Body geometry for the pose rules, and MediaPipe's 33 landmarks mapped to COCO-17."""

from __future__ import annotations

from contextlib import ExitStack as DoesNotRaise

import numpy as np
import pytest

from domain.pose_features import L_ANKLE, L_EAR, L_HIP, NOSE, R_EYE, R_WRIST
from domain.skeleton import MEDIAPIPE_TO_COCO17, box_aspect_wh, hip_xy, mediapipe_to_coco17, torso_angle_deg


@pytest.mark.parametrize(
    ("shape", "exception"),
    [
        ((0, 33, 3), DoesNotRaise()),  # empty input
        ((2, 33, 3), DoesNotRaise()),
        ((2, 17, 3), pytest.raises(ValueError, match=r"landmarks must have shape \(N, 33, 3\), but got shape \(2, 17, 3\)")),
    ],
)
def test_mediapipe_to_coco17_shapes(shape, exception) -> None:
    with exception:
        assert mediapipe_to_coco17(np.zeros(shape)).shape == (shape[0], 17, 3)


def test_mediapipe_to_coco17_maps_each_joint_by_name() -> None:
    lm = np.zeros((1, 33, 3), np.float32)
    lm[0, :, 0] = np.arange(33)  # x = the MediaPipe landmark index
    lm[0, :, 2] = 0.9
    kp = mediapipe_to_coco17(lm)[0]
    # COCO joint -> MediaPipe landmark (BlazePose numbering): nose 0, right eye 5, left ear 7, right wrist 16,
    # left hip 23, left ankle 27.
    assert {j: int(kp[j, 0]) for j in (NOSE, R_EYE, L_EAR, R_WRIST, L_HIP, L_ANKLE)} == {
        NOSE: 0, R_EYE: 5, L_EAR: 7, R_WRIST: 16, L_HIP: 23, L_ANKLE: 27}
    assert len(set(MEDIAPIPE_TO_COCO17)) == 17 and np.allclose(kp[:, 2], 0.9)


def test_geometry_falls_back_when_joints_are_unseen() -> None:
    kp = np.zeros((2, 17, 3))
    kp[0, [5, 6], :] = [[40, 10, 1], [60, 10, 1]]  # shoulders above the hips: upright
    kp[0, [11, 12], :] = [[40, 50, 1], [60, 50, 1]]
    boxes = [[30, 0, 70, 100], [0, 0, 100, 50]]
    assert hip_xy(kp, boxes).tolist() == [[50.0, 50.0], [50.0, 25.0]]  # person 2: box centre
    angle = torso_angle_deg(kp)
    assert angle[0] == 0.0 and np.isnan(angle[1])
    assert box_aspect_wh(boxes).tolist() == [0.4, 2.0]
