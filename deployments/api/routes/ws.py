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
camera groups; without it every camera is in no group, so such users see no camera). A message
naming a `job_id` (job progress, a bulk job's alert) is scoped by the job's group instead.

Sessions: a socket is closed (1008) when its access token expires, and within
`StreamOptions.session_check_s` of a logout (the token revoked), the user's deactivation or
deletion, or a password / role / group change (the user's `token_version` moved on).
"""

from __future__ import annotations

import contextlib
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
from deployments.api.deps import AccessClaims, CurrentUser, SessionDep, camera_scope, deny_key, require
from deployments.api.security import TokenClaims
from deployments.api.hub import HEALTH_CHANNEL, TRACKING_PREFIX, Hub, Subscription, job_channel, tracking_channel
from deployments.api.permissions import Permission
from deployments.api.tags import Tags
from storage import crud
from storage.models import Job, JobStatus, User
from storage.scope import CameraScope

__all__ = ["router", "StreamOptions", "CameraGroupOf", "MessageScope", "SessionWatch"]

router = APIRouter(prefix="/ws", tags=[Tags.STREAMS], dependencies=[Depends(require(Permission.READ))])
CameraGroupOf = Callable[[str], "str | None"]
Filter = Callable[[dict[str, Any]], Any]  # message -> bool, or an awaitable of a bool
_NOTHING = object()
_FINISHED = frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.PARTIAL, JobStatus.CANCELLED})


class StreamOptions(BaseModel):
    """WebSocket settings."""

    heartbeat_s: float = Field(15.0, gt=0, title="Seconds between two heartbeat messages")
    session_check_s: float = Field(
        5.0, gt=0, title="Seconds between two checks that the socket's session is still valid",
        description="Shorter closes a logged-out or deactivated user's sockets sooner, at one Redis and one "
        "database read per socket per check.")


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


class MessageScope:
    """Whether a hub message concerns a camera (or bulk job) the user may see (`storage.scope` rules).

    A message with a `job_id` (top level, or in its `alert`) belongs to the job's group; any other to
    its `camera_id`'s group; training messages concern no camera. Look-ups are cached per socket
    and run in a worker thread.
    """

    def __init__(self, scope: CameraScope, group_of: CameraGroupOf, engine: Any) -> None:
        self.scope, self.group_of, self.engine = scope, group_of, engine
        self._cameras: dict[str, bool] = {}
        self._jobs: dict[str, bool] = {}

    def _job_group(self, job_id: str) -> str | None:
        from sqlmodel import Session

        with Session(self.engine) as session:
            job = session.get(Job, job_id)
            return job.camera_group if job is not None else None

    async def job_visible(self, job_id: str) -> bool:
        """Whether the job exists in the scope (cached)."""
        if job_id not in self._jobs:
            group = await anyio.to_thread.run_sync(self._job_group, job_id)
            self._jobs[job_id] = self.scope.sees_group(group)
        return self._jobs[job_id]

    async def camera_visible(self, camera_id: str) -> bool:
        """Whether the camera is in the scope (cached)."""
        if camera_id not in self._cameras:
            self._cameras[camera_id] = self.scope.sees_group(await anyio.to_thread.run_sync(self.group_of, camera_id))
        return self._cameras[camera_id]

    async def __call__(self, message: dict[str, Any]) -> bool:
        if self.scope.all_cameras or str(message.get("kind", "")).startswith("training_"):
            return True
        alert = message.get("alert")
        job_id = message.get("job_id") or (alert.get("job_id") if isinstance(alert, dict) else None)
        if isinstance(job_id, str):
            return await self.job_visible(job_id)
        camera_id = message.get("camera_id")
        return isinstance(camera_id, str) and await self.camera_visible(camera_id)


def message_scope(websocket: WebSocket, user: User, group_of: CameraGroupOf) -> MessageScope:
    """The `MessageScope` of a socket's user."""
    return MessageScope(camera_scope(user), group_of, getattr(websocket.app.state, "engine", None))


class SessionWatch:
    """Ends a socket when its session ends: token expiry, logout, deactivation, a credentials change.

    Args:
        websocket: the socket (its app holds the engine, Redis and config).
        claims: the verified claims of the socket's access token.
        check_s: seconds between two checks of the revocation list and the user row.
    """

    def __init__(self, websocket: WebSocket, claims: TokenClaims, check_s: float) -> None:
        self.websocket, self.claims, self.check_s = websocket, claims, check_s

    def reason(self) -> str | None:
        """Why the session is over (`None` while it is valid); blocking, run it in a thread."""
        from sqlmodel import Session

        state = self.websocket.app.state
        if time.time() >= self.claims.exp.timestamp():
            return "token expired"
        if state.redis.exists(deny_key(state.config, self.claims.jti)):
            return "logged out"
        with Session(state.engine) as session:
            user = crud.get_user(session, self.claims.sub)
            if user is None or not user.is_active:
                return "user deactivated"
            if user.token_version != self.claims.ver:
                return "session revoked"
        return None

    async def run(self) -> str:
        """Wait until the session ends; returns why."""
        while True:
            remaining = self.claims.exp.timestamp() - time.time()
            await anyio.sleep(max(0.0, min(self.check_s, remaining)))
            why = await anyio.to_thread.run_sync(self.reason)
            if why is not None:
                return why


async def _refuse_hidden(scope: MessageScope, cameras: list[str]) -> None:
    hidden = [c for c in cameras if not await scope.camera_visible(c)]
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
        elif isinstance(message, dict) and await _passes(keep, message):
            await _send(websocket, message)
            if last(message):
                return


async def _passes(keep: Filter, message: dict[str, Any]) -> bool:
    result = keep(message)
    return bool(await result) if hasattr(result, "__await__") else bool(result)


async def _stream(websocket: WebSocket, sub: Subscription, options: StreamOptions, *, keep: Filter = lambda m: True,
                  last: Filter = lambda m: False, watch: SessionWatch | None = None) -> None:  # fmt: skip
    """Pump `sub` into the (accepted) socket until the client leaves, `last` matched or the session
    ended (closed with 1008 and the reason); then close."""
    ended: list[str] = []
    async with anyio.create_task_group() as tasks:

        async def forward() -> None:
            with contextlib.suppress(WebSocketDisconnect):  # the client left while we were sending
                await _forward(websocket, sub, options.heartbeat_s, keep, last)
            tasks.cancel_scope.cancel()

        async def receive() -> None:
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass  # client text is ignored
            tasks.cancel_scope.cancel()

        async def session() -> None:
            assert watch is not None
            ended.append(await watch.run())
            tasks.cancel_scope.cancel()

        tasks.start_soon(forward)
        tasks.start_soon(receive)
        if watch is not None:
            tasks.start_soon(session)
    await close_socket(websocket, ended[0] if ended else None)


async def close_socket(websocket: WebSocket, session_ended: str | None = None) -> None:
    """Close the socket if both sides still hold it open: 1008 with the reason when the session ended."""
    if websocket.client_state is WebSocketState.CONNECTED and websocket.application_state is WebSocketState.CONNECTED:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            if session_ended is None:
                await websocket.close()
            else:
                await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason=session_ended)


@router.websocket("/tracking/{camera_id}")
async def tracking_camera(websocket: WebSocket, camera_id: str, user: CurrentUser, claims: AccessClaims,
                          session: SessionDep, hub: HubDep, options: OptionsDep,
                          group_of: GroupOfDep) -> None:  # fmt: skip
    """One camera's `tracking_update` messages (people, boxes, keypoints, zones)."""
    session.close()  # do not hold a pooled connection for the socket's lifetime
    await _refuse_hidden(message_scope(websocket, user, group_of), [camera_id])
    await websocket.accept()
    async with hub.subscribe(channels={tracking_channel(camera_id)}) as sub:
        await _stream(websocket, sub, options, watch=SessionWatch(websocket, claims, options.session_check_s))


@router.websocket("/tracking")
async def tracking_all(websocket: WebSocket, user: CurrentUser, claims: AccessClaims, session: SessionDep, hub: HubDep,
                       options: OptionsDep, group_of: GroupOfDep, cameras: str | None = None) -> None:  # fmt: skip
    """`tracking_update` messages of every camera the user may see, or of `?cameras=a,b`."""
    session.close()
    wanted = [c.strip() for c in (cameras or "").split(",") if c.strip()]
    scope = message_scope(websocket, user, group_of)
    await _refuse_hidden(scope, wanted)
    await websocket.accept()
    interest = {"channels": {tracking_channel(c) for c in wanted}} if wanted else {"prefixes": (TRACKING_PREFIX,)}
    async with hub.subscribe(**interest) as sub:
        await _stream(websocket, sub, options, keep=scope, watch=SessionWatch(websocket, claims, options.session_check_s))


@router.websocket("/events")
async def events(websocket: WebSocket, user: CurrentUser, claims: AccessClaims, session: SessionDep, hub: HubDep,
                 options: OptionsDep, group_of: GroupOfDep) -> None:  # fmt: skip
    """New events (`kind: event`) and camera health changes, of the cameras the user may see."""
    session.close()
    await websocket.accept()
    async with hub.subscribe(channels={EVENTS_CHANNEL, HEALTH_CHANNEL}) as sub:
        await _stream(websocket, sub, options, keep=message_scope(websocket, user, group_of),
                      watch=SessionWatch(websocket, claims, options.session_check_s))


@router.websocket("/alerts")
async def alerts(websocket: WebSocket, user: CurrentUser, claims: AccessClaims, session: SessionDep, hub: HubDep,
                 options: OptionsDep, group_of: GroupOfDep) -> None:  # fmt: skip
    """New alerts (`kind: alert`, as `actors.notifier` publishes them) of the cameras the user may see."""
    session.close()
    await websocket.accept()
    async with hub.subscribe(channels={ALERTS_CHANNEL}) as sub:
        await _stream(websocket, sub, options, keep=message_scope(websocket, user, group_of),
                      watch=SessionWatch(websocket, claims, options.session_check_s))


@router.websocket("/jobs/{job_id}")
async def job_progress(websocket: WebSocket, job_id: str, user: CurrentUser, claims: AccessClaims, session: SessionDep,
                       hub: HubDep, options: OptionsDep) -> None:  # fmt: skip
    """A bulk job: first its current state (`kind: job_status`), then `job_progress` messages until
    `job_done`; the server closes the socket after `job_done` (at once if the job had already ended)."""
    if not camera_scope(user).sees_job(session, job_id):
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
        await _stream(websocket, sub, options, last=lambda m: m.get("kind") == "job_done",
                      watch=SessionWatch(websocket, claims, options.session_check_s))
