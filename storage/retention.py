"""Retention: stored policies, legal holds and the purge that deletes rows and objects together.

What is purged, per site (`domain.retention.resolve_policy`; a row's site is its job's `site`
parameter, or a live camera id's `site.` prefix):

| kind | rows | objects / files |
| --- | --- | --- |
| clips | `clip` created before the cut-off | the clip and its face-masked copy |
| events | `event` created before the cut-off (their clips first, counted as clips) | their clips |
| track_points | `track_point` of videos completed before the cut-off | — |
| uploads | — | files in the upload folder older than the cut-off (default policy) |
| embeddings | people (`identity`, with their embeddings, track links and positions) last seen before the cut-off | their best crops |
| audit | `audit_log` rows before the cut-off (default policy) | — |

Evidence of an alert under an active legal hold (escalation places one: `storage.crud.apply_transition`)
is never purged: its events, their clips, the clip keys it lists, its video's track points and upload.

Rows and objects go together, one clip at a time: the row is deleted (not yet committed), then
the objects; the commit follows only if every object is gone, so a failed object delete leaves both
in place (reported, retried at the next run). If the process dies between the object deletion and
the commit, the next run deletes the row whose object is gone. The chain-of-custody log is never
purged. Every run (dry runs too) writes one audit row `retention.purge` with its counts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from domain.privacy import masked_key
from domain.retention import DEFAULT_SITE, DataKind, RetentionPolicy, resolve_policy
from storage import crud
from storage import identity as identity_repo
from storage.models import (
    AuditLog,
    AuditLogCreate,
    Clip,
    Event,
    Job,
    LegalHold,
    RetentionPolicyRow,
    Track,
    TrackPoint,
    Video,
    utcnow,
)
from storage.objectstore import ObjectStore, ObjectStoreError

__all__ = ["PurgeReport", "list_policies", "set_policy", "place_hold", "release_hold",
           "active_holds", "held_evidence", "purge", "RETENTION_ACTOR"]

log = logging.getLogger(__name__)

RETENTION_ACTOR = "retention"


@dataclass
class PurgeReport:
    """What a purge deleted (or, dry, would delete).

    Attributes:
        dry_run: nothing was changed.
        rows: per kind, rows deleted (or due).
        objects: per kind, objects / files deleted (or due).
        held: items kept because of a legal hold.
        errors: what could not be deleted (kept for the next run).
        keys: object keys deleted (or due), for the audit and the custody log.
    """

    dry_run: bool
    rows: dict[str, int] = field(default_factory=lambda: {k.value: 0 for k in DataKind})
    objects: dict[str, int] = field(default_factory=lambda: {k.value: 0 for k in DataKind})
    held: int = 0
    errors: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready counts (keys not included)."""
        return {"dry_run": self.dry_run, "rows": self.rows, "objects": self.objects, "held": self.held,
                "errors": self.errors}


# ------------------------------------------------------------------------------------ policies
def list_policies(session: Session) -> dict[str, RetentionPolicy]:
    """Stored policies by site name (`*` = every site without its own)."""
    out = {}
    for row in session.exec(select(RetentionPolicyRow)).all():
        out[row.site] = RetentionPolicy(**{f"{k.value}_days": getattr(row, f"{k.value}_days") for k in DataKind})
    return out


def set_policy(session: Session, site: str, policy: RetentionPolicy, *, actor: str) -> RetentionPolicyRow:
    """Store (replace) the policy of `site` (`*` for the default row)."""
    row = session.get(RetentionPolicyRow, site) or RetentionPolicyRow(site=site)
    for kind in DataKind:
        setattr(row, f"{kind.value}_days", policy.days(kind))
    row.updated_by, row.updated_at = actor, utcnow()
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


# --------------------------------------------------------------------------------- legal holds
def place_hold(session: Session, alert_id: str, *, actor: str, reason: str) -> LegalHold:
    """Put an alert's evidence on hold (idempotent: an active hold is returned as it is).

    Raises:
        crud.NotFoundError: no such alert. ValueError: a blank reason.
    """
    if not reason or not reason.strip():
        raise ValueError("a legal hold needs a reason")
    if crud.get_alert(session, alert_id) is None:
        raise crud.NotFoundError(f"alert {alert_id!r} not found")
    current = active_holds(session, alert_id)
    if current:
        return current[0]
    hold = LegalHold(alert_id=alert_id, reason=reason.strip(), placed_by=actor)
    session.add(hold)
    session.commit()
    session.refresh(hold)
    return hold


