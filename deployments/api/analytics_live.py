"""Real-time analytics in the ingress: the live `tracking_update` feed folded into `LiveOccupancy`.

One `LiveCollector` per ingress process (`app.state.analytics_live`, made on first use) subscribes
once to every camera's tracking channel through the app's `Hub` and keeps the latest people per
camera and zone. `GET /analytics/real-time/metrics` and `/ws/analytics/{site_id}` read it. Zones and
crowding thresholds (a zone's `occupancy` rule `max_count`, else `ANALYTICS__OCCUPANCY_THRESHOLD`)
come from the stored cameras, re-read every `refresh_s`. A live camera's analysed fps comes from the
health hash the camera actors keep in Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import Depends
from starlette.requests import HTTPConnection

from deployments.api.analytics_scope import SiteScope, get_analytics_params
from deployments.api.hub import TRACKING_PREFIX, Subscription
from domain.analytics import AnalyticsParams
from domain.analytics_realtime import LiveOccupancy
from domain.site import OccupancyRuleConfig
from storage import crud
from storage.db import session_scope

__all__ = ["LiveCollector", "get_live_collector", "LiveDep", "CAMERAS_METRICS_KEY"]

log = logging.getLogger(__name__)
CAMERAS_METRICS_KEY = "witness:metrics:cameras"  # the camera actors' health hash (`actors.live_io`)


class LiveCollector:
    """The live feed of this process, folded per camera (see the module docstring).

    Args:
        engine: database engine (cameras, zones, rules).
        hub: the app's `Hub`, or `None` (then nothing live is known).
        redis: synchronous Redis client (camera health), or `None`.
        params: analytics knobs (default crowding threshold).
        refresh_s: how often zones and thresholds are re-read.
        fresh_s: a camera whose latest frame is older than this is stale.
    """

    def __init__(self, engine: Any, hub: Any, redis: Any, params: AnalyticsParams, *, refresh_s: float = 30.0,
                 fresh_s: float = 10.0) -> None:  # fmt: skip
        self.engine, self.hub, self.redis, self.params = engine, hub, redis, params
        self.refresh_s, self.fresh_s = refresh_s, fresh_s
        self.state = LiveOccupancy({}, {}, fresh_s=fresh_s)
        self._loaded = float("-inf")
        self._task: asyncio.Task | None = None
        self._sub: Subscription | None = None
        self._started_at: float | None = None

    def _load(self) -> None:
        zones: dict[str, dict] = {}
        thresholds: dict[str, dict[str, int]] = {}
        with session_scope(self.engine) as s:
            for camera in crud.list_cameras(s, limit=100_000)[0]:
                try:
                    config = crud.camera_config(camera)
                except crud.ConfigInvalidError:
                    continue
                zones[camera.id] = dict(config.zones)
                ruled: dict[str, int] = {}
                for rule in config.rules.values():
                    if isinstance(rule, OccupancyRuleConfig) and rule.enabled and rule.zone in config.zones:
                        ruled[rule.zone] = min(ruled.get(rule.zone, rule.max_count), rule.max_count)
                thresholds[camera.id] = {z: ruled.get(z, self.params.occupancy_threshold) for z in config.zones}
        old = self.state
        self.state = LiveOccupancy(zones, thresholds, fresh_s=self.fresh_s)
        self.state._cameras = {c: v for c, v in old._cameras.items() if c in zones}  # keep what is known
        for cam in self.state._cameras.values():
            cam.resolution_wh = None  # zones may have changed: rebuild them on the next frame
        self._loaded = time.monotonic()

    async def start(self) -> None:
        """Subscribe to the tracking feed (idempotent; a no-op without a hub)."""
        if self.hub is None or (self._task is not None and not self._task.done()):
            return
        await asyncio.to_thread(self._load)
        self._sub = Subscription(prefixes=(TRACKING_PREFIX,), queue=asyncio.Queue(maxsize=4096))
        self.hub.subscriptions.add(self._sub)
        await self.hub.start()
        self._started_at = time.monotonic()
        self._task = asyncio.create_task(self._drain())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._sub is not None and self.hub is not None:
            self.hub.subscriptions.discard(self._sub)

    async def _drain(self) -> None:
        assert self._sub is not None
        while True:
            message = await self._sub.queue.get()
            if isinstance(message, dict) and message.get("kind", message.get("type")) == "tracking_update":
                self.state.update(message)

    async def payload(self, session: Any, scope: SiteScope, *, wait_s: float = 0.0) -> dict[str, Any]:
        """The `analytics_update` payload of the site's visible cameras.

        Args:
            session: the request's session (closed here: the data is in memory).
            scope: the site as the user sees it.
            wait_s: right after the subscription started, wait up to this long for first frames.
        """
        session.close()
        await self.start()
        if time.monotonic() - self._loaded > self.refresh_s:
            await asyncio.to_thread(self._load)
        cameras = sorted(scope.cameras)
        if wait_s > 0 and self._started_at is not None:
            deadline = self._started_at + wait_s
            while time.monotonic() < deadline and not any(c in self.state._cameras for c in cameras):
                await asyncio.sleep(0.05)
        metrics = self.state.metrics(time.time(), cameras)
        stamp = datetime.fromtimestamp(metrics.t_s, tz=timezone.utc).isoformat().replace("+00:00", "Z")
        return metrics.to_payload(scope.name, stamp)

    async def fps_out(self, cameras: list[str]) -> dict[str, float]:
        """A live camera's analysed frames per second, from its health in Redis (cameras not live are absent)."""
        if self.redis is None or not cameras:
            return {}

        def read() -> dict[str, float]:
            from redis.exceptions import RedisError

            try:
                values = self.redis.hmget(CAMERAS_METRICS_KEY, cameras)
            except RedisError as exc:
                log.warning("camera health unavailable: %s", exc)
                return {}
            out = {}
            for camera, raw in zip(cameras, values):
                if raw is None:
                    continue
                try:
                    health = json.loads(raw)
                except (TypeError, ValueError):
                    continue
                if health.get("fps_out") is not None:
                    out[camera] = float(health["fps_out"])
            return out

        return await asyncio.to_thread(read)


def get_live_collector(conn: HTTPConnection) -> LiveCollector:
    """The app's `LiveCollector` (`app.state.analytics_live`), made on first use from the app's hub and Redis."""
    state = conn.app.state
    collector = getattr(state, "analytics_live", None)
    if collector is None:
        collector = LiveCollector(state.engine, getattr(state, "hub", None), getattr(state, "redis", None),
                                  get_analytics_params(conn))  # fmt: skip
        state.analytics_live = collector
    return collector


LiveDep = Annotated[LiveCollector, Depends(get_live_collector)]
