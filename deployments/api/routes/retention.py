"""`/retention`: per-site policies and the purge; `/alerts/{id}/holds`: legal holds on an alert's evidence."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, field_validator
from starlette.requests import HTTPConnection

from deployments.api.deps import CurrentUser, SessionDep, require
from deployments.api.permissions import Permission
from deployments.api.routes.media import StoreDep
from deployments.api.tags import Tags
from domain.retention import RetentionPolicy
from storage import crud
from storage.models import LegalHoldPublic
from storage.retention import active_holds, list_policies, place_hold, purge, release_hold, set_policy

__all__ = ["router", "holds_router", "HoldBody", "PurgePublic"]

router = APIRouter(prefix="/retention", tags=[Tags.RETENTION], dependencies=[Depends(require(Permission.READ))])
holds_router = APIRouter(prefix="/alerts", tags=[Tags.RETENTION], dependencies=[Depends(require(Permission.READ))])
_MANAGE = Depends(require(Permission.RETENTION_MANAGE))
_HOLD = Depends(require(Permission.LEGAL_HOLD))
SITE_PATTERN = r"^(\*|[A-Za-z0-9][A-Za-z0-9_-]{0,62})$"


class HoldBody(BaseModel):
    """Why a hold is placed or released (required, not blank)."""

    reason: str = Field(min_length=1, max_length=2000)

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("reason must not be blank")
        return value.strip()


class PurgePublic(BaseModel):
    """A purge's report: rows and objects deleted (or due, dry) per kind, items kept on hold, errors."""

    dry_run: bool
    rows: dict[str, int]
    objects: dict[str, int]
    held: int
    errors: list[str]


def _default(conn: HTTPConnection) -> RetentionPolicy:
    return RetentionPolicy.model_validate(getattr(conn.app.state, "retention", None) or {})


@router.get("/policies")
def get_policies(session: SessionDep) -> dict[str, RetentionPolicy]:
    """Stored retention policies by site ('*': every site without its own)."""
    return list_policies(session)


@router.put("/policies/{site}", dependencies=[_MANAGE])
def put_policy(session: SessionDep, user: CurrentUser, site: Annotated[str, PathParam(pattern=SITE_PATTERN)],
               policy: RetentionPolicy) -> RetentionPolicy:  # fmt: skip
    """Replace one site's retention policy (days per kind; null keeps forever)."""
    set_policy(session, site, policy, actor=user.username)
    return list_policies(session)[site]


@router.post("/purge", dependencies=[_MANAGE])
async def run_purge(conn: HTTPConnection, user: CurrentUser, store: StoreDep,
                    dry_run: bool = Query(True, description="Only report what would be deleted")) -> PurgePublic:  # fmt: skip
    """Purge what the policies no longer keep (legal holds respected); a dry run by default."""
    upload_dir = getattr(conn.app.state, "upload_dir", None)
    report = await run_in_threadpool(purge, conn.app.state.engine, store, default=_default(conn), dry_run=dry_run,
                                     upload_dir=Path(upload_dir) if upload_dir else None, actor=user.username)
    return PurgePublic.model_validate(report.as_dict())


@holds_router.get("/{alert_id}/holds")
def get_holds(session: SessionDep, alert_id: str) -> list[LegalHoldPublic]:
    """The alert's active legal holds."""
    if crud.get_alert(session, alert_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "alert not found")
    return [LegalHoldPublic.model_validate(h) for h in active_holds(session, alert_id)]


@holds_router.post("/{alert_id}/holds", status_code=status.HTTP_201_CREATED, dependencies=[_HOLD])
def add_hold(session: SessionDep, user: CurrentUser, alert_id: str, body: HoldBody) -> LegalHoldPublic:
    """Keep the alert's evidence from retention purges until released."""
    try:
        return LegalHoldPublic.model_validate(place_hold(session, alert_id, actor=user.username, reason=body.reason))
    except crud.NotFoundError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "alert not found") from None


@holds_router.post("/{alert_id}/holds/release", dependencies=[_HOLD])
def release_holds(session: SessionDep, user: CurrentUser, alert_id: str, body: HoldBody) -> list[LegalHoldPublic]:
    """Release the alert's legal holds; its evidence then follows the retention policy."""
    try:
        return [LegalHoldPublic.model_validate(h) for h in release_hold(session, alert_id, actor=user.username,
                                                                         reason=body.reason)]
    except crud.NotFoundError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no active legal hold") from None
