"""Repository functions for operators' training labels (`TrainingLabel`, migration 0014).

A label is written in the same transaction as the decision it comes from: `crud.apply_transition`
calls `label_alert` when an alert is dismissed or escalated; `review_event` stores an event's
verdict. There is one label per alert and one per event: a later decision replaces the earlier one.
The labels' pose windows are read by `pose_windows` (bulk: the track's stored keypoints; live:
the windows the camera attached to the alert's evidence).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlmodel import Session, col, func, select

from domain.labels import LabelSource, LabelSpec, alert_label, event_label
from storage.models import Alert, Event, TrainingLabel, utcnow
from storage.scope import CameraScope

__all__ = ["label_alert", "review_event", "add_manual_label", "correct_label", "list_labels", "label_counts", "pose_windows"]


def _upsert(session: Session, *, where: Any, spec: LabelSpec, values: dict[str, Any]) -> TrainingLabel:
    row = session.exec(select(TrainingLabel).where(where)).first() or TrainingLabel(source="", label="", given_by="")
    row.source, row.label, row.t_start_s, row.t_end_s = spec.source.value, spec.label, spec.t_start_s, spec.t_end_s
    for k, v in values.items():
        setattr(row, k, v)
    row.created_at = utcnow()
    session.add(row)
    return row


def label_alert(session: Session, alert: Alert, action: str, *, actor: str, reason: str | None) -> TrainingLabel | None:
    """Add (not commit) the label a dismissal / escalation of `alert` gives; `None` when it gives none.

    Args:
        session: open session (the caller commits, with the alert's change).
        alert: the alert decided on.
        action: `"dismiss"` or `"escalate"`; other actions label nothing.
        actor: who decided (username).
        reason: the decision's reason.
    """
    spec = alert_label(action, alert.evidence)
    if spec is None:
        return None
    return _upsert(session, where=col(TrainingLabel.alert_id) == alert.id, spec=spec, values={
        "alert_id": alert.id, "event_id": None, "camera_id": alert.camera_id, "job_id": alert.job_id,
        "video_id": alert.video_id, "track_id": alert.track_id, "given_by": actor, "reason": reason})  # fmt: skip


def review_event(session: Session, event_id: str, verdict: str, *, actor: str, reason: str | None = None) -> TrainingLabel:
    """Store an operator's verdict on an event as a label (replacing an earlier one), and commit.

    Raises:
        storage.crud.NotFoundError: no such event.
        ValueError: an unknown verdict, or an event that is not of a behaviour class.
    """
    from storage.crud import NotFoundError

    event = session.get(Event, event_id)
    if event is None:
        raise NotFoundError(f"event {event_id!r} not found")
    spec = event_label(verdict, event.type, event.t_start_s, event.t_end_s)
    row = _upsert(session, where=col(TrainingLabel.event_id) == event.id, spec=spec, values={
        "alert_id": None, "event_id": event.id, "camera_id": event.camera_id, "job_id": event.job_id,
        "video_id": event.video_id, "track_id": event.track_id, "given_by": actor, "reason": reason})  # fmt: skip
    session.commit()
    session.refresh(row)
    return row


def add_manual_label(session: Session, *, video_id: str, track_id: int, t_start_s: float, t_end_s: float, label: str,
                     actor: str, reason: str | None = None) -> TrainingLabel:  # fmt: skip
    """Store an ML engineer's label of a span of one bulk video's track (source `manual`), and commit.

    Raises:
        storage.crud.NotFoundError: no such video, or no such track in it.
        ValueError: a label that is not a behaviour class, or `t_end_s < t_start_s`.
    """
    from domain.behaviour_model import normalize_label
    from storage.crud import NotFoundError
    from storage.models import Track, Video

    video = session.get(Video, video_id)
    if video is None:
        raise NotFoundError(f"video {video_id!r} not found")
    if session.exec(select(Track).where(Track.video_id == video_id, Track.track_id == track_id)).first() is None:
        raise NotFoundError(f"track {track_id} not found in video {video_id!r}")
    if t_end_s < t_start_s:
        raise ValueError(f"t_end_s ({t_end_s}) must not be before t_start_s ({t_start_s})")
    row = TrainingLabel(source=LabelSource.MANUAL.value, label=normalize_label(label), camera_id=video.camera_id,
                        job_id=video.job_id, video_id=video_id, track_id=track_id, t_start_s=t_start_s,
                        t_end_s=t_end_s, given_by=actor, reason=reason)  # fmt: skip
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


def correct_label(session: Session, label_id: str, *, label: str, actor: str, reason: str | None = None) -> TrainingLabel:
    """Change a label's class (its source stays; `given_by` becomes the corrector), and commit.

    Raises:
        storage.crud.NotFoundError: no such label.
        ValueError: a label that is not a behaviour class.
    """
    from domain.behaviour_model import normalize_label
    from storage.crud import NotFoundError

    row = session.get(TrainingLabel, label_id)
    if row is None:
        raise NotFoundError(f"training label {label_id!r} not found")
    row.label, row.given_by, row.created_at = normalize_label(label), actor, utcnow()
    if reason:
        row.reason = reason
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


def _conditions(*, scope: CameraScope | None, source: LabelSource | str | None, label: str | None,
                camera_id: str | None, since: datetime | None) -> list[Any]:  # fmt: skip
    out: list[Any] = [] if scope is None else [scope.row_clause(camera_id=TrainingLabel.camera_id,
                                                                job_id=TrainingLabel.job_id)]  # fmt: skip
    if source is not None:
        out.append(col(TrainingLabel.source) == LabelSource(source).value)
    if label is not None:
        out.append(col(TrainingLabel.label) == label)
    if camera_id is not None:
        out.append(col(TrainingLabel.camera_id) == camera_id)
    if since is not None:
        out.append(col(TrainingLabel.created_at) >= since)
    return out


def list_labels(
    session: Session, *, scope: CameraScope | None = None, source: LabelSource | str | None = None,
    label: str | None = None, camera_id: str | None = None, since: datetime | None = None,
    limit: int | None = 100, offset: int = 0,
) -> tuple[list[TrainingLabel], int]:
    """Labels matching every given filter, newest first, and how many match.

    Args:
        scope: only labels of cameras / jobs this scope sees (`None`: all).
        source: a `LabelSource`. label: a class. camera_id: one camera. since: created at or after.
        limit: page size (`None`: every row, for the dataset builder). offset: rows skipped.

    Raises:
        ValueError: an unknown source.
    """
    where = _conditions(scope=scope, source=source, label=label, camera_id=camera_id, since=since)
    total = session.exec(select(func.count()).select_from(TrainingLabel).where(*where)).one()
    stmt = select(TrainingLabel).where(*where).order_by(col(TrainingLabel.created_at).desc(), col(TrainingLabel.id))
    stmt = stmt.offset(offset) if limit is None else stmt.offset(offset).limit(limit)
    return list(session.exec(stmt).all()), int(total)


def label_counts(
    session: Session, *, scope: CameraScope | None = None, source: LabelSource | str | None = None,
    label: str | None = None, camera_id: str | None = None, since: datetime | None = None,
) -> tuple[dict[str, int], dict[str, int]]:
    """`(by_class, by_source)`: counts of the labels matching the filters (see `list_labels`)."""
    where = _conditions(scope=scope, source=source, label=label, camera_id=camera_id, since=since)
    by: list[dict[str, int]] = []
    for column in (TrainingLabel.label, TrainingLabel.source):
        rows = session.exec(select(column, func.count()).where(*where).group_by(column).order_by(column)).all()
        by.append({str(k): int(n) for k, n in rows})
    return by[0], by[1]


def pose_windows(session: Session, row: TrainingLabel, *, window: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """The labelled person's pose-window features over the label's span.

    Bulk labels (a `video_id` and `track_id`) are featurised from the track's stored keypoints
    (`domain.pose_features.window_features`); live labels use the windows the camera attached to
    the alert (`evidence["pose_windows"]`), when they were computed with the same window and stride.

    Args:
        row: the label.
        window / stride: frames per window and between windows (the training run's).

    Returns:
        `(features, bounds_s)`: `(W, 21)` float32 in `FEATURE_NAMES` order and `(W, 2)` window
        `[first, last]` seconds; empty (`W = 0`) when no pose is stored for the label.
    """
    from domain.labels import windows_in_span
    from domain.pose_features import FEATURE_NAMES, window_features

    empty = np.zeros((0, len(FEATURE_NAMES)), np.float32), np.zeros((0, 2), np.float64)
    feats, bounds_s = empty
    if row.video_id is not None and row.track_id is not None:
        feats, bounds_s = _track_windows(session, row.video_id, row.track_id, window=window, stride=stride)
    if len(feats) == 0:
        feats, bounds_s = _attached_windows(session, row, window=window, stride=stride)
    if len(feats) == 0:
        return empty
    keep = windows_in_span(bounds_s, row.t_start_s, row.t_end_s) & np.isfinite(feats).any(axis=1)
    return feats[keep].astype(np.float32), bounds_s[keep]


def _track_windows(session: Session, video_id: str, track_id: int, *, window: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    from domain.pose_features import FEATURE_NAMES, window_features
    from storage.models import Track, TrackPoint

    track = session.exec(select(Track).where(Track.video_id == video_id, Track.track_id == track_id)).first()
    points: Sequence[TrackPoint] = [] if track is None else session.exec(
        select(TrackPoint).where(TrackPoint.track_pk == track.id).order_by(col(TrackPoint.frame_index))).all()  # fmt: skip
    points = [p for p in points if p.keypoints is not None]
    if len(points) < window:
        return np.zeros((0, len(FEATURE_NAMES)), np.float32), np.zeros((0, 2))
    kp = np.asarray([p.keypoints for p in points], np.float32).reshape(-1, 17, 3)
    t_s = np.asarray([p.t_s for p in points], np.float64)
    xyxy = np.asarray([[p.x1, p.y1, p.x2, p.y2] for p in points], np.float32)
    feats, bounds = window_features(kp, t_s, xyxy, window=window, stride=stride)
    bounds_s = np.stack([t_s[bounds[:, 0]], t_s[bounds[:, 1] - 1]], axis=1) if len(bounds) else np.zeros((0, 2))
    return feats, bounds_s


def _attached_windows(session: Session, row: TrainingLabel, *, window: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    from domain.pose_features import FEATURE_NAMES

    none = np.zeros((0, len(FEATURE_NAMES)), np.float32), np.zeros((0, 2))
    alert = session.get(Alert, row.alert_id) if row.alert_id else None
    if alert is None and row.event_id is not None:  # a live event: the alert whose evidence lists it
        for a in session.exec(select(Alert).where(col(Alert.camera_id) == row.camera_id,
                                                  col(Alert.track_id) == row.track_id)).all():  # fmt: skip
            if row.event_id in (a.evidence or {}).get("event_ids", []):
                alert = a
                break
    attached = ((alert.evidence or {}).get("pose_windows") or {}) if alert is not None else {}
    if not attached.get("features") or attached.get("window") != window or attached.get("stride") != stride:
        return none
    feats = np.asarray(attached["features"], np.float32).reshape(-1, len(FEATURE_NAMES))
    bounds_s = np.asarray(attached["bounds_s"], np.float64).reshape(-1, 2)
    return feats, bounds_s
