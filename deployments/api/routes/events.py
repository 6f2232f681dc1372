"""`/events`: stored rule firings, filtered and paged."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status

from deployments.api.deps import SessionDep, require
from deployments.api.permissions import Permission
from deployments.api.schemas import EventQuery
from deployments.api.tags import Tags
from storage import crud
from storage.models import EventPublic, EventsPublic

__all__ = ["router"]

router = APIRouter(prefix="/events", tags=[Tags.EVENTS], dependencies=[Depends(require(Permission.READ))])


@router.get("")
def list_events(session: SessionDep, query: Annotated[EventQuery, Depends()]) -> EventsPublic:
    """List events matching the filters, ordered by start time."""
    rows, count = crud.list_events(session, **query.model_dump())
    return EventsPublic(data=[EventPublic.model_validate(e) for e in rows], count=count)


@router.get("/{event_id}")
def get_event(session: SessionDep, event_id: str) -> EventPublic:
    """Get one event."""
    event = crud.get_event(session, event_id)
    if event is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "event not found")
    return EventPublic.model_validate(event)
