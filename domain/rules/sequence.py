"""The `zone_sequence` rule: zones visited in order, e.g. shelf → exit without checkout (bypass)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from domain.events import Event, EventType
from domain.rules.base import FrameView, RuleEvaluator
from domain.rules.membership import ZoneMembership
from domain.site import ZoneSequenceRuleConfig

__all__ = ["ZoneSequenceEvaluator"]

_MAX_HISTORY = 64  # zone entries remembered per track when the rule has no `within_s`


@dataclass(frozen=True)
class _Entry:
    zone: str
    frame_index: int
    t_s: float
    confidence: float


class ZoneSequenceEvaluator(RuleEvaluator):
    """Fires when a track enters the last zone of `sequence` having entered the earlier ones in order.

    Matching walks the track's entry history backwards from the current entry, taking the
    most recent entry of each earlier zone (the shortest span that fits). It fires only if
    the span from that first-zone entry to now is within `within_s` and contains no entry
    into an `absent` zone (nor starts while the track is inside one). So shelf → checkout →
    shelf → exit still fires for the second shelf visit.

    Event: `t_start` = entry into the first sequence zone, `t_end` = now, `zone` = last
    sequence zone, `payload={"zones": matched zones, "visited": every zone entered in the
    span}`, confidence = mean of the matched entries' confidences.
    """

    event_type = EventType.ZONE_SEQUENCE

    def __init__(self, name: str, config: ZoneSequenceRuleConfig, camera_id: str,
                 inertia_frames: dict[str, int], lost_track_s: float) -> None:
        super().__init__(name, config, camera_id)
        self.sequence = list(config.sequence)
        self.absent = set(config.absent)
        self.within_s = config.within_s
        zones = dict.fromkeys(self.sequence + list(config.absent))
        self.memberships = {z: ZoneMembership(inertia_frames[z], lost_track_s) for z in zones}
        self._history: dict[int, deque[_Entry]] = {}

    def update(self, frame: FrameView) -> list[Event]:
        events: list[Event] = []
        for zone, membership in self.memberships.items():
            transitions = membership.update(
                frame.tracker_id, frame.inside[zone], frame.confidence, frame.frame_index, frame.t_s
            )
            for tr in transitions:
                if not tr.entered:
                    continue
                history = self._history.setdefault(tr.track_id, deque(maxlen=_MAX_HISTORY))
                history.append(_Entry(zone, tr.frame_index, tr.t_s, tr.confidence))
                if zone == self.sequence[-1]:
                    events += self._match(tr.track_id, history, frame)
        self._prune(frame.t_s)
        return events

    def _match(self, track: int, history: deque[_Entry], frame: FrameView) -> list[Event]:
        entries = list(history)
        matched = [entries[-1]]
        i = len(entries) - 2
        for zone in reversed(self.sequence[:-1]):
            while i >= 0 and entries[i].zone != zone:
                i -= 1
            if i < 0:
                return []
            matched.insert(0, entries[i])
            i -= 1
        first = matched[0]
        if self.within_s is not None and frame.t_s - first.t_s > self.within_s:
            return []
        span = [e for e in entries if e.t_s >= first.t_s]
        if any(e.zone in self.absent for e in span) or self._inside_absent_at(track, first.t_s):
            return []
        return self._emit(
            key=(track, self.sequence[-1]), now_s=frame.t_s, track_id=track, zone=self.sequence[-1],
            start=(first.frame_index, first.t_s), end=(frame.frame_index, frame.t_s),
            confidence=sum(e.confidence for e in matched) / len(matched),
            payload={"zones": [e.zone for e in matched], "visited": [e.zone for e in span]},
        )

    def _inside_absent_at(self, track: int, t_s: float) -> bool:
        for zone in self.absent:
            state = self.memberships[zone].tracks.get(track)
            if state is not None and state.inside and state.entered_t_s <= t_s:
                return True
        return False

    def _prune(self, now_s: float) -> None:
        alive = set().union(*(m.tracks for m in self.memberships.values()))
        for track in [k for k in self._history if k not in alive]:
            del self._history[track]
        if self.within_s is None:
            return
        for history in self._history.values():
            while history and now_s - history[0].t_s > self.within_s:
                history.popleft()

    def reset(self) -> None:
        for membership in self.memberships.values():
            membership.reset()
        self._history.clear()
        self.gate.reset()
