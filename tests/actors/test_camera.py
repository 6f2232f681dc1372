"""The live-camera loop end to end: file and RTSP sources, detection, tracking, rules, clips, health.

Most tests use `fixed_box_detector` (test data: a plain function returning fixed boxes, cheap on
CPU); one runs the real PoseReplica, one runs the Ray actor shell on a local Ray.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from actors.camera import CameraLoop, FrameSampler
from actors.pose_replica import FrameDetections
from actors.ring_buffer import ClipScheduler, FrameRingBuffer
from actors.sources import Backoff, open_source
from cluster.settings import TrackerSettings
from domain.health import CameraState
from domain.site import CameraConfig

FULL_FRAME = [[0, 0], [1, 0], [1, 1], [0, 1]]


def camera_config(source: str | None, *, rules: bool = True, **extra) -> CameraConfig:
    """A camera with one whole-frame zone and (optionally) a zone_enter rule with a clip."""
    return CameraConfig.model_validate({
        "source": source,
        "zones": {"floor": {"polygon": FULL_FRAME}},
        "rules": {"enter": {"type": "zone_enter", "zone": "floor"}} if rules else {},
        **extra,
    })  # fmt: skip


def fixed_box_detector(boxes_norm: list[list[float]], calls: list | None = None, *, empty_calls: int = 0) -> Callable:
    """Test data: a detector that finds one person per box, given as fractions of the frame it sees,
    after returning nothing for its first `empty_calls` frames."""

    def detect(frames: list[np.ndarray]) -> list[FrameDetections]:
        out = []
        for frame in frames:
            h, w = frame.shape[:2]
            boxes = boxes_norm if calls is None or len(calls) >= empty_calls else []
            xyxy = np.array(boxes, np.float32).reshape(-1, 4) * np.array([w, h, w, h], np.float32)
            n = len(xyxy)
            keypoints = np.zeros((n, 17, 3), np.float32)
            keypoints[:, :, 0], keypoints[:, :, 1], keypoints[:, :, 2] = xyxy[:, :1], xyxy[:, 1:2], 1.0
            out.append(FrameDetections(xyxy, np.full(n, 0.9, np.float32), keypoints, np.zeros((n, 0), np.float32)))
            if calls is not None:
                calls.append(frame.shape)
        return out

    return detect


class Recorder:
    """Collects the loop's callbacks (thread-safe enough for appends)."""

    def __init__(self) -> None:
        self.tracking: list[dict] = []
        self.events: list[tuple] = []
        self.health: list[tuple] = []

    def kwargs(self) -> dict:
        return dict(
            tracker_params=TrackerSettings(),
            on_tracking=self.tracking.append,
            on_event=lambda *a: self.events.append(a),
            on_health=lambda h, changed: self.health.append((h, changed)),
        )

    def states(self) -> list[str]:
        return [h.state.value for h, changed in self.health if changed]


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}", pytrace=False)


def run_in_thread(loop: CameraLoop) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(stop,), daemon=True)
    thread.start()
    return thread, stop


def mp4_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


# ------------------------------------------------------------------------------ units
@pytest.mark.parametrize(
    ("fps", "times", "kept"),
    [
        (5.0, [], []),  # empty input
        (5.0, [i / 10 for i in range(10)], [0.0, 0.2, 0.4, 0.6, 0.8]),  # 10 -> 5 fps
        (4.0, [i / 10 for i in range(10)], [0.0, 0.2, 0.5, 0.7]),  # non-multiple: the average rate holds
        (5.0, [0.0, 0.199, 0.41, 0.6], [0.0, 0.199, 0.41, 0.6]),  # timestamp jitter is tolerated
        (2.0, [0.0, 0.1, 5.0, 5.1, 5.5], [0.0, 5.0, 5.5]),  # a stall restarts the schedule
        (None, [0.0, 0.01, 0.02], [0.0, 0.01, 0.02]),  # no target: every frame
    ],
)
def test_frame_sampler(fps, times, kept):
    sampler = FrameSampler(fps)
    assert [t for t in times if sampler.due(t)] == kept


