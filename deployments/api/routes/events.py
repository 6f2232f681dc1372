"""`/events`: stored rule firings, filtered and paged."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from deployments.api.audit import audit_as
from deployments.api.deps import CurrentUser, ScopeDep, SessionDep, not_found, require
from deployments.api.permissions import Permission
from deployments.api.schemas import EventQuery
from deployments.api.tags import Tags
from storage import crud
from domain.labels import EventVerdict
from storage.labels import review_event
from storage.models import EventPublic, EventsPublic, TrainingLabelPublic

__all__ = ["router", "EventReview"]

router = APIRouter(prefix="/events", tags=[Tags.EVENTS], dependencies=[Depends(require(Permission.READ))])


@router.get("")
def list_events(session: SessionDep, scope: ScopeDep, query: Annotated[EventQuery, Depends()]) -> EventsPublic:
    """List events matching the filters, ordered by start time."""
    rows, count = crud.list_events(session, **query.model_dump(), scope=scope)
    return EventsPublic(data=[EventPublic.model_validate(e) for e in rows], count=count)


@router.get("/{event_id}")
def get_event(session: SessionDep, scope: ScopeDep, event_id: str) -> EventPublic:
    """Get one event."""
    event = crud.get_event(session, event_id)
    if event is None or not scope.sees_row(session, camera_id=event.camera_id, job_id=event.job_id):
        raise not_found("event")
    return EventPublic.model_validate(event)


class EventReview(BaseModel):
    """An operator's verdict on an event: it becomes a training label (`domain.labels`)."""

    model_config = ConfigDict(extra="forbid")

    verdict: EventVerdict = Field(description="confirm: it happened; reject: it did not (the person was normal)")
    reason: str | None = Field(None, max_length=2000, description="Why (optional)")


@router.post("/{event_id}/review", dependencies=[Depends(require(Permission.ALERT_ACKNOWLEDGE)),
                                                  Depends(audit_as("event.review", resource_type="event",
                                                                   id_param="event_id"))])  # fmt: skip
def review(session: SessionDep, user: CurrentUser, scope: ScopeDep, event_id: str, body: EventReview) -> TrainingLabelPublic:
    """Confirm or reject an event; the verdict is stored as a training label (422 for a non-behaviour event)."""
    event = crud.get_event(session, event_id)
    if event is None or not scope.sees_row(session, camera_id=event.camera_id, job_id=event.job_id):
        raise not_found("event")
    try:
        row = review_event(session, event_id, body.verdict.value, actor=user.username,
                           reason=(body.reason or "").strip() or None)  # fmt: skip
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return TrainingLabelPublic.model_validate(row)
