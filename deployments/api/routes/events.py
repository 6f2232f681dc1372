"""`/events`: stored rule firings, filtered and paged."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from deployments.api.deps import ScopeDep, SessionDep, not_found, require
from deployments.api.permissions import Permission
from deployments.api.schemas import EventQuery
from deployments.api.tags import Tags
from storage import crud
from storage.models import EventPublic, EventsPublic

__all__ = ["router"]

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
