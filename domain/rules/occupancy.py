"""The `occupancy` rule: too many people in a zone for too long (crowding, queues)."""

from __future__ import annotations

from dataclasses import dataclass

from domain.events import Event, EventType
from domain.rules.base import FrameView, RuleEvaluator
from domain.rules.membership import ZoneMembership
from domain.site import OccupancyRuleConfig

__all__ = ["OccupancyEvaluator"]


@dataclass
class _Episode:
    start: tuple[int, float]
    peak: int
    conf_sum: float = 0.0
    conf_n: int = 0


class OccupancyEvaluator(RuleEvaluator):
    """One event per episode where more than `max_count` tracks are inside for >= `for_s`.

    The count is the number of tracks whose debounced membership is inside (a briefly
    unobserved track still counts until it is lost). The episode starts at the first frame
    with count > `max_count` and ends at the first frame with count <= `max_count`, or at
    `finish()`; it is emitted when it ends, with `track_id=None`,
    `payload={"max_count": peak, "threshold": max_count}` and confidence the mean detector
    confidence of the observations inside the zone during the episode.
    """

    event_type = EventType.OCCUPANCY

    def __init__(self, name: str, config: OccupancyRuleConfig, camera_id: str,
                 inertia_frames: int, lost_track_s: float) -> None:
        super().__init__(name, config, camera_id)
        self.zone = config.zone
        self.max_count = config.max_count
        self.for_s = config.for_s
        self.membership = ZoneMembership(inertia_frames, lost_track_s)
        self._episode: _Episode | None = None

    def update(self, frame: FrameView) -> list[Event]:
        inside = frame.inside[self.zone]
        self.membership.update(frame.tracker_id, inside, frame.confidence, frame.frame_index, frame.t_s)
        count = len(self.membership.inside_tracks())
        now = (frame.frame_index, frame.t_s)
        if count <= self.max_count:
            return self._close(now, frame.t_s)
        if self._episode is None:
            self._episode = _Episode(start=now, peak=count)
        ep = self._episode
        ep.peak = max(ep.peak, count)
        ep.conf_sum += float(frame.confidence[inside].sum())
        ep.conf_n += int(inside.sum())
        return []

    def _close(self, end: tuple[int, float], now_s: float) -> list[Event]:
        ep, self._episode = self._episode, None
        if ep is None or end[1] - ep.start[1] < self.for_s:
            return []
        return self._emit(key=self.zone, now_s=now_s, track_id=None, zone=self.zone, start=ep.start, end=end,
                          confidence=ep.conf_sum / ep.conf_n if ep.conf_n else 0.0,
                          payload={"max_count": ep.peak, "threshold": self.max_count})

    def finish(self, frame_index: int, t_s: float) -> list[Event]:
        events = self._close((frame_index, t_s), t_s)
        self.membership.reset()
        return events

    def reset(self) -> None:
        self.membership.reset()
        self._episode = None
        self.gate.reset()
