"""WebSockets: live tracking, new events and camera health, new alerts, bulk-job progress.

Mount `router` twice: in `create_app(extra_routers=[...])` (→ `/api/v1/ws/...`, behind the token)
and at the root with `app.include_router(ws.router)` (→ `/ws/...`). Every endpoint requires an
access token itself (`?access_token=`, browsers cannot set headers on a WebSocket), so the root
mount is protected too; refused sockets are closed with 1008.

Each socket gets JSON text messages as published on Redis (see `deployments.api.hub`), plus
`{"kind": "heartbeat", "t": <epoch s>, "dropped": <messages dropped for this client so far>}`
every `heartbeat_s`. A slow client only loses its own oldest messages. Text the client sends is
ignored; dead peers are detected by the server's protocol pings (uvicorn's `ws_ping_*`).

Collaborators on `app.state`: `hub` (a started or startable `Hub`), optionally `stream_options`
(`StreamOptions`) and `camera_group_of` (`camera_id -> group | None`, for users limited to some
camera groups; without it every camera is in no group, so such users see no camera).
"""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections.abc import Callable
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, WebSocket, WebSocketException, status
from pydantic import BaseModel, Field
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocketDisconnect, WebSocketState

from actors.event_sink import EVENTS_CHANNEL
from actors.notifier import ALERTS_CHANNEL
from deployments.api.deps import CurrentUser, SessionDep, require, user_can_see_camera
from deployments.api.hub import HEALTH_CHANNEL, TRACKING_PREFIX, Hub, Subscription, job_channel, tracking_channel
from deployments.api.permissions import Permission
from deployments.api.tags import Tags
from storage import crud
from storage.models import JobStatus, User, UserRole

__all__ = ["router", "StreamOptions", "CameraGroupOf"]

router = APIRouter(prefix="/ws", tags=[Tags.STREAMS], dependencies=[Depends(require(Permission.READ))])
CameraGroupOf = Callable[[str], "str | None"]
Filter = Callable[[dict[str, Any]], bool]
_NOTHING = object()
_FINISHED = frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.PARTIAL, JobStatus.CANCELLED})


class StreamOptions(BaseModel):
    """WebSocket settings."""

    heartbeat_s: float = Field(15.0, gt=0, title="Seconds between two heartbeat messages")


def get_hub(conn: HTTPConnection) -> Hub:
    """The `Hub` on `app.state.hub`."""
    return conn.app.state.hub


def get_stream_options(conn: HTTPConnection) -> StreamOptions:
    """`app.state.stream_options`, or the defaults."""
    return getattr(conn.app.state, "stream_options", None) or StreamOptions()


def get_camera_group_of(conn: HTTPConnection) -> CameraGroupOf:
    """`app.state.camera_group_of`, or "every camera is in no group"."""
    return getattr(conn.app.state, "camera_group_of", None) or (lambda camera_id: None)


HubDep = Annotated[Hub, Depends(get_hub)]
OptionsDep = Annotated[StreamOptions, Depends(get_stream_options)]
GroupOfDep = Annotated[CameraGroupOf, Depends(get_camera_group_of)]


def _camera_filter(user: User, group_of: CameraGroupOf) -> Filter:
    """Messages of the cameras `user` may see (those without a `camera_id` are hidden from limited users)."""
    if user.role is UserRole.ADMIN or not user.camera_groups:
        return lambda message: True
    can_see = functools.lru_cache(maxsize=1024)(lambda cid: user_can_see_camera(user, group_of(cid)))
    return lambda message: isinstance(message.get("camera_id"), str) and can_see(message["camera_id"])


def _refuse_hidden(user: User, group_of: CameraGroupOf, cameras: list[str]) -> None:
    hidden = [c for c in cameras if not user_can_see_camera(user, group_of(c))]
    if hidden:
        raise WebSocketException(status.WS_1008_POLICY_VIOLATION, f"camera not visible: {', '.join(hidden)}")


async def _send(websocket: WebSocket, message: dict[str, Any]) -> None:
    await websocket.send_text(json.dumps(message))


async def _forward(websocket: WebSocket, sub: Subscription, heartbeat_s: float, keep: Filter, last: Filter) -> None:
    """Send the subscription's messages that pass `keep`, and heartbeats, until `last(message)`."""
    next_beat = time.monotonic() + heartbeat_s
    while True:
        message: Any = _NOTHING
        with anyio.move_on_after(next_beat - time.monotonic()):
            message = await sub.queue.get()
        if message is _NOTHING:
            await _send(websocket, {"kind": "heartbeat", "t": time.time(), "dropped": sub.dropped})
            next_beat = time.monotonic() + heartbeat_s
        elif isinstance(message, dict) and keep(message):
            await _send(websocket, message)
            if last(message):
                return


