"""`/alerts`: the review queue, statistics, detail, acknowledge / dismiss / escalate, notes and the case file.

Status changes go through `domain.alerts.transition`: a refused one is 409, and every change
writes an `alert_history` row (and, through the audit middleware, an `audit_log` row).
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, field_validator
from starlette.background import BackgroundTask

from deployments.api.audit import audit_as
from deployments.api.deps import CurrentUser, ScopeDep, SessionDep, not_found, require
from deployments.api.permissions import Permission
from deployments.api.privacy import PrivacyDep, wants_original
from deployments.api.routes.media import StoreDep
from deployments.api.schemas import Page
from deployments.api.tags import Tags
from domain.alerts import AlertAction, AlertStatus, InvalidTransitionError
from domain.scoring import Severity
from storage import crud
from storage.casefile import export_case_file
from storage.scope import CameraScope
from storage.models import (
    AlertDetailPublic,
    AlertHistoryPublic,
    AlertNotePublic,
    AlertPublic,
    AlertsPublic,
    utcnow,
)

__all__ = ["router", "AlertQuery", "ReasonBody", "NoteBody", "AlertStatsPublic", "CaseFilePublic"]

router = APIRouter(prefix="/alerts", tags=[Tags.ALERTS], dependencies=[Depends(require(Permission.READ))])
_REVIEW = Depends(require(Permission.ALERT_ACKNOWLEDGE))
_NOT_FOUND = "alert not found"


def _audit(verb: str) -> Any:
    """Record the request as `alert.{verb}` on the path's alert."""
    return Depends(audit_as(f"alert.{verb}", resource_type="alert", id_param="alert_id"))


class AlertQuery(Page):
    """Alert filters."""

    status: AlertStatus | None = None
    severity: Severity | None = None
    camera_id: str | None = None
    since: datetime | None = Field(None, description="Only alerts raised at or after this time")
    job_id: str | None = Field(None, description="Only this bulk job's alerts")


class ReasonBody(BaseModel):
    """A dismissal or escalation reason (required, not blank)."""

    reason: str = Field(min_length=1, max_length=2000)

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("reason must not be blank")
        return value.strip()


class NoteBody(BaseModel):
    """A reviewer's note (required, not blank)."""

    text: str = Field(min_length=1, max_length=10_000)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text must not be blank")
        return value.strip()


class AlertStatsPublic(BaseModel):
    """Alert counts by status and severity, and the mean time to acknowledge."""

    total: int
    by_status: dict[str, int]
    by_severity: dict[str, int]
    mean_time_to_acknowledge_s: float | None


class CaseFilePublic(BaseModel):
    """Everything about one alert for an investigation: the alert, notes, history and evidence."""

    alert: AlertPublic
    notes: list[AlertNotePublic]
    history: list[AlertHistoryPublic]
    event_ids: list[str]
    clip_keys: list[str]
    exported_at: datetime


def _visible(session: SessionDep, scope: CameraScope, alert_id: str) -> None:
    """404 unless the alert exists and its camera (or bulk job) is in the user's scope."""
    alert = crud.get_alert(session, alert_id)
    if alert is None or not scope.sees_row(session, camera_id=alert.camera_id, job_id=alert.job_id):
        raise not_found("alert")


def _detail(session: SessionDep, alert_id: str) -> AlertDetailPublic:
    alert = crud.get_alert(session, alert_id)
    if alert is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, _NOT_FOUND)
    return AlertDetailPublic.model_validate(
        {**AlertPublic.model_validate(alert).model_dump(),
         "notes": [AlertNotePublic.model_validate(n) for n in crud.list_notes(session, alert_id)],
         "history": [AlertHistoryPublic.model_validate(h) for h in crud.list_history(session, alert_id)]})  # fmt: skip


def _act(session: SessionDep, user: CurrentUser, scope: CameraScope, alert_id: str, action: AlertAction,
         reason: str | None = None) -> AlertDetailPublic:  # fmt: skip
    _visible(session, scope, alert_id)
    try:
        crud.apply_transition(session, alert_id, action, actor=user.username, reason=reason)
    except crud.NotFoundError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, _NOT_FOUND) from None
    except InvalidTransitionError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"alert is {exc.status.value}: cannot {exc.action.value}") from None  # fmt: skip
    return _detail(session, alert_id)


@router.get("")
def list_alerts(session: SessionDep, scope: ScopeDep, query: Annotated[AlertQuery, Depends()]) -> AlertsPublic:
    """List alerts matching the filters, newest first."""
    rows, count = crud.list_alerts(session, **query.model_dump(), scope=scope)
    return AlertsPublic(data=[AlertPublic.model_validate(a) for a in rows], count=count)


