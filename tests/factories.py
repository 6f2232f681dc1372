"""Factory helpers that build domain objects from plain lists (shared by the whole suite)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from domain.events import Event, EventType
from domain.tracks import Trajectory

__all__ = ["make_trajectory", "make_event", "model_settings"]


def make_trajectory(
    track_id: int = 1,
    frames: list[int] | None = None,
    xyxy: list[list[float]] | None = None,
    *,
    fps: float = 10.0,
    confidence: list[float] | None = None,
    interpolated: list[bool] | None = None,
    keypoints: bool | list[Any] = False,
) -> Trajectory:
    """A `Trajectory` from plain lists.

    Args:
        track_id: per-video track id.
        frames: frame indices (default `[0, 1, 2]`); `t_s = frame / fps`.
        xyxy: one `[x1, y1, x2, y2]` per frame (default: a 40x100 box moving 5 px per frame).
        fps: frames per second for `t_s`.
        confidence: per frame (default 0.9, 0 where interpolated).
        interpolated: per frame (default all False).
        keypoints: `True` for synthetic COCO-17 keypoints, a `[T][17][3]` list, or `False` for none.
    """
    frames = [0, 1, 2] if frames is None else frames
    n = len(frames)
    if xyxy is None:
        xyxy = [[10.0 + 5 * i, 20.0, 50.0 + 5 * i, 120.0] for i in range(n)]
    interpolated = [False] * n if interpolated is None else interpolated
    if confidence is None:
        confidence = [0.0 if interp else 0.9 for interp in interpolated]
    kp = None
    if keypoints is True:
        kp = np.stack([np.column_stack([np.full(17, b[0]), np.full(17, b[1]), np.ones(17)]) for b in xyxy])
    elif keypoints is not False:
        kp = np.asarray(keypoints)
    return Trajectory(
        track_id=track_id,
        frame_index=np.asarray(frames, dtype=np.int64),
        t_s=np.asarray(frames, dtype=np.float64) / fps,
        xyxy=np.asarray(xyxy, dtype=np.float32).reshape(n, 4),
        confidence=np.asarray(confidence, dtype=np.float32),
        interpolated=np.asarray(interpolated, dtype=bool),
        keypoints=None if kp is None else kp.astype(np.float32).reshape(n, 17, 3),
    )


def make_event(
    type: EventType = EventType.ZONE_ENTER,  # noqa: A002
    *,
    rule: str = "enter-shelf",
    camera_id: str = "cam-1",
    track_id: int | None = 1,
    zone: str | None = "shelf-a",
    t_start_s: float = 1.0,
    t_end_s: float | None = None,
    frame_start: int | None = None,
    frame_end: int | None = None,
    fps: float = 10.0,
    confidence: float = 0.9,
    payload: dict[str, Any] | None = None,
    clip: bool = True,
) -> Event:
    """A domain `Event`; frames default to `round(t * fps)`, `t_end_s` to `t_start_s`."""
    t_end_s = t_start_s if t_end_s is None else t_end_s
    return Event(
        type=type,
        rule=rule,
        camera_id=camera_id,
        track_id=track_id,
        zone=zone,
        t_start_s=t_start_s,
        t_end_s=t_end_s,
        frame_start=round(t_start_s * fps) if frame_start is None else frame_start,
        frame_end=round(t_end_s * fps) if frame_end is None else frame_end,
        confidence=confidence,
        payload={} if payload is None else payload,
        clip=clip,
    )


def model_settings(**fields: Any) -> Any:
    """`ModelSettings` on the run's shared export cache (`MODEL__EXPORT_DIR`, see `tests/conftest.py`).

    Tests that build their `MODEL__*` section by hand use this so the real model's export is made
    once per run, not once per test.
    """
    from cluster.settings import ModelSettings

    return ModelSettings(**({"export_dir": os.environ.get("MODEL__EXPORT_DIR")} | fields))
