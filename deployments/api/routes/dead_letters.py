"""`/dead-letters/events`: live events the database refused (e.g. a value too long for its column).

The event sink isolates such an event from its batch (`actors.event_sink`) and keeps it here, so
the other events are stored and its camera is not wedged; this lists them for a supervisor.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from deployments.api.deps import CurrentUser, SessionDep, require, user_can_see_camera
from deployments.api.permissions import Permission
from deployments.api.tags import Tags
from storage import crud
from storage.models import DeadEventPublic, DeadEventsPublic
from storage.reliability import list_dead_events

__all__ = ["router", "DeadEventQuery"]

router = APIRouter(prefix="/dead-letters", tags=[Tags.EVENTS], dependencies=[Depends(require(Permission.AUDIT_READ))])


class DeadEventQuery(BaseModel):
    """Paging of the dead-lettered events."""

    limit: int = Field(50, ge=1, le=500, description="Page size")
    offset: int = Field(0, ge=0, description="Rows to skip")


@router.get("/events")
def list_dead_event_letters(session: SessionDep, user: CurrentUser,
                            query: Annotated[DeadEventQuery, Depends()]) -> DeadEventsPublic:  # fmt: skip
    """Live events the database refused, newest first (only cameras the user may see)."""
    cameras = crud.list_cameras(session, limit=100_000)[0]
    visible = [c.id for c in cameras if user_can_see_camera(user, c.camera_group)]
    scope = None if len(visible) == len(cameras) and user_can_see_camera(user, None) else visible
    rows, count = list_dead_events(session, camera_ids=scope, limit=query.limit, offset=query.offset)
    return DeadEventsPublic(data=[DeadEventPublic.model_validate(r) for r in rows], count=count)