@router.get("/pending")
def pending_alerts(session: SessionDep, scope: ScopeDep, page: Annotated[Page, Depends()]) -> AlertsPublic:
    """The review queue: pending alerts, oldest first."""
    rows, count = crud.list_alerts(session, status=AlertStatus.PENDING, oldest_first=True, **page.model_dump(),
                                   scope=scope)
    return AlertsPublic(data=[AlertPublic.model_validate(a) for a in rows], count=count)


@router.get("/stats")
def alert_stats(session: SessionDep, scope: ScopeDep) -> AlertStatsPublic:
    """Alert counts by status and severity, and the mean time to acknowledge."""
    return AlertStatsPublic.model_validate(crud.alert_stats(session, scope=scope))


@router.get("/{alert_id}")
def get_alert(session: SessionDep, scope: ScopeDep, alert_id: str) -> AlertDetailPublic:
    """One alert with its notes and history."""
    _visible(session, scope, alert_id)
    return _detail(session, alert_id)


@router.get("/{alert_id}/case-file")
def case_file(session: SessionDep, scope: ScopeDep, alert_id: str) -> CaseFilePublic:
    """The alert's case file: alert, notes, history, evidence event ids and clip keys."""
    _visible(session, scope, alert_id)
    detail = _detail(session, alert_id)
    evidence: dict[str, Any] = detail.evidence or {}
    return CaseFilePublic(
        alert=AlertPublic.model_validate(detail.model_dump(exclude={"notes", "history"})), notes=detail.notes,
        history=detail.history, event_ids=list(evidence.get("event_ids", [])),
        clip_keys=list(evidence.get("clip_keys", [])), exported_at=utcnow(),
    )  # fmt: skip


@router.get("/{alert_id}/case-file.zip", response_class=StreamingResponse,
            responses={200: {"content": {"application/zip": {}}, "description": "case.json and the evidence clips"}})
def case_file_zip(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep, privacy: PrivacyDep,
                  store: StoreDep, alert_id: str,
                  unmasked: bool = Query(False, description="Original clips, faces visible "
                                         "(roles in PRIVACY__UNMASK_ROLES only; audited)")) -> StreamingResponse:  # fmt: skip
    """The alert's case file as a ZIP: `case.json` (alert, notes, history, events) and `clips/*.mp4`, faces masked."""
    _visible(session, scope, alert_id)
    original = wants_original(request, session, user, privacy, unmasked, resource_type="alert", resource_id=alert_id)
    spool = tempfile.SpooledTemporaryFile(max_size=32 << 20)
    try:
        export_case_file(session, alert_id, store, spool, actor=user.username, masked=not original)
    except LookupError:
        spool.close()
        raise HTTPException(status.HTTP_404_NOT_FOUND, _NOT_FOUND) from None
    spool.seek(0)
    headers = {"Content-Disposition": f'attachment; filename="case-{alert_id}.zip"'}
    return StreamingResponse(iter(lambda: spool.read(1 << 20), b""), media_type="application/zip", headers=headers,
                             background=BackgroundTask(spool.close))


@router.post("/{alert_id}/acknowledge", dependencies=[_REVIEW, _audit("acknowledge")])
def acknowledge_alert(session: SessionDep, user: CurrentUser, scope: ScopeDep, alert_id: str) -> AlertDetailPublic:
    """Acknowledge a pending alert."""
    return _act(session, user, scope, alert_id, AlertAction.ACKNOWLEDGE)


@router.post("/{alert_id}/dismiss", dependencies=[_REVIEW, _audit("dismiss")])
def dismiss_alert(session: SessionDep, user: CurrentUser, scope: ScopeDep, alert_id: str, body: ReasonBody) -> AlertDetailPublic:
    """Dismiss an open alert with a reason (kept as a retraining label)."""
    return _act(session, user, scope, alert_id, AlertAction.DISMISS, body.reason)


@router.post("/{alert_id}/escalate", dependencies=[_REVIEW, _audit("escalate")])
def escalate_alert(session: SessionDep, user: CurrentUser, scope: ScopeDep, alert_id: str, body: ReasonBody) -> AlertDetailPublic:
    """Escalate an open alert with a reason."""
    return _act(session, user, scope, alert_id, AlertAction.ESCALATE, body.reason)


@router.post("/{alert_id}/notes", status_code=status.HTTP_201_CREATED,
             dependencies=[_REVIEW, _audit("note")])  # fmt: skip
def add_alert_note(session: SessionDep, user: CurrentUser, scope: ScopeDep, alert_id: str, body: NoteBody) -> AlertDetailPublic:
    """Add a note to an alert (any status)."""
    return _act(session, user, scope, alert_id, AlertAction.NOTE, body.text)