async def _stream(websocket: WebSocket, sub: Subscription, options: StreamOptions, *, keep: Filter = lambda m: True,
                  last: Filter = lambda m: False) -> None:  # fmt: skip
    """Pump `sub` into the (accepted) socket until the client leaves or `last` matched; then close."""
    async with anyio.create_task_group() as tasks:

        async def forward() -> None:
            with contextlib.suppress(WebSocketDisconnect):  # the client left while we were sending
                await _forward(websocket, sub, options.heartbeat_s, keep, last)
            tasks.cancel_scope.cancel()

        async def watch() -> None:
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass  # client text is ignored
            tasks.cancel_scope.cancel()

        tasks.start_soon(forward)
        tasks.start_soon(watch)
    if websocket.client_state is WebSocketState.CONNECTED and websocket.application_state is WebSocketState.CONNECTED:
        await websocket.close()


@router.websocket("/tracking/{camera_id}")
async def tracking_camera(websocket: WebSocket, camera_id: str, user: CurrentUser, session: SessionDep, hub: HubDep,
                          options: OptionsDep, group_of: GroupOfDep) -> None:  # fmt: skip
    """One camera's `tracking_update` messages (people, boxes, keypoints, zones)."""
    session.close()  # do not hold a pooled connection for the socket's lifetime
    _refuse_hidden(user, group_of, [camera_id])
    await websocket.accept()
    async with hub.subscribe(channels={tracking_channel(camera_id)}) as sub:
        await _stream(websocket, sub, options)


@router.websocket("/tracking")
async def tracking_all(websocket: WebSocket, user: CurrentUser, session: SessionDep, hub: HubDep, options: OptionsDep,
                       group_of: GroupOfDep, cameras: str | None = None) -> None:  # fmt: skip
    """`tracking_update` messages of every camera the user may see, or of `?cameras=a,b`."""
    session.close()
    wanted = [c.strip() for c in (cameras or "").split(",") if c.strip()]
    _refuse_hidden(user, group_of, wanted)
    await websocket.accept()
    interest = {"channels": {tracking_channel(c) for c in wanted}} if wanted else {"prefixes": (TRACKING_PREFIX,)}
    async with hub.subscribe(**interest) as sub:
        await _stream(websocket, sub, options, keep=_camera_filter(user, group_of))


@router.websocket("/events")
async def events(websocket: WebSocket, user: CurrentUser, session: SessionDep, hub: HubDep, options: OptionsDep,
                 group_of: GroupOfDep) -> None:  # fmt: skip
    """New events (`kind: event`) and camera health changes, of the cameras the user may see."""
    session.close()
    await websocket.accept()
    async with hub.subscribe(channels={EVENTS_CHANNEL, HEALTH_CHANNEL}) as sub:
        await _stream(websocket, sub, options, keep=_camera_filter(user, group_of))


@router.websocket("/alerts")
async def alerts(websocket: WebSocket, user: CurrentUser, session: SessionDep, hub: HubDep, options: OptionsDep,
                 group_of: GroupOfDep) -> None:  # fmt: skip
    """New alerts (`kind: alert`, as `actors.notifier` publishes them) of the cameras the user may see."""
    session.close()
    await websocket.accept()
    async with hub.subscribe(channels={ALERTS_CHANNEL}) as sub:
        await _stream(websocket, sub, options, keep=_camera_filter(user, group_of))


@router.websocket("/jobs/{job_id}")
async def job_progress(websocket: WebSocket, job_id: str, session: SessionDep, hub: HubDep, options: OptionsDep) -> None:
    """A bulk job: first its current state (`kind: job_status`), then `job_progress` messages until
    `job_done`; the server closes the socket after `job_done` (at once if the job had already ended)."""
    if crud.get_job(session, job_id) is None:
        raise WebSocketException(status.WS_1008_POLICY_VIOLATION, "job not found")
    session.close()
    await websocket.accept()
    async with hub.subscribe(channels={job_channel(job_id)}) as sub:
        job = crud.get_job(session, job_id)  # read after subscribing: nothing is missed in between
        session.close()
        assert job is not None
        await _send(websocket, {"kind": "job_status", "job_id": job_id, "status": job.status.value,
                                "frames_done": job.frames_done, "frames_total": job.frames_total,
                                "progress": job.progress})  # fmt: skip
        if job.status in _FINISHED:
            await websocket.close()
            return
        await _stream(websocket, sub, options, last=lambda m: m.get("kind") == "job_done")
