"""Factories for domain tests: plain lists in, domain objects out."""

from __future__ import annotations

from typing import Any

import numpy as np
import supervision as sv

from domain import Event, RulesEngine, parse_site_yaml

RESOLUTION_WH = (100, 100)


def make_detections(
    xyxy: list[list[float]],
    tracker_id: list[int] | None = None,
    confidence: list[float] | None = None,
) -> sv.Detections:
    """`sv.Detections` from plain lists (`(0, 4)` when `xyxy` is empty)."""
    boxes = np.array(xyxy, dtype=np.float32).reshape(-1, 4)
    return sv.Detections(
        xyxy=boxes,
        confidence=None if confidence is None else np.array(confidence, dtype=np.float32),
        class_id=np.zeros(len(boxes), dtype=int),
        tracker_id=None if tracker_id is None else np.array(tracker_id, dtype=int),
    )


def feet(*people: tuple[int, float, float] | tuple[int, float, float, float]) -> sv.Detections:
    """Detections whose foot points are `(x, y)` pixels: `(track, x, y[, confidence])` each."""
    rows = [p if len(p) == 4 else (*p, 0.9) for p in people]
    return make_detections(
        xyxy=[[x - 5, y - 20, x + 5, y] for _, x, y, _ in rows],
        tracker_id=[t for t, _, _, _ in rows],
        confidence=[c for _, _, _, c in rows],
    )


def make_engine(camera_yaml: str) -> RulesEngine:
    """A `RulesEngine` for camera `cam` from the YAML body of `cameras.cam`."""
    body = "\n".join("    " + line for line in camera_yaml.strip("\n").splitlines())
    site = parse_site_yaml(f"cameras:\n  cam:\n{body}\n")
    return RulesEngine("cam", site.cameras["cam"], RESOLUTION_WH)


def run_frames(engine: RulesEngine, frames: list[list[tuple]], fps: float = 1.0, finish: bool = True) -> list[Event]:
    """Feed frames (each a list of `(track, x, y[, conf])`) at `fps`; optionally `finish()`."""
    events: list[Event] = []
    for i, people in enumerate(frames):
        events += engine.update(feet(*people), frame_index=i, t_s=i / fps)
    if finish:
        last = max(len(frames) - 1, 0)
        events += engine.finish(frame_index=last, t_s=last / fps)
    return events


def summary(events: list[Event]) -> list[tuple[Any, ...]]:
    """`(type, rule, track_id, zone, t_start_s, t_end_s)` per event, for compact assertions."""
    return [(e.type.value, e.rule, e.track_id, e.zone, e.t_start_s, e.t_end_s) for e in events]
