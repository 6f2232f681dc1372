"""Which stored model version serves each stage (`production`, `staging`): promotions and rollbacks (table `model_stage_change`).

The model files and their lineage live in the object store (`storage.model_registry`); this
table says which version each stage uses, with a row per change (who, when, from which version),
so the history is the audit trail and `rollback` returns a stage to the version it had before
its last change. Live cameras follow a stage's version (`actors.model_watch`); `STAGE_KEY`
names the Redis key a promotion also writes so they notice within seconds.
"""

from __future__ import annotations

from enum import Enum

from sqlmodel import Session, col, select

from storage.db import commit
from storage.model_registry import resolve_version
from storage.models import ModelStageChange
from storage.objectstore import ObjectStore

__all__ = ["Stage", "STAGE_CHANNEL", "stage_key", "current_version", "current_stages", "promote", "rollback",
           "resolve_model_version", "stage_history"]


class Stage(str, Enum):
    """A deployment stage of a model kind."""

    PRODUCTION = "production"
    STAGING = "staging"


STAGE_CHANNEL = "witness:models"  # Redis channel: {"kind", "stage", "version"} on every change


def stage_key(kind: str, stage: Stage | str) -> str:
    """Redis key holding the version a stage uses now (`""`: none), e.g. `witness:models:behaviour:production`."""
    return f"witness:models:{kind}:{Stage(stage).value}"


def _latest(session: Session, kind: str, stage: Stage) -> ModelStageChange | None:
    stmt = (select(ModelStageChange).where(ModelStageChange.kind == kind, ModelStageChange.stage == stage.value)
            .order_by(col(ModelStageChange.id).desc()).limit(1))  # fmt: skip
    return session.exec(stmt).first()


def current_version(session: Session, kind: str, stage: Stage | str) -> str | None:
    """The version `stage` uses now, `None` if nothing was ever promoted to it.

    Raises:
        ValueError: an unknown stage.
    """
    row = _latest(session, kind, Stage(stage))
    return row.version if row is not None else None


def current_stages(session: Session, kind: str) -> dict[str, str | None]:
    """`{stage: version or None}` for every stage."""
    return {s.value: current_version(session, kind, s) for s in Stage}


def _change(session: Session, *, kind: str, stage: Stage, version: str | None, action: str, actor: str) -> ModelStageChange:
    if not actor or not actor.strip():
        raise ValueError("actor must not be empty")
    previous = current_version(session, kind, stage)
    row = ModelStageChange(kind=kind, stage=stage.value, version=version, previous_version=previous, action=action,
                           actor=actor.strip()[:64])  # fmt: skip
    session.add(row)
    commit(session, row)
    return row


def promote(session: Session, store: ObjectStore, *, kind: str, version: str, stage: Stage | str,
            actor: str) -> ModelStageChange:  # fmt: skip
    """Make `stage` use `version` (a stored, complete version; `latest` resolves to the newest).

    Args:
        session: open session (committed here).
        store: the object store the versions live in.
        kind: model family, e.g. `behaviour`.
        version: e.g. `v0003` or `latest`.
        stage: `production` or `staging`.
        actor: who promotes (username).

    Returns:
        The stored change (`previous_version`: what the stage used before).

    Raises:
        ValueError: an unknown stage, a malformed version, an empty actor, or a version the stage already uses.
        storage.model_registry.ModelNotFoundError: no such version in the store.
    """
    st = Stage(stage)
    concrete = resolve_version(store, kind, version)
    if current_version(session, kind, st) == concrete:
        raise ValueError(f"{kind} model {concrete} is already in {st.value}")
    return _change(session, kind=kind, stage=st, version=concrete, action="promote", actor=actor)


def rollback(session: Session, *, kind: str, stage: Stage | str, actor: str) -> ModelStageChange:
    """Return `stage` to the version it used before its last change.

    Raises:
        ValueError: an unknown stage, an empty actor, or a stage with nothing to roll back to.
    """
    st = Stage(stage)
    last = _latest(session, kind, st)
    if last is None or last.previous_version is None:
        raise ValueError(f"{kind} {st.value} has no earlier version to roll back to")
    return _change(session, kind=kind, stage=st, version=last.previous_version, action="rollback", actor=actor)


def resolve_model_version(session: Session, kind: str, version: str) -> str:
    """A `BEHAVIOUR__MODEL_VERSION`-style value with stage names resolved: `production` / `staging` → the
    version that stage uses; anything else (`latest`, `v0003`) unchanged.

    Raises:
        storage.model_registry.ModelNotFoundError: a stage nothing was promoted to.
    """
    from storage.model_registry import ModelNotFoundError

    if version not in {s.value for s in Stage}:
        return version
    concrete = current_version(session, kind, version)
    if concrete is None:
        raise ModelNotFoundError(f"no {kind} model is in {version}: promote one with `witness models promote VERSION "
                                 f"--stage {version}`")  # fmt: skip
    return concrete


def stage_history(session: Session, kind: str, *, limit: int = 50) -> list[ModelStageChange]:
    """Changes of every stage of `kind`, newest first."""
    stmt = (select(ModelStageChange).where(ModelStageChange.kind == kind)
            .order_by(col(ModelStageChange.id).desc()).limit(limit))  # fmt: skip
    return list(session.exec(stmt).all())
