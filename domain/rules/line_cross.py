"""The `line_cross` rule: a track's foot point crossing a counting line."""

from __future__ import annotations

from domain.events import Event, EventType
from domain.rules.base import FrameView, RuleEvaluator
from domain.site import CrossDirection, LineCrossRuleConfig
from domain.zones import LineZone

__all__ = ["LineCrossEvaluator"]


class LineCrossEvaluator(RuleEvaluator):
    """Fires when the segment between a track's consecutive observations crosses the line.

    `in` is a crossing from the left-hand to the right-hand side of `start → end` as seen on
    the image (see `CrossDirection`). The event is instantaneous at the frame of the second
    observation; `payload["direction"]` is `"in"` or `"out"`; confidence is the mean of the
    two observations' detector confidences.

    Args:
        name: rule key.
        config: the rule's config.
        camera_id: camera id.
        line: the runtime line (pixels); the evaluator owns its per-track state, so give each
            rule its own instance.
        lost_track_s: seconds without an observation after which a track's last position is
            forgotten (so a re-used id does not "cross" from a stale position).
    """

    event_type = EventType.LINE_CROSS

    def __init__(self, name: str, config: LineCrossRuleConfig, camera_id: str,
                 line: LineZone, lost_track_s: float) -> None:
        super().__init__(name, config, camera_id)
        self.line = line
        self.direction = config.direction
        self.lost_track_s = lost_track_s
        self._last: dict[int, tuple[float, float]] = {}  # track -> (t_s, confidence)

    def update(self, frame: FrameView) -> list[Event]:
        lost = [k for k, (t, _) in self._last.items() if frame.t_s - t > self.lost_track_s]
        self.line.forget(lost)
        for k in lost:
            del self._last[k]
        crossings = self.line.trigger(frame.tracker_id, frame.anchors_xy)
        events: list[Event] = []
        for track, sign, conf in zip(frame.tracker_id.tolist(), crossings.tolist(), frame.confidence.tolist()):
            previous = self._last.get(track)
            self._last[track] = (frame.t_s, conf)
            if sign == 0:
                continue
            direction = CrossDirection.IN if sign > 0 else CrossDirection.OUT
            if self.direction not in (CrossDirection.ANY, direction):
                continue
            mean_conf = (conf + previous[1]) / 2 if previous else conf
            at = (frame.frame_index, frame.t_s)
            events += self._emit(key=(track, self.line.name), now_s=frame.t_s, track_id=track,
                                 zone=self.line.name, start=at, end=at, confidence=mean_conf,
                                 payload={"direction": direction.value})
        return events

    def reset(self) -> None:
        self.line.reset()
        self._last.clear()
        self.gate.reset()
