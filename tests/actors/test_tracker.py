"""The per-video tracker (Ultralytics BoT-SORT) over synthetic detections."""

from __future__ import annotations

import numpy as np
import pytest

from actors.pose_replica import FrameDetections
from actors.tracker import PersonTracker, TrackletBuilder
from cluster.settings import TrackerSettings


def frame(boxes: list[list[float]], conf: float = 0.9) -> FrameDetections:
    n = len(boxes)
    feats = np.zeros((n, 4), np.float32)
    feats[:, 0] = 1.0
    return FrameDetections(
        np.array(boxes, np.float32).reshape(n, 4), np.full(n, conf, np.float32), np.zeros((n, 17, 3), np.float32), feats
    )


def walk(frames: int, *, gap: range = range(0)) -> list[FrameDetections]:
    """Two people walking in opposite directions, both hidden during `gap`."""
    out = []
    for i in range(frames):
        if i in gap:
            out.append(frame([]))
        else:
            out.append(frame([[100 + 5 * i, 200, 140 + 5 * i, 300], [600 - 5 * i, 150, 640 - 5 * i, 250]]))
    return out


@pytest.mark.parametrize(
    ("gap", "buffer_s", "expected_ids"),
    [
        (range(0), 2.0, 2),  # continuous walk: one id each
        (range(20, 25), 2.0, 2),  # hidden 0.5 s, buffer 2 s: re-found with the same ids
        (range(20, 50), 1.0, 4),  # hidden 3 s, buffer 1 s: lost, new ids afterwards
    ],
)
def test_ids_survive_short_gaps_only(gap, buffer_s, expected_ids):
    tracker = PersonTracker(TrackerSettings(track_buffer_s=buffer_s), fps=10)
    builder = TrackletBuilder()
    for i, dets in enumerate(walk(60, gap=gap)):
        track_id, det_index = tracker.update(dets)
        builder.add(i, i / 10, dets, track_id, det_index)
    trajectories = builder.trajectories()
    assert len(trajectories) == expected_ids
    for t in trajectories:
        assert (np.diff(t.frame_index) > 0).all()
        assert np.linalg.norm(t.embedding) == pytest.approx(1.0, abs=1e-5)


def test_empty_frames_and_reset():
    tracker = PersonTracker(TrackerSettings(), fps=10)
    ids, idx = tracker.update(frame([]))
    assert ids.shape == (0,) and idx.shape == (0,)
    for dets in walk(5):
        ids, _ = tracker.update(dets)
    assert sorted(ids.tolist()) == [1, 2]
    tracker.reset()
    for dets in walk(5):
        ids, _ = tracker.update(dets)
    assert sorted(ids.tolist()) == [1, 2]  # ids restart after reset


def test_builder_offsets_ids_and_keeps_measured_boxes():
    tracker = PersonTracker(TrackerSettings(), fps=10)
    builder = TrackletBuilder()
    frames = walk(10)
    for i, dets in enumerate(frames):
        builder.add(i, i / 10, dets, *tracker.update(dets))
    trajectories = builder.trajectories(id_offset=1000)
    assert {t.track_id for t in trajectories} == {1001, 1002}
    first = next(t for t in trajectories if t.xyxy[0, 0] < 300)
    k = int(np.searchsorted(first.frame_index, 5))
    np.testing.assert_allclose(first.xyxy[k], frames[5].xyxy[0])  # the detection, not the Kalman prediction