def release_hold(session: Session, alert_id: str, *, actor: str, reason: str) -> list[LegalHold]:
    """Release every active hold on an alert; its evidence is then purged by the normal policy.

    Raises:
        crud.NotFoundError: the alert has no active hold. ValueError: a blank reason.
    """
    if not reason or not reason.strip():
        raise ValueError("releasing a legal hold needs a reason")
    holds = active_holds(session, alert_id)
    if not holds:
        raise crud.NotFoundError(f"alert {alert_id!r} has no active legal hold")
    now = utcnow()
    for hold in holds:
        hold.released_by, hold.released_at, hold.release_reason = actor, now, reason.strip()
        session.add(hold)
    session.commit()
    for hold in holds:
        session.refresh(hold)
    return holds


def active_holds(session: Session, alert_id: str | None = None) -> list[LegalHold]:
    """Holds not yet released (of one alert, or all)."""
    stmt = select(LegalHold).where(col(LegalHold.released_at).is_(None))
    if alert_id is not None:
        stmt = stmt.where(LegalHold.alert_id == alert_id)
    return list(session.exec(stmt.order_by(col(LegalHold.placed_at))).all())


def held_evidence(session: Session) -> tuple[set[str], set[str], set[str]]:
    """`(event_ids, clip_keys, video_ids)` of every alert under an active hold."""
    events: set[str] = set()
    keys: set[str] = set()
    videos: set[str] = set()
    for hold in active_holds(session):
        alert = crud.get_alert(session, hold.alert_id)
        if alert is None:
            continue
        evidence = alert.evidence or {}
        events.update(evidence.get("event_ids", []))
        keys.update(evidence.get("clip_keys", []))
        if alert.video_id:
            videos.add(alert.video_id)
    if events:
        keys.update(c.key for c in session.exec(select(Clip).where(col(Clip.event_id).in_(events))).all())
    return events, keys, videos


# ---------------------------------------------------------------------------------------- purge
def _site_of(camera_id: str | None, job_id: str | None, job_sites: dict[str, str | None]) -> str | None:
    if job_id is not None:
        return job_sites.get(job_id)
    return camera_id.split(".", 1)[0] if camera_id and "." in camera_id else None


def _audit(engine: Engine, report: PurgeReport, actor: str) -> None:
    with Session(engine) as s:
        crud.add_audit(s, AuditLogCreate(username=actor, method="TASK", path="retention.purge", action="retention.purge",
                                         resource_type="retention", status_code=200 if not report.errors else 207,
                                         detail=report.as_dict()))  # fmt: skip


