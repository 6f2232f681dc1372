"""What the web UI reads that no other route gives: a dashboard summary and one multiplexed WebSocket.

`GET /ui/summary`: counts since a time (events by type, alerts by severity) and the newest events
and alerts, for the dashboard.

`/ws/stream` (mounted under `/api/v1` and at the root, like `ws.router`; token as `?access_token=`):
one socket per browser tab carrying everything the UI shows live:

- always: new events (`kind: event`), camera health changes (`kind: camera_health`) and new
  alerts (`kind: alert`, from `actors.notifier`), of the cameras the user may see, and training-run
  progress (`kind: training_progress` / `training_done`, from `deployments.training`);
- on request: `tracking_update` messages of some cameras and `job_progress` / `job_done` messages
  of some jobs. The client sends `{"op": "subscribe", "tracking": ["site.cam", ...] | "*",
  "jobs": ["<job id>", ...]}`; each such message replaces the previous interest. Cameras the user
  may not see are left out silently (the UI lists only visible cameras anyway).

Heartbeats (`kind: heartbeat`) and the bounded per-client queue work as in `ws.py`.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

import anyio
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, WebSocket
from pydantic import BaseModel, Field
from sqlmodel import col, select
from starlette.websockets import WebSocketDisconnect

from actors.event_sink import EVENTS_CHANNEL
from actors.notifier import ALERTS_CHANNEL
from deployments.api.deps import AccessClaims, CurrentUser, ScopeDep, SessionDep, require
from deployments.api.hub import HEALTH_CHANNEL, JOBS_PREFIX, TRACKING_PREFIX, Subscription
from deployments.api.permissions import Permission
from deployments.api.routes.ws import GroupOfDep, HubDep, OptionsDep, SessionWatch, close_socket, message_scope
from deployments.training import TRAINING_PREFIX
from storage.models import Alert, AlertPublic, Event, EventPublic

__all__ = ["router", "ws_router", "SummaryPublic", "StreamInterest"]

_ALWAYS = frozenset({EVENTS_CHANNEL, HEALTH_CHANNEL, ALERTS_CHANNEL})
_TAG = "ui"

router = APIRouter(prefix="/ui", tags=[_TAG], dependencies=[Depends(require(Permission.READ))])
ws_router = APIRouter(prefix="/ws", tags=[_TAG], dependencies=[Depends(require(Permission.READ))])


class SummaryPublic(BaseModel):
    """Dashboard figures since `since`."""

    since: datetime
    events: int = Field(description="Events stored since `since`")
    events_by_type: dict[str, int]
    alerts: int = Field(description="Alerts raised since `since`")
    alerts_by_severity: dict[str, int]
    recent_events: list[EventPublic] = Field(description="Newest events (any time), newest first")
    recent_alerts: list[AlertPublic] = Field(description="Newest alerts (any time), newest first")


@router.get("/summary")
def summary(
    session: SessionDep,
    scope: ScopeDep,
    since: Annotated[datetime | None, Query(description="Count from this time (default: the last 24 h)")] = None,
    recent: Annotated[int, Query(ge=0, le=100, description="How many recent events and alerts")] = 10,
) -> SummaryPublic:
    """Events and alerts since a time, by type and severity, and the newest of each."""
    since = since or datetime.now(timezone.utc) - timedelta(days=1)
    if since.tzinfo is None:
        since = since.replace(tzinfo=timezone.utc)
    events_visible = scope.row_clause(camera_id=Event.camera_id, job_id=Event.job_id)
    alerts_visible = scope.row_clause(camera_id=Alert.camera_id, job_id=Alert.job_id)
    by_type = dict(session.exec(select(Event.type, sa.func.count()).where(col(Event.created_at) >= since, events_visible)
                                .group_by(Event.type)).all())  # fmt: skip
    by_severity = {
        (s.value if hasattr(s, "value") else str(s)): n
        for s, n in session.exec(select(Alert.severity, sa.func.count())
                                 .where(col(Alert.created_at) >= since, alerts_visible)
                                 .group_by(Alert.severity)).all()  # fmt: skip
    }
    events = session.exec(select(Event).where(events_visible).order_by(col(Event.created_at).desc()).limit(recent)).all()
    alerts = session.exec(select(Alert).where(alerts_visible).order_by(col(Alert.created_at).desc()).limit(recent)).all()
    return SummaryPublic(
        since=since, events=sum(by_type.values()), events_by_type=by_type, alerts=sum(by_severity.values()),
        alerts_by_severity=by_severity, recent_events=[EventPublic.model_validate(e) for e in events],
        recent_alerts=[AlertPublic.model_validate(a) for a in alerts],
    )  # fmt: skip


@dataclass(eq=False)
class StreamInterest(Subscription):
    """A `/ws/stream` client: the always-on channels plus the tracking and job channels it asked for."""

    all_tracking: bool = False
    tracking: frozenset[str] = frozenset()
    jobs: frozenset[str] = frozenset()

    def wants(self, channel: str) -> bool:
        if channel in _ALWAYS or channel.startswith(TRAINING_PREFIX):
            return True
        if channel.startswith(TRACKING_PREFIX):
            return self.all_tracking or channel[len(TRACKING_PREFIX):] in self.tracking
        if channel.startswith(JOBS_PREFIX):
            return channel[len(JOBS_PREFIX):] in self.jobs
        return False

    def update(self, request: Any) -> None:
        """Apply a `{"op": "subscribe", "tracking": [...] | "*", "jobs": [...]}` message (others are ignored)."""
        if not isinstance(request, dict) or request.get("op") != "subscribe":
            return
        tracking, jobs = request.get("tracking", []), request.get("jobs", [])
        self.all_tracking = tracking == "*"
        self.tracking = frozenset(t for t in tracking if isinstance(t, str)) if isinstance(tracking, list) else frozenset()
        self.jobs = frozenset(j for j in jobs if isinstance(j, str)) if isinstance(jobs, list) else frozenset()


@ws_router.websocket("/stream")
async def stream(websocket: WebSocket, user: CurrentUser, claims: AccessClaims, session: SessionDep, hub: HubDep,
                 options: OptionsDep, group_of: GroupOfDep) -> None:  # fmt: skip
    """Events, camera health and alerts, plus the tracking and job channels the client subscribes to."""
    session.close()
    keep = message_scope(websocket, user, group_of)  # jobs by their group, the rest by camera
    watch = SessionWatch(websocket, claims, options.session_check_s)
    ended: list[str] = []
    await websocket.accept()
    await hub.start()
    interest = StreamInterest()
    hub.subscriptions.add(interest)
    try:
        async with anyio.create_task_group() as tasks:

            async def forward() -> None:
                next_beat = time.monotonic() + options.heartbeat_s
                with contextlib.suppress(WebSocketDisconnect):
                    while True:
                        message: Any = None
                        with anyio.move_on_after(max(0.0, next_beat - time.monotonic())):
                            message = await interest.queue.get()
                        if message is None:
                            beat = {"kind": "heartbeat", "t": time.time(), "dropped": interest.dropped}
                            await websocket.send_text(json.dumps(beat))
                            next_beat = time.monotonic() + options.heartbeat_s
                        elif isinstance(message, dict) and await keep(message):
                            await websocket.send_text(json.dumps(message))
                tasks.cancel_scope.cancel()

            async def receive() -> None:
                while True:
                    received = await websocket.receive()
                    if received["type"] == "websocket.disconnect":
                        break
                    with contextlib.suppress(ValueError, TypeError):
                        interest.update(json.loads(received.get("text") or "null"))
                tasks.cancel_scope.cancel()

            async def session_ends() -> None:
                ended.append(await watch.run())
                tasks.cancel_scope.cancel()

            tasks.start_soon(forward)
            tasks.start_soon(receive)
            tasks.start_soon(session_ends)
    finally:
        hub.subscriptions.discard(interest)
    await close_socket(websocket, ended[0] if ended else None)