def test_ring_buffer_bounds_window_and_clip(tmp_path):
    frame = np.random.default_rng(0).integers(0, 255, (96, 128, 3), np.uint8)
    buffer = FrameRingBuffer(max_s=1.0)
    for i in range(30):
        buffer.push(i, 100 + i / 10, frame)
    assert [f.frame_index for f in buffer.window(0, 1e12)] == list(range(19, 30))  # 1 s at 10 fps: 11 frames
    assert [f.frame_index for f in buffer.window(102.3, 102.55)] == [23, 24, 25]
    one = len(buffer.window(0, 1e12)[0].jpeg)
    small = FrameRingBuffer(max_s=100, max_bytes=3 * one + one // 2)
    for i in range(10):
        small.push(i, i, frame)
    assert len(small) == 3 and small.nbytes <= 3 * one + one // 2  # the byte bound holds
    assert FrameRingBuffer(max_s=1).window(0, 1) == []  # empty buffer

    clips = ClipScheduler(buffer, tmp_path, pre_s=0.2, post_s=0.2)
    clips.schedule("e1", 102.5, 102.6, "payload", highlight_track=1)  # needs frames up to 102.8
    assert clips.poll(now_s=102.9) == [] and len(clips) == 1  # post-roll not buffered yet
    for i in range(30, 32):
        buffer.push(i, 100 + i / 10, frame)
    done = []
    wait_for(lambda: done.extend(clips.poll(now_s=103.0)) or done, 10, "the clip")
    assert done == [("e1", "payload", tmp_path / "e1.mp4")]
    assert mp4_frames(tmp_path / "e1.mp4") == 6  # 102.3 .. 102.8 at 10 fps
    clips.schedule("e2", 50.0, 50.0, "gone")  # frames long dropped from the buffer
    assert clips.close() == [("e2", "gone", None)]


# ------------------------------------------------------------------------------ file source
def test_file_camera_tracks_fires_events_and_writes_clips(vtest_path, tmp_path):
    rec, calls = Recorder(), []
    loop = CameraLoop(
        "cam1", camera_config(str(vtest_path)), fixed_box_detector([[0.25, 0.25, 0.5, 0.75]], calls, empty_calls=5),
        detection_fps=5, max_width=384, clip_pre_s=0.5, clip_post_s=0.5, clips_dir=tmp_path, **rec.kwargs(),
    )  # fmt: skip
    thread, stop = run_in_thread(loop)
    wait_for(lambda: rec.events, 15, "an event with its clip")
    wait_for(lambda: len(rec.tracking) >= 10, 10, "10 analysed frames")
    health = loop.health()
    jpeg = loop.latest_frame(overlay=True)
    stop.set()
    thread.join(10)
    assert not thread.is_alive()

    assert calls[0] == (288, 384, 3)  # the detector sees the downscaled frame
    update = rec.tracking[-1]
    assert update["camera_id"] == "cam1" and update["person_count"] == 1 and update["type"] == "tracking_update"
    assert update["resolution_wh"] == [768, 576]  # the frame the boxes are in, not the downscaled one
    track = update["tracks"][0]
    assert track["bbox_xyxy"] == pytest.approx([192, 144, 384, 432], abs=0.5)  # back in 768×576 pixels
    assert track["global_id"] is None and len(track["keypoints"]) == 17
    assert abs(update["t"] - time.time()) < 30
    frames = [u["frame_index"] for u in rec.tracking]
    assert frames == sorted(frames) and np.median(np.diff(frames)) == 2  # 10 -> 5 fps

    eid, event, clip = rec.events[0]
    assert event.rule == "enter" and event.camera_id == "cam1" and event.track_id == track["track_id"]
    assert event.payload["epoch_start_s"] > 1e9 and 0.9 <= event.t_start_s < 3  # the person shows up at ~1 s
    assert len(eid) == 36 and len({e[0] for e in rec.events}) == len(rec.events)
    assert clip == tmp_path / "cam1" / f"{eid}.mp4" and clip.is_file()
    assert 8 <= mp4_frames(clip) <= 12  # ~1 s (0.5 s pre + 0.5 s post) of 10 fps video

    assert health.state is CameraState.STREAMING and health.dropped_frames > 0
    assert 2.5 <= health.fps_out <= 6 and 6 <= health.fps_in <= 11.5  # loose: shared CI cores
    assert health.lag_s is not None and health.lag_s < 1
    assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (576, 768, 3)
    assert rec.states() == ["streaming", "stopped"]
    assert any(not changed for _, changed in rec.health)  # periodic reports too


def test_reconfigure_swaps_rules_and_keeps_tracks(vtest_path, tmp_path):
    rec = Recorder()
    cam = camera_config(str(vtest_path), rules=False)
    loop = CameraLoop("cam2", cam, fixed_box_detector([[0.1, 0.1, 0.3, 0.6]]), detection_fps=5,
                      clips_dir=tmp_path, **rec.kwargs())
    thread, stop = run_in_thread(loop)
    wait_for(lambda: len(rec.tracking) >= 3, 10, "3 analysed frames")
    assert rec.events == []
    first_id = rec.tracking[-1]["tracks"][0]["track_id"]
    # add a zone_enter rule and a 2 fps override (the latest reconfigure wins)
    loop.reconfigure(camera_config(str(vtest_path), fps=2.0))
    wait_for(lambda: rec.events, 15, "an event from the new rule")
    n = len(rec.tracking)
    wait_for(lambda: len(rec.tracking) >= n + 3, 10, "more analysed frames")
    stop.set()
    thread.join(10)
    assert rec.events[0][1].track_id == first_id  # the tracker survived the swap
    assert rec.tracking[-1]["tracks"][0]["track_id"] == first_id
    gaps = np.diff([u["t"] for u in rec.tracking[-3:]])
    assert (gaps > 0.35).all()  # the fps override (2 fps) took effect


def test_unsupported_scheme_is_an_error_state(tmp_path):
    rec = Recorder()
    loop = CameraLoop("cam3", camera_config("ftp://cam/x"), fixed_box_detector([]), clips_dir=tmp_path,
                      health_interval_s=0.05, **rec.kwargs())
    health = loop.health()
    assert health.state is CameraState.ERROR
    assert health.error.startswith("unsupported camera source scheme 'ftp' in 'ftp://cam/x'")
    assert loop.step() is True and loop.latest_frame() == b""
    loop.stop()
    assert loop.step() is False
    loop.close()
    assert rec.states() == ["error", "stopped"]


def test_real_pose_replica_on_a_file_camera(vtest_path, tmp_path, model_export_dir):
    from actors.pose_replica import PoseReplica

    # imgsz 960: at 640 yolo11n-pose finds at most 2 of vtest.avi's small walkers, at conf <= 0.5
    replica = PoseReplica(imgsz=960, torch_threads=1, export_dir=model_export_dir)
    rec = Recorder()
    loop = CameraLoop("cam4", camera_config(str(vtest_path)), replica.predict, detection_fps=2,
                      clip_pre_s=0.5, clip_post_s=0.5, clips_dir=tmp_path, **rec.kwargs())
    thread, stop = run_in_thread(loop)
    wait_for(lambda: len(rec.tracking) >= 4, 60, "4 frames analysed by the real model")
    stop.set()
    thread.join(30)
    counts = [u["person_count"] for u in rec.tracking]
    assert max(counts) >= 2  # vtest.avi's first seconds show several walkers
    boxes = np.array([t["bbox_xyxy"] for u in rec.tracking for t in u["tracks"]])
    assert boxes[:, [0, 2]].max() <= 768 + 1 and boxes[:, [1, 3]].max() <= 576 + 1
    keypoints = np.array([t["keypoints"] for u in rec.tracking for t in u["tracks"]])
    assert keypoints.shape[1:] == (17, 3) and keypoints[..., 2].max() > 0.5
    assert rec.events and all(e[1].rule == "enter" for e in rec.events)


# ------------------------------------------------------------------------------ RTSP
def test_rtsp_drop_and_return(rtsp_server, tmp_path):
    rec = Recorder()
    loop = CameraLoop(
        "cam5", camera_config(rtsp_server.url, rules=False), fixed_box_detector([[0.4, 0.3, 0.6, 0.9]]),
        detection_fps=2, clips_dir=tmp_path, health_interval_s=0.2,
        opener=lambda uri: open_source(uri, open_timeout_ms=3000, read_timeout_ms=2000),
        backoff=Backoff(initial_s=0.2, max_s=1.0, jitter=0.0), **rec.kwargs(),
    )  # fmt: skip
    thread, stop = run_in_thread(loop)
    try:
        wait_for(lambda: loop.state is CameraState.STREAMING and len(rec.tracking) >= 2, 20, "streaming")
        rtsp_server.stop()
        wait_for(lambda: loop.state is CameraState.RECONNECTING, 15, "reconnecting after the server stopped")
        assert loop.health().reconnects >= 1
        time.sleep(1.0)  # a few failed reopen attempts while the server is down
        assert loop.state is CameraState.RECONNECTING
        rtsp_server.start()
        n = len(rec.tracking)
        wait_for(lambda: loop.state is CameraState.STREAMING and len(rec.tracking) > n, 20, "streaming again")
        health = loop.health()
    finally:
        stop.set()
        thread.join(15)
    assert health.reconnects == 1 and health.error is None
    assert rec.states() == ["streaming", "reconnecting", "streaming", "stopped"]
    frames = [u["frame_index"] for u in rec.tracking]
    assert frames == sorted(set(frames))  # frame indices run on across the reconnect
    assert rec.tracking[-1]["tracks"][0]["bbox_xyxy"] == pytest.approx([256, 144, 384, 432], abs=0.5)


# ------------------------------------------------------------------------------ Ray actor
@pytest.fixture(scope="module")
def local_ray():
    """A small local Ray instance for this module (shut down at the end)."""
    import ray

    from cluster.settings import Settings

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": Settings().runtime_env_vars()})
    yield ray
    ray.shutdown()


def test_camera_actor_streams_reports_and_stops(local_ray, vtest_path, tmp_path, model_export_dir):
    ray = local_ray
    from actors.camera_actor import CameraActor

    @ray.remote(num_cpus=1)
    class Detector:
        """A detector actor around the real replica (as the Serve deployment will be)."""

        def __init__(self, export_dir: str) -> None:
            from actors.pose_replica import PoseReplica

            self.replica = PoseReplica(imgsz=640, torch_threads=1, export_dir=export_dir)

        def predict(self, frames):
            return self.replica.predict(frames)

    @ray.remote(num_cpus=0)
    class Collector:
        def __init__(self) -> None:
            self.items: list = []

        def add(self, kind, payload) -> None:
            self.items.append((kind, payload))

        def get(self) -> list:
            return self.items

    detector, collector = Detector.remote(str(model_export_dir)), Collector.remote()
    camera = camera_config(str(vtest_path)).model_dump()
    actor = CameraActor.remote(
        "cam6", camera, detector, autostart=False, detection_fps=2, tracker_params=TrackerSettings(), clips_dir=str(tmp_path),
        publisher=lambda kind, payload: collector.add.remote(kind, payload),
    )  # fmt: skip
    assert ray.get(actor.status.remote())["state"] == "starting"
    assert ray.get(actor.start.remote()) is True

    def streaming() -> bool:
        status = ray.get(actor.status.remote())
        return status["state"] == "streaming" and status["fps_out"] > 0

    wait_for(streaming, 90, "the actor to stream with fps_out > 0")
    ray.get(actor.reconfigure.remote(camera_config(str(vtest_path), rules=False).model_dump()))
    jpeg = ray.get(actor.latest_frame.remote(True))
    assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (576, 768, 3)
    final = ray.get(actor.stop.remote(), timeout=60)
    assert final["state"] == "stopped" and final["running"] is False
    assert final["session_id"] and final["fps_in"] > 0
    items = ray.get(collector.get.remote())
    kinds = {kind for kind, _ in items}
    assert kinds == {"tracking_update", "camera_health"}
    health = [p for k, p in items if k == "camera_health" and p["changed"]]
    assert [p["state"] for p in health] == ["streaming", "stopped"]
