"""The live identity stage: two cameras' stages over one real registry core, with the real colour embedder."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from actors.embedder_replica import EmbedderReplica
from actors.identity_registry import IdentityRegistryCore, TrackObservation
from actors.identity_stage import IdentityStage
from domain.site import CameraConfig

W, H = 400, 300
# Both cameras see the same floor: image x, y fractions map to plan metres x * 10, y * 10.
CAL = {"image_points": [[0, 1], [1, 1], [1, 0], [0, 0]], "map_points": [[0, 10], [10, 10], [10, 0], [0, 0]]}


class SharedRegistry:
    """One `IdentityRegistryCore` called from several camera stages (as the registry actor serialises calls)."""

    def __init__(self) -> None:
        self.core = IdentityRegistryCore("shop")
        self.lock = threading.Lock()

    def __call__(self, observations: list[dict]) -> list[dict]:
        with self.lock:
            return [self.core.observe(TrackObservation(**o)).as_dict() for o in observations]


def frame_with(people: list[tuple[float, tuple[int, int, int]]]) -> tuple[np.ndarray, np.ndarray]:
    """A frame with a person-sized rectangle per `(x fraction, BGR colour)`, and their boxes."""
    img = np.full((H, W, 3), 90, np.uint8)
    boxes = []
    for x, colour in people:
        x1 = int(x * W) - 15
        img[120:260, x1:x1 + 30] = colour
        boxes.append([x1, 120, x1 + 30, 260])
    return img, np.array(boxes, np.float32).reshape(-1, 4)


def wait_for(pred, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def embed():
    return EmbedderReplica(kind="color").embed


def test_two_cameras_share_a_global_id_and_keep_two_people_apart(embed) -> None:
    registry = SharedRegistry()
    cam = CameraConfig(calibration=CAL)
    a = IdentityStage("shop.a", cam, session_key="s", embed=embed, observe=registry, min_track_frames=2, refresh_s=0.2)
    b = IdentityStage("shop.b", cam, session_key="s", embed=embed, observe=registry, min_track_frames=2, refresh_s=0.2)
    t0 = 1_000_000.0
    red, blue = (0, 0, 220), (220, 40, 0)
    for i in range(30):
        t = t0 + i * 0.2
        x = 0.3 + 0.01 * i
        # camera a: the red walker and a blue one far away; camera b: the red walker at the same floor point
        img_a, boxes_a = frame_with([(x, red), (0.9, blue)])
        img_b, boxes_b = frame_with([(x, red)])
        ids_a = a.update(img_a, t, np.array([1, 2]), boxes_a, np.array([0.9, 0.9], np.float32))
        ids_b = b.update(img_b, t, np.array([7]), boxes_b, np.array([0.9], np.float32))
        time.sleep(0.03)
    assert ids_a[1].map_xy is not None and abs(ids_a[1].map_xy[0] - 10 * x) < 0.5  # plan metres, smoothed
    wait_for(lambda: a.global_id_of(1) and a.global_id_of(2) and b.global_id_of(7))
    assert b.global_id_of(7) == a.global_id_of(1) != a.global_id_of(2)
    assert a.status()["enabled"] and a.status()["identified"] == 2 and a.status()["calibrated"]
    assert ids_b[7].tracking_duration_s == pytest.approx(5.8) and ids_b[7].detection_time.endswith("Z")
    a.close()
    b.close()


def test_embedder_without_a_model_turns_identity_off_with_the_reason(embed) -> None:
    registry = SharedRegistry()
    stage = IdentityStage("shop.a", CameraConfig(), session_key="s", embed=embed, observe=registry,
                          embedder_status=lambda: {"ok": False, "error": "embedder weights not found: /x.pt"},
                          min_track_frames=1, refresh_s=0.1)
    img, boxes = frame_with([(0.5, (0, 0, 200))])
    out = stage.update(img, 1.0, np.array([3]), boxes, np.array([0.9], np.float32))
    assert out[3].global_id is None and out[3].map_xy is None  # no calibration: no plan position
    wait_for(lambda: stage.status()["error"] is not None)
    assert not stage.status()["enabled"]
    assert "embedder weights not found: /x.pt" in stage.status()["error"]
    stage.update(img, 1.2, np.array([3]), boxes, np.array([0.9], np.float32))  # still answers, no crash
    assert registry.core.stats()["persons"] == 0
    stage.close()
