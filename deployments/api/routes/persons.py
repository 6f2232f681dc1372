"""People across cameras (`/persons`) and a user's focus track (`/tracking/focus`, `/ws/focus`).

Names follow the SpotOn plan: `GET /persons/{global_id}` is its person details,
`/persons/{global_id}/journey` its journey analysis, `/persons/{global_id}/image` the cropped
person image, `POST/GET/DELETE /tracking/focus` the focus track of the user's session and
`focus_update` the WebSocket message. An unknown person and a person on no camera the user may
see are both 404 `person not found`.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response, WebSocket, status
from pydantic import BaseModel, Field
from starlette.websockets import WebSocketDisconnect

from deployments.api import persons as svc
from deployments.api.deps import CurrentUser, SessionDep, require
from deployments.api.permissions import Permission
from deployments.api.routes.media import StoreDep
from deployments.api.tags import Tags
from storage import identity as repo
from storage.db import session_scope
from storage.objectstore import ObjectNotFoundError

__all__ = ["router", "ws_router", "PersonsQuery", "FocusRequest"]

router = APIRouter(tags=[Tags.PERSONS], dependencies=[Depends(require(Permission.READ))])
ws_router = APIRouter(prefix="/ws", tags=[Tags.PERSONS], dependencies=[Depends(require(Permission.READ))])
NOT_FOUND = "person not found"


class PersonsQuery(BaseModel):
    site: str | None = Field(None, description="Only this site's people")
    active_s: float | None = Field(None, gt=0, description="Seen in the last N seconds ('active now')")
    since: float | None = Field(None, description="Last seen at or after (epoch s)")
    until: float | None = Field(None, description="First seen at or before (epoch s)")
    job_id: str | None = Field(None, description="A bulk job's people instead of the live ones")
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0)


class FocusRequest(BaseModel):
    global_id: str = Field(min_length=1, max_length=36, description="The person to focus on")


def _person(session, user, global_id: str):
    p = svc.visible_person(session, user, global_id)
    if p is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    return p


@router.get("/persons", response_model=svc.PersonsPublic)
def list_persons(session: SessionDep, user: CurrentUser, query: Annotated[PersonsQuery, Depends()]) -> svc.PersonsPublic:
    """People seen now (`active_s`) or in a time range, newest first."""
    since = time.time() - query.active_s if query.active_s else query.since
    rows, total = repo.list_persons(session, site=query.site, cameras=svc.visible_cameras(session, user), since_s=since,
                                    until_s=query.until, job_id=query.job_id, limit=query.limit, offset=query.offset)
    return svc.PersonsPublic(data=[svc.summary(p) for p in rows], count=total)


@router.get("/persons/{global_id}", response_model=svc.PersonDetails)
def get_person(global_id: str, session: SessionDep, user: CurrentUser) -> svc.PersonDetails:
    """A person: first and last seen, current camera, position history on the plan, movement metrics."""
    return svc.details(session, _person(session, user, global_id))


@router.get("/persons/{global_id}/journey", response_model=svc.JourneyPublic)
def get_journey(global_id: str, session: SessionDep, user: CurrentUser) -> svc.JourneyPublic:
    """The person's camera visits in order, with their events and clips."""
    return svc.journey(session, _person(session, user, global_id))


@router.get("/persons/{global_id}/image", response_class=Response, responses={200: {"content": {"image/jpeg": {}}}})
def get_image(global_id: str, session: SessionDep, user: CurrentUser, store: StoreDep) -> Response:
    """The person's best crop (JPEG)."""
    p = _person(session, user, global_id)
    if not p.crop_key:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no image of this person")
    try:
        data = store.get_bytes(p.crop_key)
    except ObjectNotFoundError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no image of this person") from None
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=60"})


def _focus_state(session, user) -> svc.FocusState:
    row = repo.get_focus(session, user.id)
    if row is None:
        return svc.FocusState(focused_person_id=None)
    p = svc.visible_person(session, user, row.global_id)
    if p is None:  # expired, or no longer visible
        return svc.FocusState(focused_person_id=None)
    return svc.FocusState(focused_person_id=p.global_id, focus_start_time=row.created_at.isoformat(),
                          person_details=svc.details(session, p, history_limit=200))


@router.post("/tracking/focus", response_model=svc.FocusState)
def set_focus(body: FocusRequest, session: SessionDep, user: CurrentUser) -> svc.FocusState:
    """Focus the user's session on a person (highlighted in every camera)."""
    _person(session, user, body.global_id)
    repo.set_focus(session, user_id=user.id, global_id=body.global_id)
    return _focus_state(session, user)


@router.get("/tracking/focus", response_model=svc.FocusState)
def get_focus(session: SessionDep, user: CurrentUser) -> svc.FocusState:
    """The user's current focus (`focused_person_id` null when none)."""
    return _focus_state(session, user)


@router.delete("/tracking/focus", status_code=status.HTTP_204_NO_CONTENT)
def clear_focus(session: SessionDep, user: CurrentUser) -> Response:
    """Clear the user's focus."""
    repo.clear_focus(session, user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@ws_router.websocket("/focus")
async def focus_updates(websocket: WebSocket, user: CurrentUser, session: SessionDep) -> None:
    """`focus_update` messages: the focused person's details whenever they change (or the focus does)."""
    engine = session.get_bind()
    session.close()
    interval_s = float(getattr(websocket.app.state, "focus_interval_s", 1.0))
    await websocket.accept()
    last = None

    def read() -> str:
        with session_scope(engine) as s:
            state = _focus_state(s, user)
        return json.dumps({"type": "focus_update", "kind": "focus_update", "payload": state.model_dump()})

    async def watch() -> None:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass

    watcher = asyncio.ensure_future(watch())
    try:
        while not watcher.done():
            message = await asyncio.to_thread(read)
            if message != last:
                await websocket.send_text(message)
                last = message
            await asyncio.wait([watcher], timeout=interval_s)
    except WebSocketDisconnect:
        pass
    finally:
        watcher.cancel()
