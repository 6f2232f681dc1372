"""Live intent watching for one camera (no Ray): per-track pose history → evidence events → finished visits.

`CameraLoop` feeds every analysed frame's tracks. About once a second each live track's history
is re-read with `domain.assessment.collect_evidence`; a pickup, concealment cue or bypass seen for
the first time becomes an event (rule `intent`) the loop dispatches at once, so its clip is cut
from the ring buffer while the frames are still there. When a track has not been seen for
`lost_s`, its visit is finished: if anything of interest was seen, a visit record goes to the
event sink, which scores it once the POS has had time to record the checkout
(`IntentSettings.live_settle_s`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import TypeAdapter

from domain.assessment import AssessmentParams, VisitEvidence, collect_evidence, evidence_events
from domain.behaviour import BehaviourEvent
from domain.events import Event, event_id
from domain.site import CameraConfig, ZoneKind
from domain.tracks import Trajectory
from domain.zones import PolygonZone

__all__ = ["LiveIntentWatcher", "visit_record", "visit_to_json", "visit_from_json", "shadow_verdict",
           "pose_windows_record"]

log = logging.getLogger(__name__)

_RELEVANT = (ZoneKind.SHELF, ZoneKind.CHECKOUT, ZoneKind.EXIT)


@dataclass
class _History:
    frames: list[int] = field(default_factory=list)
    t_s: list[float] = field(default_factory=list)
    xyxy: list[npt.NDArray[np.float32]] = field(default_factory=list)
    confidence: list[float] = field(default_factory=list)
    keypoints: list[npt.NDArray[np.float32] | None] = field(default_factory=list)
    seen_keys: set[tuple[str, str | None, int]] = field(default_factory=set)
    event_ids: list[str] = field(default_factory=list)

    def trajectory(self, track_id: int) -> Trajectory:
        n = len(self.frames)
        kp = None
        if any(k is not None for k in self.keypoints):
            kp = np.stack([k if k is not None else np.zeros((17, 3), np.float32) for k in self.keypoints])
        return Trajectory(track_id, np.asarray(self.frames, np.int64), np.asarray(self.t_s, np.float64),
                          np.asarray(self.xyxy, np.float32).reshape(n, 4), np.asarray(self.confidence, np.float32),
                          np.zeros(n, bool), kp)


def visit_record(camera_id: str, evidence: VisitEvidence, *, epoch_t0: float, event_ids: list[str],
                 scope: str | None = None) -> dict[str, Any]:  # fmt: skip
    """What the event sink's `assess` receives for one finished visit.

    Args:
        camera_id: the live camera id.
        evidence: the person's evidence (times in seconds from the camera session's first frame).
        epoch_t0: epoch seconds of the session's first frame (puts evidence times on the POS clock).
        event_ids: the ids of the evidence events already sent to the sink.
        scope: the camera session's event-id scope (`live/{camera_id}/{session_id}`); with the track and
            its first frame it makes the visit's `visit_id` (32 hex characters), which its alert also
            takes, so a visit re-sent after a restart is scored and alerted once.
    """
    key = f"{scope or f'live/{camera_id}'}|visit|{evidence.track_id}|{evidence.frame_start}|{epoch_t0:.3f}"
    return {"camera_id": camera_id, "track_id": evidence.track_id, "evidence": evidence, "epoch_t0": epoch_t0,
            "event_ids": list(event_ids), "visit_id": hashlib.sha1(key.encode()).hexdigest()[:32]}


def _verdicts(events: list[BehaviourEvent]) -> list[dict[str, Any]]:
    return [{"class": e.class_.value, "t_start_s": e.t_start_s, "t_end_s": e.t_end_s, "confidence": round(e.confidence, 4)}
            for e in events]


def shadow_verdict(camera_id: str, track_id: int, t_s: float, *, production: tuple[str | None, list[BehaviourEvent]],
                   staging: tuple[str | None, list[BehaviourEvent]]) -> dict[str, Any]:  # fmt: skip
    """One shadow-mode record: what the production and the staging model made of one person's pose so far.

    Args:
        camera_id / track_id: the person.
        t_s: the track's latest time (seconds from the session's first frame).
        production / staging: `(model version or None, its behaviour events)`.

    Returns:
        JSON-ready `{"camera_id", "track_id", "t_s", "production": {"version", "verdicts"}, "staging": {...}}`,
        each verdict `{class, t_start_s, t_end_s, confidence}`.
    """
    return {"camera_id": camera_id, "track_id": int(track_id), "t_s": round(t_s, 3),
            "production": {"version": production[0], "verdicts": _verdicts(production[1])},
            "staging": {"version": staging[0], "verdicts": _verdicts(staging[1])}}  # fmt: skip


def pose_windows_record(traj: Trajectory, window: int, stride: int) -> dict[str, Any] | None:
    """A track's pose-window features as JSON-ready data (attached to a visit, hence to its alert), `None` without pose.

    Returns:
        `{"window", "stride", "bounds_s": [[first, last] s, …], "features": [[21 floats or None (NaN)], …]}`.
    """
    from domain.pose_features import window_features

    if traj.keypoints is None or len(traj) < window:
        return None
    feats, bounds = window_features(traj.keypoints, traj.t_s, traj.xyxy, window=window, stride=stride)
    if len(feats) == 0:
        return None
    t = np.asarray(traj.t_s, np.float64)
    rounded = np.round(feats.astype(np.float64), 4)
    return {"window": int(window), "stride": int(stride),
            "bounds_s": [[round(float(t[a]), 3), round(float(t[b - 1]), 3)] for a, b in bounds.tolist()],
            "features": [[None if np.isnan(x) else float(x) for x in row] for row in rounded]}  # fmt: skip


_EVIDENCE = TypeAdapter(VisitEvidence)


def visit_to_json(record: dict[str, Any]) -> dict[str, Any]:
    """A `visit_record` as JSON-ready data (the evidence dataclasses become dicts), for storage."""
    return {**record, "evidence": _EVIDENCE.dump_python(record["evidence"], mode="json")}


def visit_from_json(data: dict[str, Any]) -> dict[str, Any]:
    """The `visit_record` that `visit_to_json` stored.

    Raises:
        pydantic.ValidationError: the stored evidence does not fit `VisitEvidence`.
    """
    return {**data, "evidence": _EVIDENCE.validate_python(data["evidence"])}


class LiveIntentWatcher:
    """Per-camera intent state: track histories, evidence events seen so far, finished visits.

    Args:
        camera_id: the camera (put on events).
        scope: event-id scope of the camera session (`live/{camera_id}/{session_id}`), so the ids
            recorded for a visit equal those the loop gives the dispatched events.
        params: assessment thresholds.
        lost_s: seconds without a sighting after which a track's visit is finished.
        every_s: seconds between two evidence passes over the live tracks.
        max_frames: history kept per track (oldest frames dropped); bounds memory for people who
            stay very long.
        classify: a trained behaviour model's events per trajectory
            (`actors.behaviour_replica.classify_with`); `None` = the heuristics alone. Swap it at
            any time (`watcher.classify = …`, e.g. after a promotion): the next pass uses the new one.
        shadow: a second (staging) model run beside `classify` on the same trajectories; its verdicts
            go to `on_shadow` only, never into evidence, events or alerts.
        on_shadow: called with one `shadow_verdict` record per pass and track where either model saw something.
        pose_window: `(window, stride)` frames of the pose windows attached to finished visits
            (`visit["pose_windows"]`, training data once an operator labels the alert); default:
            the classifier's own, and none without a classifier.

    Attributes:
        shadow_verdicts: how many shadow verdicts were reported.
    """

    def __init__(self, camera_id: str, scope: str, params: AssessmentParams, *, lost_s: float = 2.0,
                 every_s: float = 1.0, max_frames: int = 3000,
                 classify: Callable[[Trajectory], list[BehaviourEvent]] | None = None,
                 shadow: Callable[[Trajectory], list[BehaviourEvent]] | None = None,
                 on_shadow: Callable[[dict[str, Any]], Any] | None = None,
                 pose_window: tuple[int, int] | None = None) -> None:  # fmt: skip
        self.camera_id, self.scope, self.params = camera_id, scope, params
        self.lost_s, self.every_s, self.max_frames = lost_s, every_s, max_frames
        self.classify, self.shadow, self.on_shadow, self.pose_window = classify, shadow, on_shadow, pose_window
        self.shadow_verdicts = 0
        self._zones: list[PolygonZone] = []
        self._labels: dict[str, str] = {}
        self._tracks: dict[int, _History] = {}
        self._next_pass_s = 0.0
        self.epoch_t0 = 0.0  # epoch seconds of the session's first frame; the loop sets it at that frame

    @property
    def active(self) -> bool:
        """Whether the camera has zones the assessment uses (shelf, checkout or exit)."""
        return any(z.kind in _RELEVANT for z in self._zones)

    def configure(self, camera: CameraConfig, resolution_wh: tuple[int, int]) -> None:
        """Use `camera`'s zones at this frame size (tracks are kept)."""
        self._zones = [PolygonZone(name, cfg, resolution_wh) for name, cfg in camera.zones.items()]
        self._labels = {name: cfg.friendly_name for name, cfg in camera.zones.items() if cfg.friendly_name}

    def update(
        self, frame_index: int, t_s: float, track_ids: npt.ArrayLike, xyxy: npt.ArrayLike, confidence: npt.ArrayLike,
        keypoints: npt.ArrayLike | None,
    ) -> tuple[list[Event], list[dict[str, Any]]]:
        """Add one analysed frame.

        Args:
            frame_index: the session frame index.
            t_s: seconds from the session's first frame.
            track_ids: `(N,)` track ids. xyxy: `(N, 4)` boxes (px). confidence: `(N,)`.
            keypoints: `(N, 17, 3)` or `None` when the detector gives no pose.

        Returns:
            `(new_events, finished_visits)`: evidence events to dispatch now, and `visit_record`s
            of tracks that ended.
        """
        if not self.active:
            return [], []
        ids = np.asarray(track_ids, dtype=np.int64).reshape(-1)
        boxes = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
        conf = np.asarray(confidence, dtype=np.float32).reshape(-1)
        kp = None if keypoints is None else np.asarray(keypoints, dtype=np.float32).reshape(-1, 17, 3)
        for k, tid in enumerate(ids.tolist()):
            h = self._tracks.setdefault(tid, _History())
            h.frames.append(frame_index)
            h.t_s.append(t_s)
            h.xyxy.append(boxes[k])
            h.confidence.append(float(conf[k]))
            h.keypoints.append(None if kp is None else kp[k])
            if len(h.frames) > self.max_frames:
                for seq in (h.frames, h.t_s, h.xyxy, h.confidence, h.keypoints):
                    del seq[0]
        events: list[Event] = []
        if t_s >= self._next_pass_s:
            self._next_pass_s = t_s + self.every_s
            for tid in ids.tolist():
                events += self._new_events(tid)[0]
        ended = [tid for tid, h in self._tracks.items() if t_s - h.t_s[-1] > self.lost_s]
        finished = []
        for tid in ended:
            new, visit = self._finish(tid)
            events += new
            if visit is not None:
                finished.append(visit)
        return events, finished

    def finish_all(self) -> tuple[list[Event], list[dict[str, Any]]]:
        """End every track (the camera stops): their last evidence events and visits."""
        events, visits = [], []
        for tid in list(self._tracks):
            new, visit = self._finish(tid)
            events += new
            if visit is not None:
                visits.append(visit)
        return events, visits

    def _new_events(self, tid: int) -> tuple[list[Event], VisitEvidence]:
        h = self._tracks[tid]
        traj = h.trajectory(tid)
        classify, shadow = self.classify, self.shadow  # read once: a promotion may swap them meanwhile
        classified = classify(traj) if classify is not None else []
        if shadow is not None:
            self._shadow(traj, classify, classified, shadow)
        evidence = collect_evidence(traj, self._zones, self.params, classified=classified, zone_labels=self._labels)
        new = []
        for e in evidence_events(evidence, traj, camera_id=self.camera_id, clip=True):
            key = (e.type.value, e.zone, e.frame_start)
            if key in h.seen_keys:
                continue
            h.seen_keys.add(key)
            h.event_ids.append(event_id(self.scope, e))
            new.append(e)
        return new, evidence

    def _finish(self, tid: int) -> tuple[list[Event], dict[str, Any] | None]:
        new, evidence = self._new_events(tid)
        h = self._tracks.pop(tid)
        if not evidence.is_of_interest:
            return new, None
        record = visit_record(self.camera_id, evidence, epoch_t0=self.epoch_t0, event_ids=h.event_ids, scope=self.scope)
        classify = self.classify
        record["model_version"] = getattr(classify, "model_version", None)
        window = self.pose_window or ((classify.window, classify.stride) if hasattr(classify, "window") else None)
        if window is not None:
            record["pose_windows"] = pose_windows_record(h.trajectory(tid), *window)
        return new, record

    def _shadow(self, traj: Trajectory, classify: Any, production: list[BehaviourEvent], shadow: Any) -> None:
        """Run the staging model on `traj` and report its verdicts beside production's (never as evidence)."""
        try:
            staged = shadow(traj)
        except Exception as exc:  # noqa: BLE001  (a broken staging model must not stop the camera)
            staged = []
            log.warning("camera %s: shadow model failed: %r", self.camera_id, exc)
        if not staged and not production:
            return
        self.shadow_verdicts += 1
        if self.on_shadow is not None:
            self.on_shadow(shadow_verdict(self.camera_id, traj.track_id, float(traj.t_s[-1]) if len(traj) else 0.0,
                                          production=(getattr(classify, "model_version", None), production),
                                          staging=(getattr(shadow, "model_version", None), staged)))  # fmt: skip
