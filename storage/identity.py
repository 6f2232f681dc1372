"""Identity storage: people (global ids), their gallery embeddings, track links, sampled positions, focus.

Functions take a `Session`. The identity registry writes through `save_changes` and rebuilds
itself with `load_registry_state`; the person API reads with `list_persons`, `get_person`,
`person_positions`, `person_links`; bulk jobs stamp `global_id` on tracks and events with
`set_track_global_ids`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from storage.models import (
    Event,
    FocusSession,
    Identity,
    IdentityEmbedding,
    IdentityPosition,
    IdentityTrack,
    Track,
    utcnow,
)

__all__ = [
    "save_changes",
    "load_registry_state",
    "delete_expired",
    "list_persons",
    "get_person",
    "person_positions",
    "person_links",
    "set_track_global_ids",
    "set_event_global_ids",
    "job_person_numbers",
    "get_focus",
    "set_focus",
    "clear_focus",
]


def _upsert(session: Session, table: sa.Table, rows: list[dict[str, Any]], keys: list[str]) -> None:
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(table)
        updated = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys and c.name != "id"}
        session.execute(stmt.on_conflict_do_update(index_elements=keys, set_=updated), rows)
    else:  # make_engine accepts only these two
        raise ValueError(f"unsupported database dialect {dialect!r}")


def save_changes(session: Session, changes: Any) -> int:
    """Write a registry's `RegistryChanges` in one transaction (idempotent: rows are upserted by key).

    Order: people first (the other rows point at them), then merges (positions, tracks, events and
    focus of a merged young identity move to the person it joined), deletions (cascading to the
    person's embeddings, links and positions; tracks and events lose the `global_id`), then
    embeddings, links and positions.

    Args:
        session: open session.
        changes: `actors.identity_registry.RegistryChanges`.

    Returns:
        Rows written.
    """
    try:
        _upsert(session, Identity.__table__, changes.persons, ["global_id"])
        for young, target in changes.merged.items():
            for model in (IdentityPosition, IdentityEmbedding, IdentityTrack, Track, Event, FocusSession):
                session.execute(sa.update(model).where(model.global_id == young).values(global_id=target))
            # the young id stays as an alias (a camera may have shown it already); it expires with the person
            session.execute(sa.update(Identity).where(Identity.global_id == young).values(merged_into=target))
        gone = [g for g in changes.deleted if g not in changes.merged]
        if gone:
            for model in (Track, Event):
                session.execute(sa.update(model).where(model.global_id.in_(gone)).values(global_id=None))
            session.execute(sa.delete(FocusSession).where(FocusSession.global_id.in_(gone)))
            for model in (IdentityPosition, IdentityEmbedding, IdentityTrack):  # SQLite may not enforce cascades
                session.execute(sa.delete(model).where(model.global_id.in_(gone)))
            session.execute(sa.delete(Identity).where(Identity.global_id.in_(gone)))
        if changes.removed_embeddings:
            session.execute(sa.delete(IdentityEmbedding).where(IdentityEmbedding.id.in_(list(changes.removed_embeddings))))
        _upsert(session, IdentityEmbedding.__table__, [
            {k: r[k] for k in ("id", "global_id", "camera_id", "t_s", "quality", "vector")} for r in changes.embeddings
        ], ["id"])
        _upsert(session, IdentityTrack.__table__, list(changes.links), ["track_key"])
        if changes.positions:
            session.execute(sa.insert(IdentityPosition.__table__), list(changes.positions))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return len(changes.persons) + len(changes.embeddings) + len(changes.links) + len(changes.positions)


def _dicts(rows: Sequence[Any]) -> list[dict[str, Any]]:
    return [r.model_dump() for r in rows]


def load_registry_state(session: Session, *, site: str, now_s: float, history_s: float = 300.0,
                        job_id: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """What `IdentityRegistryCore.restore` needs: the site's unexpired people (live ones, or a job's).

    Args:
        session: open session.
        site: site name.
        now_s: wall clock (epoch s); people with `expires_at` before it are left out.
        history_s: positions from the last `history_s` seconds before each person's last sighting.
        job_id: a bulk job's people instead of the live ones.

    Returns:
        `{"persons", "embeddings", "links", "positions"}` lists of row dicts.
    """
    q = select(Identity).where(Identity.site == site, Identity.expires_at >= now_s, Identity.merged_into.is_(None))
    q = q.where(Identity.job_id == job_id) if job_id else q.where(Identity.job_id.is_(None))
    persons = list(session.exec(q).all())
    ids = [p.global_id for p in persons]
    if not ids:
        return {"persons": [], "embeddings": [], "links": [], "positions": []}
    last = {p.global_id: p.last_seen_s for p in persons}
    embeddings, links, positions = [], [], []
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        embeddings += _dicts(session.exec(select(IdentityEmbedding).where(IdentityEmbedding.global_id.in_(chunk))).all())
        links += _dicts(session.exec(select(IdentityTrack).where(IdentityTrack.global_id.in_(chunk))).all())
        oldest = min(last[g] for g in chunk) - history_s
        rows = session.exec(select(IdentityPosition).where(IdentityPosition.global_id.in_(chunk),
                                                           IdentityPosition.t_s >= oldest)).all()
        positions += [r.model_dump() for r in rows if r.t_s >= last[r.global_id] - history_s]
    return {"persons": _dicts(persons), "embeddings": embeddings, "links": links, "positions": positions}


def delete_expired(session: Session, *, now_s: float) -> list[tuple[str, str | None]]:
    """Delete every person (any site, live or bulk) whose `expires_at` is before `now_s`.

    Returns:
        `(global_id, crop_key)` of each deleted person (delete the crops from the object store).
    """
    from types import SimpleNamespace

    gone = [(g, k) for g, k in session.exec(select(Identity.global_id, Identity.crop_key)
                                            .where(Identity.expires_at < now_s)).all()]
    if gone:
        save_changes(session, SimpleNamespace(persons=[], merged={}, deleted=[g for g, _ in gone], removed_embeddings=[],
                                              embeddings=[], links=[], positions=[]))
    return gone


def delete_last_seen_before(session: Session, *, cutoff_s: float, dry_run: bool = False) -> list[tuple[str, str | None]]:
    """Delete every person last seen before `cutoff_s` (epoch s), with their embeddings, links and positions.

    The retention purge's "embeddings" kind (`storage.retention`); the registry's own, shorter
    expiry (`IDENTITY__RETENTION_S`) is `delete_expired`.

    Returns:
        `(global_id, crop_key)` of each person deleted (or, `dry_run`, due).
    """
    from types import SimpleNamespace

    due = [(g, k) for g, k in session.exec(select(Identity.global_id, Identity.crop_key)
                                           .where(Identity.last_seen_s < cutoff_s)).all()]
    if due and not dry_run:
        save_changes(session, SimpleNamespace(persons=[], merged={}, deleted=[g for g, _ in due], removed_embeddings=[],
                                              embeddings=[], links=[], positions=[]))
    return due


def list_persons(session: Session, *, site: str | None = None, cameras: Sequence[str] | None = None,
                 since_s: float | None = None, until_s: float | None = None, job_id: str | None = None,
                 limit: int = 100, offset: int = 0) -> tuple[list[Identity], int]:
    """People seen in `[since_s, until_s]` (epoch s), newest last-seen first.

    Args:
        site: only this site's people.
        cameras: only people with a track on one of these cameras (`None`: any camera).
        since_s: last seen at or after.
        until_s: first seen at or before.
        job_id: a bulk job's people (`None`: live people only).
        limit: page size.
        offset: rows skipped.

    Returns:
        `(page, total)`.
    """
    q = select(Identity).where(Identity.merged_into.is_(None))
    q = q.where(Identity.job_id == job_id) if job_id else q.where(Identity.job_id.is_(None))
    if site:
        q = q.where(Identity.site == site)
    if since_s is not None:
        q = q.where(Identity.last_seen_s >= since_s)
    if until_s is not None:
        q = q.where(Identity.first_seen_s <= until_s)
    if cameras is not None:
        q = q.where(Identity.global_id.in_(select(IdentityTrack.global_id).where(IdentityTrack.camera_id.in_(list(cameras)))))
    total = session.exec(select(sa.func.count()).select_from(q.subquery())).one()
    rows = session.exec(q.order_by(Identity.last_seen_s.desc()).offset(offset).limit(limit)).all()
    return list(rows), int(total)


def get_person(session: Session, global_id: str) -> Identity | None:
    """One person (following a merged tentative id to the person it joined), or `None`."""
    row = session.get(Identity, global_id)
    for _ in range(4):  # merges do not chain far
        if row is None or not row.merged_into:
            return row
        row = session.get(Identity, row.merged_into)
    return row


def person_positions(session: Session, global_id: str, *, limit: int = 5000) -> list[IdentityPosition]:
    """A person's sampled positions in time order (at most `limit`, the latest)."""
    rows = session.exec(select(IdentityPosition).where(IdentityPosition.global_id == global_id)
                        .order_by(IdentityPosition.t_s.desc()).limit(limit)).all()
    return list(reversed(rows))


