"""One live camera's processing loop (no Ray): decode → sample → detect → track → rules → clips, health.

Coordinates: the detector sees the frame downscaled to `max_width`; its boxes and keypoints are
scaled back, so tracking, the rules engine, `tracking_update` payloads and events are all in the
camera's ORIGINAL pixels. The ring buffer, clips and `latest_frame` use the frame downscaled to
`clip_max_width`.

Times: `tracking_update["t"]` and health times are epoch seconds (capture time). Event times
(`Event.t_start_s` / `t_end_s`) are seconds from the session's first frame, as for a video; the
payload adds `epoch_start_s` / `epoch_end_s`. Frame indices count every decoded frame of the session
(across reconnects).

Session: each `CameraLoop` instance is one session with a random `session_id` fixed at
construction; event ids are `event_id(f"live/{camera_id}/{session_id}", event)`, so a restarted
actor (a new instance, frame indices from 0 again) never reuses an id.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import supervision as sv

from actors.intent_watch import LiveIntentWatcher
from actors.pose_replica import FrameDetections
from actors.ring_buffer import ClipScheduler, FrameRingBuffer
from actors.sources import Backoff, FrameSource, Reconnector, SourceError, check_source_uri, open_source
from actors.tracker import PersonTracker
from domain.assessment import AssessmentParams
from domain.events import Event, event_id
from domain.geometry import denormalize_polygon
from domain.health import CameraHealth, CameraState, HealthChange, HealthTracker
from domain.privacy import face_boxes, mask_regions
from domain.rules import RulesEngine
from domain.site import CameraConfig

__all__ = ["CameraLoop", "FrameSampler", "DetectFn"]

log = logging.getLogger(__name__)

DetectFn = Callable[[list[npt.NDArray[np.uint8]]], list[FrameDetections]]


class FrameSampler:
    """Decides which frames to keep to hold a target rate, from their capture times.

    A frame is kept when it reaches the next due time (minus 20 % of a period, for timestamp
    jitter); due times advance by one period, so the average rate holds even when the source rate
    is not a multiple of it. After a stall the schedule restarts at the next frame.

    Args:
        fps: target frames per second (`None` or `<= 0`: keep every frame).

    Example:
        >>> s = FrameSampler(5.0)
        >>> [s.due(i / 10) for i in range(6)]
        [True, False, True, False, True, False]
    """

    def __init__(self, fps: float | None) -> None:
        self.period_s = 1.0 / fps if fps and fps > 0 else 0.0
        self._next_s: float | None = None

    def due(self, t_s: float) -> bool:
        """Whether the frame captured at `t_s` (seconds, non-decreasing) is kept."""
        if self.period_s == 0.0:
            return True
        if self._next_s is not None and t_s < self._next_s - 0.2 * self.period_s:
            return False
        late = self._next_s is None or t_s - self._next_s > self.period_s
        self._next_s = (t_s if late else self._next_s) + self.period_s
        return True


def _resize_to_width(bgr: npt.NDArray[np.uint8], max_width: int) -> tuple[npt.NDArray[np.uint8], float]:
    """`bgr` scaled down to at most `max_width` px wide, and the scale used (<= 1)."""
    h, w = bgr.shape[:2]
    if w <= max_width:
        return bgr, 1.0
    scale = max_width / w
    return cv2.resize(bgr, (max_width, max(2, round(h * scale))), interpolation=cv2.INTER_AREA), scale


def _scaled(dets: FrameDetections, factor: float) -> FrameDetections:
    """Boxes and keypoint x, y multiplied by `factor` (a new object)."""
    if factor == 1.0:
        return dets
    keypoints = dets.keypoints.copy()
    keypoints[..., :2] *= factor
    return dataclasses.replace(dets, xyxy=dets.xyxy * np.float32(factor), keypoints=keypoints)


class CameraLoop:
    """A live camera's loop: one source read per `step()`, run on one thread by `run()`.

    `health()`, `latest_frame()` and `reconfigure()` may be called from other threads. Callbacks run
    on the loop's thread; keep them quick (publish, enqueue), they delay the next frame.

    Args:
        camera_id: camera (site-file key).
        camera: its config; `camera.source` is the URI unless `source` is given, `camera.fps`
            overrides `detection_fps`.
        detect: `(frames) -> detections`, one `FrameDetections` per frame in that frame's pixels
            (a Serve handle call wrapped by the actor, or `PoseReplica.predict`).
        tracker_params: a `cluster.settings.TrackerSettings` (or any object with its attributes;
            required, since `actors/` does not import `cluster/`).
        detection_fps: analysed frames per second. Higher follows fast motion more closely but
            costs detector time per camera; 5–10 is what operators need.
        max_width: frames wider than this are downscaled before detection (px). Smaller is faster
            to ship and infer; larger keeps far-away people detectable.
        on_tracking: called with each analysed frame's `tracking_update` payload:
            `{"type": "tracking_update", "camera_id", "session_id", "frame_index", "t"` (epoch s)`, "tracks":
            [{"track_id", "bbox_xyxy", "confidence", "keypoints" ([17][3] or None), "landmarks" ([33][3], `pose: mediapipe` cameras only), "global_id", "map_coords", "tracking_duration", "detection_time"}],
            "person_count", "resolution_wh"` ([w, h] of the frame the boxes are in)`}`.
        on_event: called as `on_event(event_id, event, clip_path)` once per event, after its clip
            (if the rule asks for one) is written; `clip_path` is `None` without a clip.
        on_health: called as `on_health(health, changed)`: `changed=True` on every state change,
            else every `health_interval_s`.
        clip_pre_s: clip seconds before an event's start.
        clip_post_s: clip seconds after its end (the event is reported this much later).
        clips_dir: clips go to `clips_dir/{camera_id}/{event_id}.mp4` (local disk; upload them in
            `on_event`).
        clip_max_width: buffered frames (and clips, `latest_frame`) are downscaled to this width.
        clip_fps: frames per second kept in the ring buffer (analysed frames are always kept).
        clip_crf: x264 quality of clips.
        buffer_s: ring-buffer length (default `clip_pre_s + clip_post_s + 10`). An event longer than
            `buffer_s - pre - post` gets a clip of its last part only.
        buffer_max_bytes: ring-buffer memory bound.
        source: URI to read instead of `camera.source`.
        opener: `(uri) -> FrameSource` (default `open_source`), e.g. to pass timeouts.
        backoff: reconnect delays (default `Backoff()`: 0.5 s doubling to 30 s, ±10 %).
        error_after_failures: failed reconnects in a row before the state turns `error`.
        health_interval_s: period of unchanged-health callbacks.
        lost_track_s: see `RulesEngine`; also when a track's visit is finished for the intent assessment.
        clock: epoch-seconds clock (`time.time`).
        intent: `domain.assessment.AssessmentParams` to watch for pickups, concealment and bypass
            (cameras with shelf / checkout / exit zones); `None` = off.
        on_visit: called with a `actors.intent_watch.visit_record` when a person of interest's
            track ends (after their evidence events were passed to `on_event`).
        classify: a trained behaviour model's events per trajectory (`None` = heuristics only);
            `set_classifier` swaps it while the camera runs.
        shadow: a staging model run in shadow beside `classify` (verdicts to `on_shadow`, never alerts).
        on_shadow: called with each `actors.intent_watch.shadow_verdict` record.
        pose_window: `(window, stride)` of the pose windows attached to visits (default: the classifier's).
        identity: an `actors.identity_stage.IdentityStage` (plan positions and global ids), or `None`.
        on_pending: called as `on_pending(event_id, event, clip_path)` the moment an event that
            waits for its clip's post-roll fires (`clip_path`: where the clip will be written), so
            it can be kept safe (spooled) before `on_event` reports it.
    """

    def __init__(
        self,
        camera_id: str,
        camera: CameraConfig,
        detect: DetectFn,
        *,
        tracker_params: Any,
        detection_fps: float = 5.0,
        max_width: int = 1280,
        on_tracking: Callable[[dict], Any] | None = None,
        on_event: Callable[[str, Event, Path | None], Any] | None = None,
        on_health: Callable[[CameraHealth, bool], Any] | None = None,
        clip_pre_s: float = 3.0,
        clip_post_s: float = 3.0,
        clips_dir: str | Path = "data/clips",
        clip_max_width: int = 960,
        clip_fps: float = 10.0,
        clip_crf: int = 26,
        buffer_s: float | None = None,
        buffer_max_bytes: int = 64 << 20,
        source: str | None = None,
        opener: Callable[[str], FrameSource] = open_source,
        backoff: Backoff | None = None,
        error_after_failures: int = 10,
        health_interval_s: float = 1.0,
        lost_track_s: float = 2.0,
        clock: Callable[[], float] = time.time,
        intent: AssessmentParams | None = None,
        on_visit: Callable[[dict], Any] | None = None,
        classify: Callable[[Any], list] | None = None,
        shadow: Callable[[Any], list] | None = None,
        on_shadow: Callable[[dict], Any] | None = None,
        pose_window: tuple[int, int] | None = None,
        identity: Any = None,
        on_pending: Callable[[str, Event, Path], Any] | None = None,
    ) -> None:
        self.camera_id, self.camera = camera_id, camera
        self._on_pending = on_pending
        self.session_id = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"
        self._detect = detect
        self._detection_fps, self._max_width = detection_fps, max_width
        self._on_tracking, self._on_event, self._on_health = on_tracking, on_event, on_health
        self._clip_max_width, self._lost_track_s, self._clock = clip_max_width, lost_track_s, clock
        self._health_interval_s = health_interval_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pending_camera: CameraConfig | None = None
        self._health = HealthTracker(camera_id, error_after_failures=error_after_failures)
        self._sampler = FrameSampler(camera.fps or detection_fps)
        self._clip_sampler = FrameSampler(clip_fps)
        self._buffer = FrameRingBuffer(
            max_s=buffer_s or clip_pre_s + clip_post_s + 10.0, max_bytes=buffer_max_bytes
        )
        self._clips = ClipScheduler(
            self._buffer, Path(clips_dir) / camera_id, pre_s=clip_pre_s, post_s=clip_post_s, crf=clip_crf
        )
        self._tracker = PersonTracker(tracker_params, fps=camera.fps or detection_fps)  # built now: no first-frame stall
        self._on_visit = on_visit
        self._identity = identity  # identity stage (actors.identity_stage), optional
        self._intent = None if intent is None or on_visit is None else LiveIntentWatcher(
            camera_id, f"live/{camera_id}/{self.session_id}", intent, lost_s=lost_track_s, classify=classify,
            shadow=shadow, on_shadow=on_shadow, pose_window=pose_window)
        self._engine: RulesEngine | None = None
        self._mediapipe: Any = None  # actors.mediapipe_pose.MediaPipePose, for `pose: mediapipe`
        self._frame_index = 0
        self._t0: float | None = None  # epoch seconds of the session's first frame
        self._last_t = 0.0
        self._latest: tuple[Any, ...] | None = None  # (view, scale, track_id, xyxy, faces | None)
        self._next_health_s = 0.0
        self._closed = False
        self._broken = False
        uri = source or camera.source
        self._reader: Reconnector | None = None
        try:
            if uri is None:
                raise ValueError(f"camera '{camera_id}' has no source")
            check_source_uri(uri)
            self._reader = Reconnector(lambda: opener(uri), backoff=backoff, sleep=lambda s: self._stop.wait(s))
        except ValueError as exc:
            self._broken = True
            self._report(self._health.source_broken(clock(), str(exc)))

    # ------------------------------------------------------------------------------ public API
    def step(self) -> bool:
        """Process one source read (a frame, a failure, or a backoff wait).

        Returns:
            `False` once the loop is stopped (or a non-looping file ended), else `True`.
        """
        if self._closed or self._stop.is_set():
            return False
        if self._reader is None:  # permanently broken: nothing to read, just report health
            self._stop.wait(self._health_interval_s)
            self._housekeep(self._clock())
            return not self._stop.is_set()
        try:
            item = self._reader.read()
        except SourceError as exc:
            log.warning("camera %s: %s", self.camera_id, exc)
            self._report(self._health.source_lost(self._clock(), str(exc)))
            self._housekeep(self._clock())
            return not self._stop.is_set()
        if item is None:
            if self._stop.is_set():
                return False
            self.close()  # a non-looping file ended
            return False
        self._process(item[0], item[1])
        self._housekeep(self._clock())
        return True

    def run(self, stop_event: threading.Event | None = None) -> None:
        """Step until `stop_event` (or `stop()`) is set, then `close()`."""
        if stop_event is not None:
            self._stop = stop_event
        try:
            while self.step():
                pass
        finally:
            self.close()

    def stop(self) -> None:
        """Ask `run()` to finish (returns at once)."""
        self._stop.set()

    def close(self) -> None:
        """Release the source, close open rule episodes, write pending clips, report `stopped` (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._reader is not None:
            self._reader.close()
        if self._engine is not None:
            for event in self._engine.finish(max(0, self._frame_index - 1), self._last_t):
                self._dispatch(event)
        if self._intent is not None:
            self._watch(*self._intent.finish_all())
        self._deliver(self._clips.close())
        if self._identity is not None:
            self._identity.close()
        self._report(self._health.stopped(self._clock()))

    def set_classifier(self, classify: Callable[[Any], list] | None, *, shadow: bool = False) -> None:
        """Use another behaviour model from the next evidence pass on (a promotion): tracks, session and
        frames go on untouched. `shadow=True` sets the staging model run in shadow instead."""
        if self._intent is not None:
            if shadow:
                self._intent.shadow = classify
            else:
                self._intent.classify = classify

    def classifier_versions(self) -> dict[str, str | None]:
        """`{"production": version, "shadow": version}` of the models in use (`None`: none)."""
        w = self._intent
        return {"production": getattr(getattr(w, "classify", None), "model_version", None),
                "shadow": getattr(getattr(w, "shadow", None), "model_version", None)}

    def reconfigure(self, camera: CameraConfig) -> None:
        """Swap zones, lines, rules and the fps override at the next frame (tracks are kept).

        Open rule episodes of the old config are dropped without events.
        """
        with self._lock:
            self._pending_camera = camera

    def current_config(self) -> CameraConfig:
        """The config in effect (a pending `reconfigure` included)."""
        with self._lock:
            return self._pending_camera or self.camera

    def health(self) -> CameraHealth:
        """The current health snapshot."""
        return self._health.snapshot(self._clock())

    def latest_frame(self, overlay: bool = False, *, jpeg_quality: int = 80, mask_faces: bool = True) -> bytes:
        """The newest decoded frame as JPEG (at `clip_max_width`), `b""` before the first frame.

        Args:
            overlay: draw the last analysed tracks (green, with ids) and the zones (yellow).
            jpeg_quality: 1–100.
            mask_faces: mask the faces of the last analysed people (`domain.privacy`); until a
                first frame was analysed there is nothing to mask by, so `b""` is returned.
        """
        latest = self._latest
        if latest is None or (mask_faces and latest[4] is None):
            return b""
        bgr, scale, track_id, xyxy, faces = latest
        if mask_faces:
            bgr = mask_regions(bgr, faces * scale)
        if overlay:
            bgr = bgr.copy()
            h, w = bgr.shape[:2]
            for name, zone in self.camera.zones.items():
                pts = denormalize_polygon(zone.polygon, (w, h)).astype(np.int32)
                cv2.polylines(bgr, [pts], True, (0, 220, 255), 2)
                cv2.putText(bgr, zone.friendly_name or name, tuple(pts[0]), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 220, 255), 1)
            for tid, box in zip(track_id.tolist(), (xyxy * scale).astype(int).tolist()):
                cv2.rectangle(bgr, tuple(box[:2]), tuple(box[2:]), (0, 200, 0), 2)
                cv2.putText(bgr, f"#{tid}", (box[0], max(12, box[1] - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 200, 0), 1)
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
        return buf.tobytes() if ok else b""

    # ------------------------------------------------------------------------------ internals
    def _process(self, frame: npt.NDArray[np.uint8], captured_s: float) -> None:
        self._report(self._health.frame_decoded(self._clock()))
        index = self._frame_index
        self._frame_index += 1
        if self._t0 is None:
            self._t0 = captured_s
        self._last_t = max(self._last_t, captured_s - self._t0)
        h, w = frame.shape[:2]
        self._apply_pending_config((w, h))
        view, view_scale = _resize_to_width(frame, self._clip_max_width)
        analyse = self._sampler.due(captured_s)
        entry = self._buffer.push(index, captured_s, view) if analyse or self._clip_sampler.due(captured_s) else None
        if not analyse:
            self._health.frame_dropped()
            held = self._latest
            no_tracks = (np.zeros(0, np.int64), np.zeros((0, 4), np.float32), None)
            self._latest = (view, view_scale, *(no_tracks if held is None else held[2:]))
            return
        small, scale = (view, view_scale) if self._max_width == self._clip_max_width else _resize_to_width(frame, self._max_width)
        try:
            dets = _scaled(self._detect([small])[0], 1.0 / scale)
        except Exception as exc:  # noqa: BLE001  (a remote detector can fail in many ways; the camera must go on)
            log.warning("camera %s: detector failed: %r", self.camera_id, exc)
            self._health.frame_dropped()
            return
        if self.camera.pose == "mediapipe":  # 33 landmarks per person box, mapped to COCO-17 (actors.mediapipe_pose)
            dets = self._mediapipe_pose().refine(frame, dets)
        track_id, det_index = self._tracker.update(dets)
        tracked = sv.Detections(
            xyxy=dets.xyxy[det_index].astype(np.float32).reshape(-1, 4),
            confidence=dets.confidence[det_index],
            tracker_id=track_id,
            data={"keypoints": dets.keypoints[det_index]} if dets.keypoints.shape[0] == len(dets.xyxy) else {},
        )
        events = self._engine.update(tracked, index, captured_s - self._t0)
        self._health.frame_analysed(self._clock(), captured_s)
        has_kp = dets.keypoints.shape[0] == len(dets.xyxy)
        faces = face_boxes(dets.keypoints[det_index] if has_kp else None, tracked.xyxy)  # original pixels
        self._latest = (view, view_scale, track_id, tracked.xyxy, faces)
        if entry is not None:
            FrameRingBuffer.annotate(entry, track_id, tracked.xyxy * view_scale)
            entry.faces = faces * view_scale  # the clip's face-masked copy (`write_clip`)
        # ---- identity stage: plan positions and global ids (one call; see actors/identity_stage.py)
        people = {} if self._identity is None else self._identity.update(
            frame, captured_s, track_id, tracked.xyxy, tracked.confidence)
        for event in events:  # before the tracking update: a frame seen by subscribers has its events kept
            self._dispatch(event)
        if self._on_tracking is not None:
            payload = self._tracking_payload(index, captured_s, dets, track_id, det_index, (w, h))
            for track in payload["tracks"]:
                who = people.get(track["track_id"])
                if who is not None:
                    track.update(global_id=who.global_id, map_coords=list(who.map_xy) if who.map_xy else None,
                                 tracking_duration=who.tracking_duration_s, detection_time=who.detection_time)
            self._on_tracking(payload)
        if self._intent is not None:
            has_kp = dets.keypoints.shape[0] == len(dets.xyxy) and len(det_index) > 0
            self._intent.epoch_t0 = self._t0
            self._watch(*self._intent.update(index, captured_s - self._t0, track_id, tracked.xyxy, tracked.confidence,
                                             dets.keypoints[det_index] if has_kp else None))

    def _mediapipe_pose(self) -> Any:
        """The camera's MediaPipe pose refiner, loaded on the first frame that needs it."""
        if self._mediapipe is None:
            from actors.mediapipe_pose import MediaPipePose

            self._mediapipe = MediaPipePose()
        return self._mediapipe

    def _watch(self, events: list[Event], visits: list[dict]) -> None:
        """Dispatch new evidence events, then hand finished visits on (their events are queued first)."""
        for event in events:
            self._dispatch(event)
        for visit in visits:
            try:
                self._on_visit(visit)
            except Exception as exc:  # noqa: BLE001  (a lost visit must not stop the camera)
                log.warning("camera %s: visit of track %s not delivered: %r", self.camera_id, visit["track_id"], exc)

    def _apply_pending_config(self, resolution_wh: tuple[int, int]) -> None:
        with self._lock:
            camera, self._pending_camera = self._pending_camera, None
        if camera is not None:
            self.camera = camera
            self._sampler = FrameSampler(camera.fps or self._detection_fps)
            if self._identity is not None:
                self._identity.reconfigure(camera)
            self._engine = None
        if self._engine is None or self._engine.resolution_wh != resolution_wh:
            self._engine = RulesEngine(self.camera_id, self.camera, resolution_wh, lost_track_s=self._lost_track_s)
            if self._intent is not None:
                self._intent.configure(self.camera, resolution_wh)

    def _tracking_payload(self, index: int, captured_s: float, dets: FrameDetections, track_id: npt.NDArray[np.int64],
                          det_index: npt.NDArray[np.int64], resolution_wh: tuple[int, int]) -> dict:
        has_kp = dets.keypoints.shape[0] > 0 and bool(dets.keypoints[..., 2].any())
        tracks = [
            {
                "track_id": int(tid),
                "bbox_xyxy": [round(float(v), 1) for v in dets.xyxy[k]],
                "confidence": round(float(dets.confidence[k]), 4),
                "keypoints": np.round(dets.keypoints[k], 1).tolist() if has_kp else None,
                **({"landmarks": np.round(dets.landmarks[k], 1).tolist()} if dets.landmarks is not None else {}),
                "global_id": None,
            }
            for tid, k in zip(track_id.tolist(), det_index.tolist())
        ]
        return {
            "type": "tracking_update",
            "camera_id": self.camera_id,
            "session_id": self.session_id,
            "frame_index": index,
            "t": captured_s,
            "tracks": tracks,
            "person_count": len(tracks),
            "resolution_wh": [int(resolution_wh[0]), int(resolution_wh[1])],
        }

    def _dispatch(self, event: Event) -> None:
        eid = event_id(f"live/{self.camera_id}/{self.session_id}", event)
        start, end = self._t0 + event.t_start_s, self._t0 + event.t_end_s
        event = dataclasses.replace(event, payload={**event.payload, "epoch_start_s": start, "epoch_end_s": end},
                                    global_id=self._identity.global_id_of(event.track_id) if self._identity else None)
        if event.clip:
            if self._on_pending is not None:
                self._on_pending(eid, event, self._clips.path_for(eid))
            self._clips.schedule(eid, start, end, event, event.track_id)
        elif self._on_event is not None:
            self._on_event(eid, event, None)

    def _deliver(self, done: list[tuple[str, object, Path | None]]) -> None:
        if self._on_event is not None:
            for eid, event, path in done:
                self._on_event(eid, event, path)

    def _housekeep(self, now_s: float) -> None:
        self._deliver(self._clips.poll(now_s))
        if self._on_health is not None and now_s >= self._next_health_s:
            self._next_health_s = now_s + self._health_interval_s
            self._on_health(self._health.snapshot(now_s), False)

    def _report(self, change: HealthChange | None) -> None:
        if change is None:
            return
        log.info("camera %s: %s -> %s %s", self.camera_id, change.previous.value, change.state.value, change.error or "")
        if self._on_health is not None:
            self._on_health(self._health.snapshot(change.at_s), True)

    @property
    def state(self) -> CameraState:
        """The current state."""
        return self._health.state
