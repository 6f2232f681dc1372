"""MediaPipe Pose as a pose backend, with the real bundled model on real vtest.avi frames.

One detector run (yolo11n-pose at 960) gives the person boxes for a frame; MediaPipe refines them;
then the live camera loop (`pose: mediapipe`), the bulk pose stage and the track data keep the 33
landmarks while the rules read COCO-17.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from actors.mediapipe_pose import MediaPipePose
from actors.pose_replica import PoseReplica
from actors.tracker import TrackletBuilder
from domain.pose_features import L_ANKLE, L_HIP, L_SHOULDER, NOSE
from domain.skeleton import mediapipe_to_coco17
from tests.actors.test_camera import Recorder, camera_config, run_in_thread, wait_for


@pytest.fixture(scope="module")
def replica() -> PoseReplica:
    return PoseReplica(imgsz=960, torch_threads=2)


@pytest.fixture(scope="module")
def mediapipe() -> MediaPipePose:
    mp = MediaPipePose()
    yield mp
    mp.close()


@pytest.fixture(scope="module")
def frame_and_people(vtest_path, replica):
    cap = cv2.VideoCapture(str(vtest_path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 100)
    ok, frame = cap.read()
    cap.release()
    assert ok
    dets = replica.predict([frame])[0]
    assert len(dets) >= 2, "frame 100 of vtest.avi shows several walkers"
    return frame, dets


def test_landmarks_of_real_walkers(mediapipe, frame_and_people) -> None:
    frame, dets = frame_and_people
    lm = mediapipe.landmarks(frame, dets.xyxy)
    assert lm.shape == (len(dets), 33, 3) and lm.dtype == np.float32
    found = lm[..., 2].any(axis=1)
    assert found.sum() >= 2
    for k in np.flatnonzero(found):
        x1, y1, x2, y2 = dets.xyxy[k]
        h = y2 - y1
        coco = mediapipe_to_coco17(lm[k : k + 1])[0]
        # an upright walker: nose above shoulders above hips above ankles, all near the detector's box
        assert coco[NOSE, 1] < coco[L_SHOULDER, 1] < coco[L_HIP, 1] < coco[L_ANKLE, 1]
        assert x1 - 0.3 * h <= np.median(coco[:, 0]) <= x2 + 0.3 * h and y1 - 0.2 * h <= coco[NOSE, 1] <= y1 + 0.4 * h


def test_refine_maps_to_coco_and_keeps_the_33(mediapipe, frame_and_people) -> None:
    frame, dets = frame_and_people
    refined = mediapipe.refine(frame, dets)
    assert refined.landmarks.shape == (len(dets), 33, 3)
    found = refined.landmarks[..., 2].any(axis=1)
    np.testing.assert_allclose(refined.keypoints[found], mediapipe_to_coco17(refined.landmarks[found]))
    np.testing.assert_array_equal(refined.keypoints[~found], dets.keypoints[~found])  # not found: the detector's
    assert (refined.xyxy == dets.xyxy).all()  # boxes (and so tracking) are unchanged
    builder = TrackletBuilder()
    builder.add(100, 10.0, refined, np.arange(1, len(dets) + 1), np.arange(len(dets)))
    trajectories = builder.trajectories()
    assert all(t.landmarks is not None and t.landmarks.shape == (1, 33, 3) for t in trajectories)


def test_bulk_pose_stage_adds_landmarks_only_where_asked(vtest_path, frame_and_people) -> None:
    from pipelines.pose_stage import PoseStage

    frame, dets = frame_and_people
    stage = PoseStage(imgsz=960, torch_threads=2)
    batch = {"image": np.stack([frame, frame]), "pose": np.array(["yolo", "mediapipe"]), "frame_index": np.array([0, 1])}
    out = stage(batch)
    assert "image" not in out and out["landmarks"][0].shape == (0, 33, 3)
    assert out["landmarks"][1].shape == (len(out["xyxy"][1]), 33, 3) and out["landmarks"][1][..., 2].any()
    assert not np.array_equal(out["keypoints"][0], out["keypoints"][1])  # the mediapipe row's keypoints changed


def test_live_camera_with_mediapipe_sends_the_33_landmarks(vtest_path, tmp_path, replica) -> None:
    from actors.camera import CameraLoop

    rec = Recorder()
    cam = camera_config(str(vtest_path), rules=False, pose="mediapipe")
    loop = CameraLoop("mp-cam", cam, replica.predict, detection_fps=2, clips_dir=tmp_path, **rec.kwargs())
    thread, stop = run_in_thread(loop)
    wait_for(lambda: any(t.get("landmarks") for u in rec.tracking for t in u["tracks"]), 60, "a track with landmarks")
    stop.set()
    thread.join(30)
    track = next(t for u in rec.tracking for t in u["tracks"] if t.get("landmarks"))
    assert np.array(track["landmarks"]).shape == (33, 3) and np.array(track["keypoints"]).shape == (17, 3)
