"""The chain-of-custody log in the database, and `verify`: re-hash the evidence and walk the chain.

`append` adds one entry (its `seq` the next number, its `prev_hash` the current head's hash); two
writers racing for the same `seq` collide on the primary key and the loser retries, so the chain
stays linear. Entries are never updated or deleted by the platform.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timezone
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from domain.custody import GENESIS_HASH, CustodyAction, entry_hash, sha256_hex, walk_chain
from storage import crud
from storage.models import CustodyEntry, utcnow
from storage.objectstore import ObjectNotFoundError, ObjectStore, ObjectStoreError

__all__ = ["append", "head", "entries_for", "last_writes", "verify", "VerifyReport", "CustodyLog"]

log = logging.getLogger(__name__)
_RETRIES = 20


def _fields(e: CustodyEntry) -> dict[str, Any]:
    return {"seq": e.seq, "at": e.at.astimezone(timezone.utc).isoformat(), "actor": e.actor, "action": e.action,
            "object_key": e.object_key, "sha256": e.sha256, "size_bytes": e.size_bytes, "key_id": e.key_id,
            "alert_id": e.alert_id, "detail": e.detail, "prev_hash": e.prev_hash, "entry_hash": e.entry_hash}


def append(session: Session, *, actor: str, action: str, object_key: str | None = None, sha256: str | None = None,
           size_bytes: int | None = None, key_id: str | None = None, alert_id: str | None = None,
           detail: dict[str, Any] | None = None) -> CustodyEntry:  # fmt: skip
    """Append one entry (committed) and return it.

    Raises:
        RuntimeError: the entry could not be appended after many concurrent collisions.
    """
    for _ in range(_RETRIES):
        last = session.exec(select(CustodyEntry).order_by(col(CustodyEntry.seq).desc()).limit(1)).first()
        seq, prev = (last.seq + 1, last.entry_hash) if last else (1, GENESIS_HASH)
        entry = CustodyEntry(seq=seq, at=utcnow(), actor=actor[:64], action=action, object_key=object_key,
                             sha256=sha256, size_bytes=size_bytes, key_id=key_id, alert_id=alert_id,
                             detail=detail or {}, prev_hash=prev, entry_hash="")
        entry.entry_hash = entry_hash(prev, _fields(entry))
        session.add(entry)
        try:
            session.commit()
        except IntegrityError:  # another writer took this seq: read the new head and try again
            session.rollback()
            continue
        session.refresh(entry)
        return entry
    raise RuntimeError("could not append to the custody log: too many concurrent writers")


def head(session: Session) -> tuple[int, str]:
    """`(seq, entry_hash)` of the newest entry; `(0, GENESIS_HASH)` for an empty log."""
    last = session.exec(select(CustodyEntry).order_by(col(CustodyEntry.seq).desc()).limit(1)).first()
    return (last.seq, last.entry_hash) if last else (0, GENESIS_HASH)


def entries_for(session: Session, object_key: str) -> list[CustodyEntry]:
    """Every entry about one object, oldest first."""
    stmt = select(CustodyEntry).where(CustodyEntry.object_key == object_key).order_by(col(CustodyEntry.seq))
    return list(session.exec(stmt).all())


def last_writes(session: Session, keys: list[str] | None = None) -> dict[str, CustodyEntry]:
    """The latest `write` (or `delete`) entry per object key (of `keys`, or all)."""
    stmt = select(CustodyEntry).where(col(CustodyEntry.action).in_([CustodyAction.WRITE, CustodyAction.DELETE]))
    if keys is not None:
        stmt = stmt.where(col(CustodyEntry.object_key).in_(keys))
    out: dict[str, CustodyEntry] = {}
    for e in session.exec(stmt.order_by(col(CustodyEntry.seq))).all():
        out[e.object_key] = e  # type: ignore[index]
    return out


@dataclass
class VerifyReport:
    """What `verify` found.

    Attributes:
        entries: entries walked. head_seq / head_hash: the chain's head.
        objects: objects re-hashed. ok: objects whose hash matches.
        changed: `(key, problem)` of objects whose content no longer matches (or cannot be read).
        missing: keys written and never deleted that are gone from the store.
        chain: breaks in the chain, `(seq, problem)`.
    """

    entries: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    objects: int = 0
    ok: int = 0
    changed: list[tuple[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    chain: list[tuple[int, str]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """No changed or missing object and no break in the chain."""
        return not (self.changed or self.missing or self.chain)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"passed": self.passed, "entries": self.entries, "head_seq": self.head_seq, "head_hash": self.head_hash,
                "objects": self.objects, "ok": self.ok, "changed": [{"key": k, "problem": p} for k, p in self.changed],
                "missing": self.missing, "chain": [{"seq": s, "problem": p} for s, p in self.chain]}


def verify(engine: Engine, store: ObjectStore, *, alert_id: str | None = None, actor: str = "verify",
           record: bool = True) -> VerifyReport:  # fmt: skip
    """Walk the whole chain, then re-hash every written object (or one alert's clips) and compare.

    Args:
        engine: the results database.
        store: the object store (an `EvidenceStore`, so encrypted objects are decrypted first).
        alert_id: only this alert's evidence clips (and their masked copies).
        actor: recorded on the `verify` entry appended with the result.
        record: append that entry.

    Raises:
        crud.NotFoundError: `alert_id` does not exist.
    """
    from domain.privacy import masked_key

    report = VerifyReport()
    with Session(engine) as s:
        rows = s.exec(select(CustodyEntry).order_by(col(CustodyEntry.seq))).all()
        problems, report.head_hash, report.entries = walk_chain(_fields(e) for e in rows)
        report.head_seq = rows[-1].seq if rows else 0
        report.chain = [(p.seq, p.problem) for p in problems]
        keys = None
        if alert_id is not None:
            alert = crud.get_alert(s, alert_id)
            if alert is None:
                raise crud.NotFoundError(f"alert {alert_id!r} not found")
            clip_keys = list((alert.evidence or {}).get("clip_keys", []))
            keys = clip_keys + [masked_key(k) for k in clip_keys]
        writes = last_writes(s, keys)
    for key, e in sorted(writes.items()):
        if e.action == CustodyAction.DELETE:
            continue
        report.objects += 1
        try:
            data = store.get_bytes(key)
        except ObjectNotFoundError:
            report.missing.append(key)
            continue
        except (ObjectStoreError, ValueError) as exc:  # e.g. it no longer decrypts: changed
            report.changed.append((key, str(exc)))
            continue
        digest = sha256_hex(data)
        if digest != e.sha256:
            report.changed.append((key, f"SHA-256 {digest[:16]}… differs from the {e.sha256[:16]}… recorded at "
                                        f"entry {e.seq} ({e.at:%Y-%m-%d %H:%M:%S} UTC)"))  # fmt: skip
        else:
            report.ok += 1
    if record:
        with Session(engine) as s:
            append(s, actor=actor, action=CustodyAction.VERIFY, alert_id=alert_id,
                   detail={k: v for k, v in report.as_dict().items() if k in ("passed", "objects", "ok", "entries")}
                   | {"changed": [k for k, _ in report.changed], "missing": report.missing, "chain_breaks": len(report.chain)})
    return report


class CustodyLog:
    """A picklable handle that appends custody entries to a database (the evidence store's recorder).

    Args:
        database_url: the results database (its engine is made on first use, in each process).
        actor: recorded on the `write` entries (the process role, e.g. `camera`, `job`).
    """

    def __init__(self, database_url: str, actor: str = "platform") -> None:
        self.database_url, self.actor = database_url, actor
        self._engine: Engine | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        return (CustodyLog, (self.database_url, self.actor))

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from storage.db import make_engine

            self._engine = make_engine(self.database_url)
        return self._engine

    def record(self, **fields: Any) -> CustodyEntry:
        """`append` with this log's actor unless `actor` is given."""
        fields.setdefault("actor", self.actor)
        with Session(self.engine, expire_on_commit=False) as s:
            return append(s, **fields)