def purge(engine: Engine, store: ObjectStore, *, default: RetentionPolicy | None = None, now: datetime | None = None,
          dry_run: bool = False, upload_dir: Path | None = None, actor: str = RETENTION_ACTOR,
          on_deleted: Callable[[str], None] | None = None) -> PurgeReport:  # fmt: skip
    """Delete what every site's policy no longer keeps (see the module doc); dry: only count it.

    Args:
        engine: the results database.
        store: the object store holding the clips.
        default: the settings' policy (`RETENTION__*`), under the stored `*` and per-site rows.
        now: the time the cut-offs count back from (default: now).
        dry_run: change nothing; the report says what would go.
        upload_dir: the API's upload folder (uploads are purged only when given).
        actor: who runs it (the audit row's user name).
        on_deleted: called with each object key once it is deleted (the chain of custody's hook).

    Returns:
        The report (also written to the audit log).
    """
    now = now or utcnow()
    report = PurgeReport(dry_run=dry_run)
    with Session(engine, expire_on_commit=False) as s:
        rows = list_policies(s)
        policy_of = lambda site: resolve_policy(site, rows, default or RetentionPolicy())  # noqa: E731
        job_sites = {j.id: (j.params or {}).get("site") for j in s.exec(select(Job)).all()}
        held_events, held_keys, held_videos = held_evidence(s)

    def cutoff(kind: DataKind, site: str | None) -> datetime | None:
        return policy_of(site).cutoff(kind, now)

    def due(kind: DataKind, created: datetime, site: str | None) -> bool:
        c = cutoff(kind, site)
        return c is not None and created < c

    # clips, then events (whose own clips go first)
    with Session(engine, expire_on_commit=False) as s:
        clips = list(s.exec(select(Clip)).all())
        events = {e.id: e for e in s.exec(select(Event)).all()}
    doomed_events = {eid for eid, e in events.items()
                     if due(DataKind.EVENTS, e.created_at, _site_of(e.camera_id, e.job_id, job_sites))}  # fmt: skip
    for clip in clips:
        event = events.get(clip.event_id)
        site = _site_of(event.camera_id if event else None, clip.job_id, job_sites)
        kind = DataKind.EVENTS if clip.event_id in doomed_events else DataKind.CLIPS
        if kind is DataKind.CLIPS and not due(DataKind.CLIPS, clip.created_at, site):
            continue
        if clip.key in held_keys or clip.event_id in held_events:
            report.held += 1
            continue
        _delete_clip(engine, store, clip, kind, report, dry_run, on_deleted, actor)
    for eid in sorted(doomed_events):
        if eid in held_events:
            report.held += 1
            continue
        if dry_run:
            report.rows[DataKind.EVENTS.value] += 1
            continue
        with Session(engine) as s:
            left = s.exec(select(Clip).where(Clip.event_id == eid)).first()
            if left is not None:  # a clip that could not be deleted keeps its event
                continue
            s.exec(sa.delete(Event).where(Event.id == eid))  # type: ignore[call-overload]
            s.commit()
        report.rows[DataKind.EVENTS.value] += 1

    # track points of completed videos
    with Session(engine) as s:
        videos = s.exec(select(Video).where(col(Video.completed_at).is_not(None))).all()
        for v in videos:
            if not due(DataKind.TRACK_POINTS, v.completed_at, job_sites.get(v.job_id)):
                continue
            if v.id in held_videos:
                report.held += 1
                continue
            track_pks = select(Track.id).where(Track.video_id == v.id)
            n = s.exec(select(sa.func.count()).select_from(TrackPoint).where(col(TrackPoint.track_pk).in_(track_pks))).one()
            if n and not dry_run:
                s.exec(sa.delete(TrackPoint).where(col(TrackPoint.track_pk).in_(track_pks)))  # type: ignore[call-overload]
            report.rows[DataKind.TRACK_POINTS.value] += int(n)
        if not dry_run:
            s.commit()

    # audit rows and embeddings (default policy)
    with Session(engine) as s:
        c = cutoff(DataKind.AUDIT, None)
        if c is not None:
            stmt = select(sa.func.count()).select_from(AuditLog).where(col(AuditLog.at) < c)
            report.rows[DataKind.AUDIT.value] = int(s.exec(stmt).one())
            if not dry_run:
                s.exec(sa.delete(AuditLog).where(col(AuditLog.at) < c))  # type: ignore[call-overload]
        c = cutoff(DataKind.EMBEDDINGS, None)
        if c is not None:  # a person's appearance data goes with them (storage.identity)
            due = identity_repo.delete_last_seen_before(s, cutoff_s=c.timestamp(), dry_run=dry_run)
            report.rows[DataKind.EMBEDDINGS.value] += len(due)
            for _, crop_key in due:
                if crop_key and not dry_run:
                    try:
                        store.delete(crop_key)
                    except ObjectStoreError as exc:
                        report.errors.append(f"person crop {crop_key}: {exc}")
        if not dry_run:
            s.commit()

    # uploads
    c = cutoff(DataKind.UPLOADS, None)
    if upload_dir is not None and c is not None and Path(upload_dir).is_dir():
        with Session(engine) as s:
            keep = {v.uri for v in s.exec(select(Video).where(col(Video.id).in_(held_videos))).all()} if held_videos else set()
        for path in sorted(p for p in Path(upload_dir).rglob("*") if p.is_file()):
            if datetime.fromtimestamp(path.stat().st_mtime, now.tzinfo) >= c:
                continue
            if str(path) in keep or str(path.resolve()) in keep:
                report.held += 1
                continue
            if not dry_run:
                try:
                    path.unlink()
                except OSError as exc:
                    report.errors.append(f"{path}: {exc}")
                    continue
            report.objects[DataKind.UPLOADS.value] += 1
    _audit(engine, report, actor)
    log.info("retention purge%s: %s", " (dry run)" if dry_run else "", report.as_dict())
    return report


def _delete_clip(engine: Engine, store: ObjectStore, clip: Clip, kind: DataKind, report: PurgeReport, dry_run: bool,
                 on_deleted: Callable[[str], None] | None, actor: str) -> None:  # fmt: skip
    keys = [clip.key, masked_key(clip.key)]
    kind = DataKind.CLIPS  # an event's clips are counted as clips; `kind` says why they went
    if dry_run:
        report.rows[kind.value] += 1
        report.objects[kind.value] += sum(1 for k in keys if store.exists(k))
        report.keys.append(clip.key)
        return
    # The bytes go through the store underneath an evidence layer; its custody entries are written
    # after the commit (a second writer inside this transaction would wait on SQLite's lock).
    raw = getattr(store, "inner", store)
    custody_log = getattr(store, "custody", None)
    with Session(engine) as s:
        s.exec(sa.delete(Clip).where(Clip.id == clip.id))  # type: ignore[call-overload]
        s.flush()
        try:
            present = [k for k in keys if raw.exists(k)]
            for k in present:
                raw.delete(k)
        except (ObjectStoreError, OSError) as exc:  # both stay; the next run tries again
            s.rollback()
            report.errors.append(f"{clip.key}: {exc}")
            return
        s.commit()
    report.rows[kind.value] += 1
    report.objects[kind.value] += len(present)
    report.keys.append(clip.key)
    for k in present:
        if custody_log is not None:
            custody_log.record(action="delete", object_key=k, actor=actor, detail={"reason": "retention"})
        if on_deleted is not None:
            on_deleted(k)
