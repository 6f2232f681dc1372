"""What every rule evaluator shares: the per-frame view, event building, cool-down and de-duplication."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from domain.events import Event, EventType
from domain.site import RuleBase

__all__ = ["FrameView", "EventGate", "RuleEvaluator"]


@dataclass(frozen=True)
class FrameView:
    """One processed frame's tracked detections, as the rules see them.

    Attributes:
        frame_index: 0-based index over every decoded frame.
        t_s: seconds from the start of the stream.
        tracker_id: `(N,)` int64 track ids.
        confidence: `(N,)` float64 detector confidence (1.0 when the detector gave none).
        anchors_xy: `(N, 2)` float64 foot points in pixels.
        inside: zone name -> `(N,)` bool, whether each anchor is inside the zone.
        xyxy: `(N, 4)` float64 boxes `[x1, y1, x2, y2]` in pixels (`None`: not given).
        keypoints: `(N, 17, 3)` float64 COCO-17 `[x, y, visibility]` in pixels, `None` when the
            detector gave no pose (the pose rules then see nobody's limbs).
    """

    frame_index: int
    t_s: float
    tracker_id: npt.NDArray[np.int64]
    confidence: npt.NDArray[np.float64]
    anchors_xy: npt.NDArray[np.float64]
    inside: dict[str, npt.NDArray[np.bool_]] = field(default_factory=dict)
    xyxy: npt.NDArray[np.float64] | None = None
    keypoints: npt.NDArray[np.float64] | None = None

    def __len__(self) -> int:
        return len(self.tracker_id)

    def __getitem__(self, mask: npt.NDArray[np.bool_]) -> FrameView:
        """A view keeping only the rows where `mask` is True."""
        return FrameView(
            frame_index=self.frame_index,
            t_s=self.t_s,
            tracker_id=self.tracker_id[mask],
            confidence=self.confidence[mask],
            anchors_xy=self.anchors_xy[mask],
            inside={name: inside[mask] for name, inside in self.inside.items()},
            xyxy=None if self.xyxy is None else self.xyxy[mask],
            keypoints=None if self.keypoints is None else self.keypoints[mask],
        )


class EventGate:
    """Cool-down and de-duplication for one rule, with memory bounded in time.

    An event passes unless (a) the same key fired less than `cooldown_s` ago (measured on the
    emission times) or (b) an identical event (same type, track, zone and frames) passed
    within `dedup_s` before. Entries older than that can no longer refuse anything and are
    pruned, so a camera that runs for months keeps only the last `max(cooldown_s, dedup_s)` of
    firings (measured in stream seconds), not every firing since it started.

    Args:
        cooldown_s: seconds during which the same key cannot fire again.
        dedup_s: seconds an emitted event's identity is remembered. Identical events come from
            re-evaluating the same frames (an episode closed at `finish` after it fired), which
            happens within seconds; longer costs memory, shorter risks a repeat.

    Example:
        >>> from domain.events import Event, EventType
        >>> gate = EventGate(cooldown_s=10.0, dedup_s=60.0)
        >>> e = Event(EventType.ZONE_ENTER, "r", "cam", 1, "z", 0.0, 0.0, 0, 0, 0.9)
        >>> gate.admit(e, key=1, now_s=0.0), gate.admit(e, key=1, now_s=0.5), len(gate)
        (True, False, 1)
        >>> gate.admit(Event(EventType.ZONE_ENTER, "r", "cam", 2, "z", 0.0, 0.0, 999, 999, 0.9), key=2, now_s=1000.0)
        True
        >>> len(gate)  # the firing at 0 s was pruned
        1
    """

    def __init__(self, cooldown_s: float, dedup_s: float = 600.0) -> None:
        self.cooldown_s = cooldown_s
        self.dedup_s = dedup_s
        self._last_fired_s: dict[Any, float] = {}
        self._seen: dict[tuple[Any, ...], float] = {}
        self._next_prune_s = float("-inf")

    def __len__(self) -> int:
        """Firings remembered (cool-down keys and identities, whichever is more)."""
        return max(len(self._last_fired_s), len(self._seen))

    def admit(self, event: Event, key: Any, now_s: float) -> bool:
        """Whether `event` may be emitted now; records it if so."""
        self._prune(now_s)
        identity = (event.type, event.track_id, event.zone, event.frame_start, event.frame_end)
        if identity in self._seen:
            return False
        last = self._last_fired_s.get(key)
        if last is not None and now_s - last < self.cooldown_s:
            return False
        self._seen[identity] = now_s
        self._last_fired_s[key] = now_s
        return True

    def _prune(self, now_s: float) -> None:
        """Forget firings that can no longer refuse an event (at most once per `min(cooldown, dedup)` / 2)."""
        if now_s < self._next_prune_s:
            return
        self._next_prune_s = now_s + max(min(self.cooldown_s, self.dedup_s) / 2, 1.0)
        self._last_fired_s = {k: t for k, t in self._last_fired_s.items() if now_s - t < self.cooldown_s}
        self._seen = {k: t for k, t in self._seen.items() if now_s - t < self.dedup_s}

    def reset(self) -> None:
        """Forget all firings."""
        self._last_fired_s.clear()
        self._seen.clear()
        self._next_prune_s = float("-inf")


class RuleEvaluator(ABC):
    """Base of the stateful evaluator behind one configured rule.

    Args:
        name: rule key in the site file.
        config: the rule's config.
        camera_id: camera the rule runs on.
    """

    event_type: EventType

    def __init__(self, name: str, config: RuleBase, camera_id: str) -> None:
        self.name = name
        self.config = config
        self.camera_id = camera_id
        self.gate = EventGate(config.cooldown_s)

    @property
    def min_confidence(self) -> float:
        """Detections below this confidence are not shown to the rule."""
        return self.config.min_confidence

    @abstractmethod
    def update(self, frame: FrameView) -> list[Event]:
        """Feed one frame (already filtered by `min_confidence`); return the events fired."""

    def finish(self, frame_index: int, t_s: float) -> list[Event]:
        """End of stream: close open episodes; return the events fired."""
        return []

    @abstractmethod
    def reset(self) -> None:
        """Forget all state."""

    def _emit(
        self,
        *,
        key: Any,
        now_s: float,
        track_id: int | None,
        zone: str | None,
        start: tuple[int, float],
        end: tuple[int, float],
        confidence: float,
        payload: dict[str, Any],
    ) -> list[Event]:
        """Build an event from `(frame_index, t_s)` start/end pairs; `[]` if the gate refuses it."""
        event = Event(
            type=self.event_type,
            rule=self.name,
            camera_id=self.camera_id,
            track_id=track_id,
            zone=zone,
            t_start_s=float(start[1]),
            t_end_s=float(end[1]),
            frame_start=int(start[0]),
            frame_end=int(end[0]),
            confidence=float(confidence),
            payload=payload,
            clip=self.config.clip,
            alert=None if self.config.alert is None else self.config.alert.model_dump(mode="json"),
        )
        return [event] if self.gate.admit(event, key, now_s) else []