def person_links(session: Session, global_id: str) -> list[IdentityTrack]:
    """A person's tracks (camera visits) in time order."""
    return list(session.exec(select(IdentityTrack).where(IdentityTrack.global_id == global_id)
                             .order_by(IdentityTrack.first_seen_s)).all())


def set_track_global_ids(session: Session, *, video_id: str, global_ids: dict[int, str]) -> int:
    """Stamp `global_id` on a video's stored tracks and on its events of those tracks (no commit)."""
    n = 0
    for track_id, gid in global_ids.items():
        n += session.execute(sa.update(Track).where(Track.video_id == video_id, Track.track_id == track_id)
                             .values(global_id=gid)).rowcount or 0
        session.execute(sa.update(Event).where(Event.video_id == video_id, Event.track_id == track_id)
                        .values(global_id=gid))
    return n


def set_event_global_ids(session: Session, *, event_ids: dict[str, str]) -> None:
    """Stamp `global_id` on events by id (no commit)."""
    for eid, gid in event_ids.items():
        session.execute(sa.update(Event).where(Event.id == eid).values(global_id=gid))


def job_person_numbers(session: Session, job_id: str) -> dict[str, int]:
    """`global_id → person number` (1, 2, …) of a job's people, numbered by first appearance."""
    rows = session.exec(select(Identity.global_id).where(Identity.job_id == job_id, Identity.merged_into.is_(None))
                        .order_by(Identity.first_seen_s, Identity.global_id)).all()
    return {gid: i + 1 for i, gid in enumerate(rows)}


def get_focus(session: Session, user_id: str) -> FocusSession | None:
    """A user's focus, or `None`."""
    return session.get(FocusSession, user_id)


def set_focus(session: Session, *, user_id: str, global_id: str) -> FocusSession:
    """Focus a user's session on a person (replacing any earlier focus)."""
    row = session.get(FocusSession, user_id) or FocusSession(user_id=user_id, global_id=global_id)
    row.global_id, row.created_at = global_id, utcnow()
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


def clear_focus(session: Session, user_id: str) -> bool:
    """Remove a user's focus; whether there was one."""
    row = session.get(FocusSession, user_id)
    if row is None:
        return False
    session.delete(row)
    session.commit()
    return True
