"""Rules on one track's visits to one zone: zone_enter, zone_exit and dwell."""

from __future__ import annotations

from domain.events import Event, EventType
from domain.rules.base import FrameView, RuleEvaluator
from domain.rules.membership import Transition, ZoneMembership
from domain.site import DwellRuleConfig, ZoneEnterRuleConfig, ZoneExitRuleConfig

__all__ = ["ZoneTransitionEvaluator", "DwellEvaluator"]


class _ZoneRule(RuleEvaluator):
    """A rule watching one zone through its own membership tracker."""

    def __init__(self, name: str, config, camera_id: str, inertia_frames: int, lost_track_s: float) -> None:
        super().__init__(name, config, camera_id)
        self.zone = config.zone
        self.membership = ZoneMembership(inertia_frames, lost_track_s)

    def _transitions(self, frame: FrameView) -> list[Transition]:
        return self.membership.update(
            frame.tracker_id, frame.inside[self.zone], frame.confidence, frame.frame_index, frame.t_s
        )

    def reset(self) -> None:
        self.membership.reset()
        self.gate.reset()


class ZoneTransitionEvaluator(_ZoneRule):
    """`zone_enter` / `zone_exit`: one instantaneous event per debounced transition.

    Event confidence is the mean detector confidence of the inertia streak that caused the
    transition; an exit of a lost track carries `payload["reason"] == "lost"` and the time of
    its last observation.
    """

    def __init__(self, name: str, config: ZoneEnterRuleConfig | ZoneExitRuleConfig, camera_id: str,
                 inertia_frames: int, lost_track_s: float) -> None:
        super().__init__(name, config, camera_id, inertia_frames, lost_track_s)
        self.entering = isinstance(config, ZoneEnterRuleConfig)
        self.event_type = EventType.ZONE_ENTER if self.entering else EventType.ZONE_EXIT

    def update(self, frame: FrameView) -> list[Event]:
        events: list[Event] = []
        for tr in self._transitions(frame):
            if tr.entered != self.entering:
                continue
            payload = {} if tr.entered else {"reason": tr.reason.value if tr.reason else None}
            at = (tr.frame_index, tr.t_s)
            events += self._emit(key=(tr.track_id, self.zone), now_s=frame.t_s, track_id=tr.track_id,
                                 zone=self.zone, start=at, end=at, confidence=tr.confidence, payload=payload)
        return events


class DwellEvaluator(_ZoneRule):
    """`dwell`: one event per visit that lasted at least `dwell_s`, emitted when the visit ends.

    Emitting at the end gives the true duration: `t_start` is the (debounced) entry, `t_end`
    the (debounced) exit, the last observation of a lost track, or at `finish()` the last
    observation of a track still inside. `payload["dwell_s"]` is `t_end - t_start`. Event
    confidence is the mean detector confidence over the visit.
    """

    event_type = EventType.DWELL

    def __init__(self, name: str, config: DwellRuleConfig, camera_id: str,
                 inertia_frames: int, lost_track_s: float) -> None:
        super().__init__(name, config, camera_id, inertia_frames, lost_track_s)
        self.dwell_s = config.dwell_s

    def _visit(self, track_id: int, start: tuple[int, float], end: tuple[int, float],
               confidence: float, now_s: float) -> list[Event]:
        duration = end[1] - start[1]
        if duration < self.dwell_s:
            return []
        return self._emit(key=(track_id, self.zone), now_s=now_s, track_id=track_id, zone=self.zone,
                          start=start, end=end, confidence=confidence, payload={"dwell_s": round(duration, 3)})

    def update(self, frame: FrameView) -> list[Event]:
        events: list[Event] = []
        for tr in self._transitions(frame):
            if not tr.entered:
                events += self._visit(tr.track_id, (tr.entered_frame, tr.entered_t_s),
                                      (tr.frame_index, tr.t_s), tr.visit_confidence, frame.t_s)
        return events

    def finish(self, frame_index: int, t_s: float) -> list[Event]:
        events: list[Event] = []
        for track, state in self.membership.inside_tracks().items():
            events += self._visit(track, (state.entered_frame, state.entered_t_s),
                                  (state.last_frame, state.last_t_s), state.visit_confidence, t_s)
        self.membership.reset()
        return events
