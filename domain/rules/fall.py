"""The `fall` rule: a fast hip drop, a lying posture, then lying still (see `FallRuleConfig`)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from domain.events import Event, EventType
from domain.rules.base import FrameView, RuleEvaluator
from domain.site import FallRuleConfig
from domain.skeleton import box_aspect_wh, box_height_px, hip_xy, torso_angle_deg

__all__ = ["FallEvaluator"]


class _Phase(str, Enum):
    UPRIGHT = "upright"  # watching for a drop
    DROPPED = "dropped"  # a drop was seen; waiting for the lying posture
    DOWN = "down"  # lying; counting stillness
    FALLEN = "fallen"  # the event fired; waiting for the person to get up


@dataclass(frozen=True)
class _Sample:
    frame_index: int
    t_s: float
    hip_xy: tuple[float, float]
    height_px: float
    aspect_wh: float
    torso_deg: float  # NaN when the torso is not visible
    confidence: float
    in_zone: bool


@dataclass(frozen=True)
class _Drop:
    start: _Sample
    end: _Sample
    drop_bh: float
    speed_bh_s: float
    body_height_px: float
    aspect_before: float


@dataclass
class _Track:
    samples: deque[_Sample] = field(default_factory=deque)
    phase: _Phase = _Phase.UPRIGHT
    drop: _Drop | None = None
    down_start: _Sample | None = None
    anchor_xy: tuple[float, float] = (0.0, 0.0)
    not_down_since_s: float | None = None
    down: list[_Sample] = field(default_factory=list)
    last_t_s: float = 0.0


class FallEvaluator(RuleEvaluator):
    """One `fall` event per fall: when a dropped, lying person has stayed still for `still_s`.

    Per track, a small state machine: upright → (hip drop) → dropped → (lying posture within
    `confirm_within_s`) → down → (still for `still_s`) → event, fallen → (upright again for
    `get_up_s`) → upright. Out of the lying posture for `get_up_s` at any point before the event
    also returns to upright, so a person who trips and gets up raises nothing. A person first seen
    already lying raises nothing either: no drop was observed.

    The event spans the drop's start to the moment stillness was confirmed, with
    `track_id` the person, `zone` the rule's zone (or `None`), confidence the mean detector
    confidence while down, and `payload` `drop_bh`, `drop_speed_bh_s`, `drop_s`,
    `torso_angle_deg` (median while down, `None` if never visible), `aspect_before`,
    `aspect_after`, `still_s` and `body_height_px`. With a zone, the person's foot point must have
    been inside it when the drop began.

    Args:
        name: rule key. config: the rule. camera_id: camera.
        lost_track_s: a track unseen this long is forgotten.
    """

    event_type = EventType.FALL

    def __init__(self, name: str, config: FallRuleConfig, camera_id: str, lost_track_s: float) -> None:
        super().__init__(name, config, camera_id)
        self.cfg = config
        self.zone = config.zone
        self.lost_track_s = lost_track_s
        self.get_up_s = config.get_up_s
        self._tracks: dict[int, _Track] = {}
        self._history_s = config.reference_s + config.drop_window_s

    def update(self, frame: FrameView) -> list[Event]:
        events: list[Event] = []
        if len(frame):
            events = self._update_tracks(frame)
        gone = [tid for tid, tr in self._tracks.items() if frame.t_s - tr.last_t_s > self.lost_track_s]
        for tid in gone:
            del self._tracks[tid]
        return events

    def _samples(self, frame: FrameView) -> list[_Sample]:
        n = len(frame)
        xyxy = frame.xyxy if frame.xyxy is not None else np.zeros((n, 4))
        vis = self.cfg.min_visibility
        hips = hip_xy(frame.keypoints, xyxy, vis)
        torso = torso_angle_deg(frame.keypoints, vis) if frame.keypoints is not None else np.full(n, np.nan)
        heights, aspects = box_height_px(xyxy), box_aspect_wh(xyxy)
        in_zone = frame.inside[self.zone] if self.zone is not None else np.ones(n, bool)
        return [
            _Sample(frame.frame_index, frame.t_s, (float(hips[k, 0]), float(hips[k, 1])), float(heights[k]),
                    float(aspects[k]), float(torso[k]), float(frame.confidence[k]), bool(in_zone[k]))
            for k in range(n)
        ]

    def _update_tracks(self, frame: FrameView) -> list[Event]:
        events: list[Event] = []
        for tid, s in zip(frame.tracker_id.tolist(), self._samples(frame)):
            if not s.height_px > 0:
                continue
            tr = self._tracks.setdefault(tid, _Track())
            tr.last_t_s = s.t_s
            tr.samples.append(s)
            while tr.samples and s.t_s - tr.samples[0].t_s > self._history_s:
                tr.samples.popleft()
            events += self._step(tid, tr, s)
        return events

    def _step(self, tid: int, tr: _Track, s: _Sample) -> list[Event]:
        if tr.phase is _Phase.UPRIGHT:
            tr.drop = self._find_drop(tr.samples, s)
            if tr.drop is None:
                return []
            tr.phase = _Phase.DROPPED
        assert tr.drop is not None
        down = self._is_down(s, tr.drop)
        if tr.phase is _Phase.DROPPED:
            if down:
                self._start_down(tr, s)
            elif s.t_s - tr.drop.end.t_s > self.cfg.confirm_within_s:
                self._to_upright(tr, s)
            return []
        # DOWN or FALLEN: getting up is being out of the lying posture for `get_up_s`.
        if not down:
            if tr.not_down_since_s is None:
                tr.not_down_since_s = s.t_s
            if s.t_s - tr.not_down_since_s >= self.get_up_s:
                self._to_upright(tr, s)
            return []
        tr.not_down_since_s = None
        if tr.phase is _Phase.FALLEN:
            return []
        moved = np.hypot(s.hip_xy[0] - tr.anchor_xy[0], s.hip_xy[1] - tr.anchor_xy[1]) / tr.drop.body_height_px
        if moved > self.cfg.still_max_move_bh:
            self._start_down(tr, s)  # moving on the floor: the stillness count restarts here
            return []
        tr.down.append(s)
        assert tr.down_start is not None
        if s.t_s - tr.down_start.t_s < self.cfg.still_s:
            return []
        tr.phase = _Phase.FALLEN
        return self._event(tid, tr, s)

    def _start_down(self, tr: _Track, s: _Sample) -> None:
        tr.phase, tr.down_start, tr.anchor_xy, tr.not_down_since_s, tr.down = _Phase.DOWN, s, s.hip_xy, None, [s]

    def _to_upright(self, tr: _Track, s: _Sample) -> None:
        """Back to watching; the history restarts so the next drop is measured from the person standing again."""
        tr.phase, tr.drop, tr.down_start, tr.not_down_since_s, tr.down = _Phase.UPRIGHT, None, None, None, []
        tr.samples.clear()
        tr.samples.append(s)

    def _find_drop(self, samples: deque[_Sample], now: _Sample) -> _Drop | None:
        """The largest qualifying drop ending at `now` that began within `drop_window_s`, if any."""
        cfg = self.cfg
        best: _Drop | None = None
        for start in samples:
            dt = now.t_s - start.t_s
            if dt <= 0 or dt > cfg.drop_window_s:
                continue
            ref = [p for p in samples if start.t_s - cfg.reference_s <= p.t_s <= start.t_s]
            body_h = float(np.median([p.height_px for p in ref]))
            drop_bh = (now.hip_xy[1] - start.hip_xy[1]) / body_h
            speed = drop_bh / dt
            if drop_bh < cfg.min_drop_bh or speed < cfg.min_drop_speed_bh_s:
                continue
            if self.zone is not None and not start.in_zone:
                continue
            if best is None or drop_bh > best.drop_bh:
                aspects = [p.aspect_wh for p in ref if np.isfinite(p.aspect_wh)]
                best = _Drop(start, now, drop_bh, speed, body_h, float(np.median(aspects)) if aspects else np.nan)
        return best

    def _is_down(self, s: _Sample, drop: _Drop) -> bool:
        """Lying posture: box aspect grown enough, and the torso tilted (or, torso unseen, a box wider than tall)."""
        cfg = self.cfg
        if not (np.isfinite(s.aspect_wh) and drop.aspect_before > 0):
            return False
        if s.aspect_wh / drop.aspect_before < cfg.min_aspect_change:
            return False
        if np.isfinite(s.torso_deg):
            return s.torso_deg >= cfg.min_torso_angle_deg
        return s.aspect_wh >= 1.0

    def _event(self, tid: int, tr: _Track, now: _Sample) -> list[Event]:
        drop, start = tr.drop, tr.down_start
        assert drop is not None and start is not None
        torsos = [p.torso_deg for p in tr.down if np.isfinite(p.torso_deg)]
        payload = {
            "drop_bh": round(drop.drop_bh, 3),
            "drop_speed_bh_s": round(drop.speed_bh_s, 3),
            "drop_s": round(drop.end.t_s - drop.start.t_s, 3),
            "torso_angle_deg": round(float(np.median(torsos)), 1) if torsos else None,
            "aspect_before": round(drop.aspect_before, 3),
            "aspect_after": round(float(np.median([p.aspect_wh for p in tr.down])), 3),
            "still_s": round(now.t_s - start.t_s, 3),
            "body_height_px": round(drop.body_height_px, 1),
        }
        return self._emit(key=tid, now_s=now.t_s, track_id=tid, zone=self.zone,
                          start=(drop.start.frame_index, drop.start.t_s), end=(now.frame_index, now.t_s),
                          confidence=float(np.mean([p.confidence for p in tr.down])), payload=payload)

    def reset(self) -> None:
        self._tracks.clear()
        self.gate.reset()
