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
    """Cool-down and de-duplication for one rule.

    An event passes unless (a) the same key fired less than `cooldown_s` ago (measured on the
    emission times) or (b) an identical event (same type, track, zone and frames) passed
    before.

    Args:
        cooldown_s: seconds during which the same key cannot fire again.
    """

    def __init__(self, cooldown_s: float) -> None:
        self.cooldown_s = cooldown_s
        self._last_fired_s: dict[Any, float] = {}
        self._seen: set[tuple[Any, ...]] = set()

    def admit(self, event: Event, key: Any, now_s: float) -> bool:
        """Whether `event` may be emitted now; records it if so."""
        identity = (event.type, event.track_id, event.zone, event.frame_start, event.frame_end)
        if identity in self._seen:
            return False
        last = self._last_fired_s.get(key)
        if last is not None and now_s - last < self.cooldown_s:
            return False
        self._seen.add(identity)
        self._last_fired_s[key] = now_s
        return True

    def reset(self) -> None:
        """Forget all firings."""
        self._last_fired_s.clear()
        self._seen.clear()


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
