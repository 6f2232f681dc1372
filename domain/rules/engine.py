"""The rules engine: one camera's configured rules evaluated over tracked detections (and their poses)."""

from __future__ import annotations

import numpy as np
import supervision as sv

from domain.events import Event
from domain.geometry import foot_points
from domain.rules.base import FrameView, RuleEvaluator
from domain.rules.fall import FallEvaluator
from domain.rules.fighting import FightingEvaluator
from domain.rules.line_cross import LineCrossEvaluator
from domain.rules.occupancy import OccupancyEvaluator
from domain.rules.sequence import ZoneSequenceEvaluator
from domain.rules.zone_events import DwellEvaluator, ZoneTransitionEvaluator
from domain.site import (
    CameraConfig,
    DwellRuleConfig,
    FallRuleConfig,
    FightingRuleConfig,
    LineCrossRuleConfig,
    OccupancyRuleConfig,
    RuleBase,
    ZoneEnterRuleConfig,
    ZoneExitRuleConfig,
    ZoneSequenceRuleConfig,
)
from domain.zones import LineZone, PolygonZone

__all__ = ["RulesEngine"]


class RulesEngine:
    """Evaluates one camera's enabled rules frame by frame; a plain class with `reset()`.

    Each detection's anchor is its foot point (bottom centre of the box). Each rule sees only
    detections with `confidence >= min_confidence` and keeps its own per-track zone
    membership (with the zone's `inertia_frames`), so rules with different thresholds do not
    disturb each other.

    Args:
        camera_id: camera id (site-file key), copied onto every event.
        camera: the camera's config.
        resolution_wh: frame size `(width, height)` in pixels of the boxes fed to `update`.
        lost_track_s: seconds a track may go unobserved before it is dropped (a drop inside a
            zone ends the visit at its last observation). Raising it bridges longer occlusions
            but keeps departed people "inside" longer.

    Raises:
        ValueError: if `resolution_wh` is not positive.

    Example:
        >>> from domain.site import parse_site_yaml
        >>> cam = parse_site_yaml('''
        ... cameras:
        ...   c: {zones: {z: {polygon: [[0, 0], [1, 0], [1, 1]]}},
        ...       rules: {r: {type: zone_enter, zone: z}}}''').cameras["c"]
        >>> engine = RulesEngine("c", cam, (100, 100))
        >>> dets = sv.Detections(xyxy=np.array([[60., 10., 80., 30.]]), tracker_id=np.array([1]))
        >>> [e.type.value for e in engine.update(dets, frame_index=0, t_s=0.0)]
        ['zone_enter']
    """

    def __init__(self, camera_id: str, camera: CameraConfig, resolution_wh: tuple[int, int],
                 *, lost_track_s: float = 2.0) -> None:
        self.camera_id = camera_id
        self.camera = camera
        self.resolution_wh = resolution_wh
        self.zones = {name: PolygonZone(name, cfg, resolution_wh) for name, cfg in camera.zones.items()}
        self.evaluators: list[RuleEvaluator] = [
            self._build(name, rule, lost_track_s) for name, rule in camera.rules.items() if rule.enabled
        ]

    def _build(self, name: str, rule: RuleBase, lost_track_s: float) -> RuleEvaluator:
        inertia = {z: zone.inertia_frames for z, zone in self.zones.items()}
        args = (name, rule, self.camera_id)
        if isinstance(rule, (ZoneEnterRuleConfig, ZoneExitRuleConfig)):
            return ZoneTransitionEvaluator(*args, inertia[rule.zone], lost_track_s)
        if isinstance(rule, DwellRuleConfig):
            return DwellEvaluator(*args, inertia[rule.zone], lost_track_s)
        if isinstance(rule, OccupancyRuleConfig):
            return OccupancyEvaluator(*args, inertia[rule.zone], lost_track_s)
        if isinstance(rule, ZoneSequenceRuleConfig):
            return ZoneSequenceEvaluator(*args, inertia, lost_track_s)
        if isinstance(rule, LineCrossRuleConfig):
            line = LineZone(rule.line, self.camera.lines[rule.line], self.resolution_wh)
            return LineCrossEvaluator(*args, line, lost_track_s)
        if isinstance(rule, FallRuleConfig):
            return FallEvaluator(*args, lost_track_s)
        if isinstance(rule, FightingRuleConfig):
            return FightingEvaluator(*args, lost_track_s)
        raise TypeError(f"unsupported rule type {type(rule).__name__}")

    def update(self, detections: sv.Detections, frame_index: int, t_s: float) -> list[Event]:
        """Evaluate one processed frame.

        Args:
            detections: the frame's tracked detections: `xyxy` `(N, 4)` pixels, optional
                `confidence` `(N,)` (1.0 assumed when absent) and `tracker_id` `(N,)`; the pose
                rules (`fall`, `fighting`) read `data["keypoints"]` `(N, 17, 3)` COCO-17.
            frame_index: 0-based index over every decoded frame.
            t_s: seconds from the start of the stream (non-decreasing across calls).

        Returns:
            The events fired on this frame, in rule order.

        Raises:
            ValueError: if `detections.tracker_id` is missing.
        """
        if detections.tracker_id is None:
            raise ValueError("detections must carry tracker_id: run a tracker before the rules engine")
        n = len(detections)
        confidence = (
            np.ones(n) if detections.confidence is None else np.asarray(detections.confidence, dtype=np.float64)
        )
        anchors = foot_points(detections.xyxy)
        keypoints = detections.data.get("keypoints") if detections.data else None
        if keypoints is not None:
            keypoints = np.asarray(keypoints, dtype=np.float64)
            if keypoints.shape != (n, 17, 3):
                raise ValueError(f"data['keypoints'] must have shape ({n}, 17, 3), but got shape {keypoints.shape}")
        frame = FrameView(
            frame_index=frame_index,
            t_s=float(t_s),
            tracker_id=np.asarray(detections.tracker_id, dtype=np.int64),
            confidence=confidence,
            anchors_xy=anchors,
            inside={name: zone.trigger(anchors) for name, zone in self.zones.items()},
            xyxy=np.asarray(detections.xyxy, dtype=np.float64).reshape(n, 4),
            keypoints=keypoints,
        )
        events: list[Event] = []
        for evaluator in self.evaluators:
            events += evaluator.update(frame[frame.confidence >= evaluator.min_confidence])
        return events

    def finish(self, frame_index: int, t_s: float) -> list[Event]:
        """End of stream: close open dwell visits and occupancy episodes.

        Args:
            frame_index: index of the last processed frame.
            t_s: its time in seconds.

        Returns:
            Events for episodes that met their threshold; shorter ones are dropped.
        """
        events: list[Event] = []
        for evaluator in self.evaluators:
            events += evaluator.finish(frame_index, t_s)
        return events

    def reset(self) -> None:
        """Forget every track, open episode and cool-down (e.g. at a new video)."""
        for evaluator in self.evaluators:
            evaluator.reset()
