"""The `fighting` rule: two or more people close together, fast limbs, in place (see `FightingRuleConfig`)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import numpy.typing as npt

from domain.events import Event, EventType
from domain.rules.base import FrameView, RuleEvaluator
from domain.site import FightingRuleConfig
from domain.skeleton import box_height_px, limbs_relative_xy

__all__ = ["FightingEvaluator"]

_MIN_SPEED_SAMPLES = 3  # finite limb speeds needed in a window before its median means anything


@dataclass(frozen=True)
class _Sample:
    t_s: float
    foot_xy: npt.NDArray[np.float64]  # (2,)
    height_px: float
    limbs_xy: npt.NDArray[np.float64]  # (4, 2) relative to the hips, NaN where unseen
    limb_speed_bh_s: float  # fastest limb since the previous sample, NaN if unknown


@dataclass
class _Person:
    samples: deque[_Sample] = field(default_factory=deque)

    def stats(self, now_s: float, window_s: float) -> tuple[float, float, float]:
        """`(median limb speed bh/s, net travel speed bh/s, body height px)` over the window; NaN when unknown."""
        recent = [s for s in self.samples if now_s - s.t_s <= window_s]
        height = float(np.median([s.height_px for s in recent]))
        speeds = np.array([s.limb_speed_bh_s for s in recent])
        speeds = speeds[np.isfinite(speeds)]
        limb = float(np.median(speeds)) if len(speeds) >= _MIN_SPEED_SAMPLES else float("nan")
        span = recent[-1].t_s - recent[0].t_s
        travel = float("nan")
        if span >= window_s / 2 and height > 0:
            travel = float(np.linalg.norm(recent[-1].foot_xy - recent[0].foot_xy)) / span / height
        return limb, travel, height


@dataclass
class _Episode:
    start: tuple[int, float]
    last_engaged_s: float
    fired: bool = False
    limb_speeds: list[tuple[float, float]] = field(default_factory=list)
    distances_bh: list[float] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)


class FightingEvaluator(RuleEvaluator):
    """One `fighting` event per engagement of a pair of people that lasts `min_duration_s`.

    Each pair is tracked on its own (three people brawling give up to three pairs, each with its
    own event and cool-down). The event is emitted as soon as the engagement has lasted
    `min_duration_s` (not when it ends), spanning its start to that moment, with `track_id` the
    lower of the two ids, `zone` the rule's zone (or `None`), confidence the mean detector
    confidence of the two during it, and `payload` `track_ids` `[a, b]`, `limb_speed_bh_s`
    `[a, b]` (medians over the engagement), `distance_bh` (median) and `duration_s`. With a zone,
    both foot points must be inside it.

    Args:
        name: rule key. config: the rule. camera_id: camera.
        lost_track_s: a person unseen this long is forgotten.
    """

    event_type = EventType.FIGHTING

    def __init__(self, name: str, config: FightingRuleConfig, camera_id: str, lost_track_s: float) -> None:
        super().__init__(name, config, camera_id)
        self.cfg = config
        self.zone = config.zone
        self.lost_track_s = lost_track_s
        self._people: dict[int, _Person] = {}
        self._episodes: dict[tuple[int, int], _Episode] = {}

    def update(self, frame: FrameView) -> list[Event]:
        cfg = self.cfg
        n = len(frame)
        xyxy = frame.xyxy if frame.xyxy is not None else np.zeros((n, 4))
        heights = box_height_px(xyxy)
        limbs = (limbs_relative_xy(frame.keypoints, xyxy, cfg.min_visibility) if frame.keypoints is not None
                 else np.full((n, 4, 2), np.nan))  # fmt: skip
        ids = frame.tracker_id.tolist()
        for k, tid in enumerate(ids):
            if heights[k] > 0:
                self._add(tid, frame.t_s, frame.anchors_xy[k], float(heights[k]), limbs[k])
        in_zone = frame.inside[self.zone] if self.zone is not None else np.ones(n, bool)
        stats = {tid: self._people[tid].stats(frame.t_s, cfg.window_s) for k, tid in enumerate(ids)
                 if tid in self._people and in_zone[k] and heights[k] > 0}  # fmt: skip
        events: list[Event] = []
        row = {tid: k for k, tid in enumerate(ids)}
        for a, b in combinations(sorted(stats), 2):
            (limb_a, travel_a, h_a), (limb_b, travel_b, h_b) = stats[a], stats[b]
            distance = float(np.linalg.norm(frame.anchors_xy[row[a]] - frame.anchors_xy[row[b]])) / ((h_a + h_b) / 2)
            engaged = (
                distance <= cfg.max_distance_bh
                and limb_a >= cfg.min_limb_speed_bh_s and limb_b >= cfg.min_limb_speed_bh_s
                and travel_a <= cfg.max_travel_speed_bh_s and travel_b <= cfg.max_travel_speed_bh_s
            )  # NaN compares False: unknown speeds never engage
            if engaged:
                conf = float(frame.confidence[row[a]] + frame.confidence[row[b]]) / 2
                events += self._engaged((a, b), frame, (limb_a, limb_b), distance, conf)
        self._expire(frame.t_s)
        return events

    def _add(self, tid: int, t_s: float, foot_xy: npt.NDArray[np.float64], height_px: float,
             limbs_xy: npt.NDArray[np.float64]) -> None:  # fmt: skip
        person = self._people.setdefault(tid, _Person())
        speed = float("nan")
        if person.samples:
            prev = person.samples[-1]
            dt = t_s - prev.t_s
            if 0 < dt <= self.cfg.window_s:
                body_h = float(np.median([s.height_px for s in person.samples] + [height_px]))
                per_limb = np.linalg.norm(limbs_xy - prev.limbs_xy, axis=1) / dt / body_h
                if np.isfinite(per_limb).any():
                    speed = float(np.nanmax(per_limb))
        person.samples.append(_Sample(t_s, np.asarray(foot_xy, np.float64), height_px, limbs_xy, speed))
        while person.samples and t_s - person.samples[0].t_s > self.cfg.window_s:
            person.samples.popleft()

    def _engaged(self, pair: tuple[int, int], frame: FrameView, limb: tuple[float, float], distance: float,
                 confidence: float) -> list[Event]:  # fmt: skip
        cfg = self.cfg
        ep = self._episodes.get(pair)
        if ep is None or frame.t_s - ep.last_engaged_s > cfg.max_gap_s:
            ep = self._episodes[pair] = _Episode(start=(frame.frame_index, frame.t_s), last_engaged_s=frame.t_s)
        ep.last_engaged_s = frame.t_s
        ep.limb_speeds.append(limb)
        ep.distances_bh.append(distance)
        ep.confidences.append(confidence)
        duration = frame.t_s - ep.start[1]
        if ep.fired or duration < cfg.min_duration_s:
            return []
        ep.fired = True
        speeds = np.array(ep.limb_speeds)
        payload = {
            "track_ids": list(pair),
            "limb_speed_bh_s": [round(float(v), 3) for v in np.median(speeds, axis=0)],
            "distance_bh": round(float(np.median(ep.distances_bh)), 3),
            "duration_s": round(duration, 3),
        }
        return self._emit(key=pair, now_s=frame.t_s, track_id=pair[0], zone=self.zone, start=ep.start,
                          end=(frame.frame_index, frame.t_s), confidence=float(np.mean(ep.confidences)),
                          payload=payload)

    def _expire(self, now_s: float) -> None:
        for pair in [p for p, ep in self._episodes.items() if now_s - ep.last_engaged_s > self.cfg.max_gap_s]:
            del self._episodes[pair]
        for tid in [t for t, p in self._people.items() if now_s - p.samples[-1].t_s > self.lost_track_s]:
            del self._people[tid]

    def reset(self) -> None:
        self._people.clear()
        self._episodes.clear()
        self.gate.reset()
