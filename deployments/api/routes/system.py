"""`/system`: one look at the live platform (cameras, cluster resources, detector replicas, events)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from redis import Redis

from deployments.api.control import ControlDep
from deployments.api.deps import CurrentUser, RedisDep, SessionDep, camera_scope, require
from deployments.api.permissions import Permission
from deployments.api.routes.cameras import CameraStatusPublic, visible_statuses
from deployments.api.tags import Tags
from deployments.detector import REPLICA_STATS_KEY
from storage import crud

__all__ = ["router", "SystemStatusPublic", "detector_stats"]

router = APIRouter(prefix="/system", tags=[Tags.SYSTEM], dependencies=[Depends(require(Permission.READ))])


class SystemStatusPublic(BaseModel):
    cameras: list[CameraStatusPublic] = Field(description="Running cameras the user may see")
    cluster: dict[str, Any] = Field(description="Resources in all and available (e.g. CPU, GPU)")
    detector: dict[str, dict[str, Any]] = Field(description="Detector replica stats by replica id")
    events_total: int = Field(description="Stored events of the cameras (and jobs) the user may see")


def detector_stats(redis: Redis) -> dict[str, dict[str, Any]]:
    """Per-replica stats the detector deployment writes to the Redis hash `REPLICA_STATS_KEY`."""
    stats = {}
    for replica, raw in redis.hgetall(REPLICA_STATS_KEY).items():
        name = replica.decode() if isinstance(replica, bytes) else str(replica)
        try:
            stats[name] = json.loads(raw)
        except ValueError:
            stats[name] = {"error": "unreadable stats"}
    return stats


@router.get("/status")
async def system_status(session: SessionDep, redis: RedisDep, control: ControlDep,
                        user: CurrentUser) -> SystemStatusPublic:  # fmt: skip
    """Cameras, cluster resources, detector replicas and the number of stored events."""
    cameras = await visible_statuses(session, user, await control.status())
    _, events_total = await run_in_threadpool(lambda: crud.list_events(session, limit=1, scope=camera_scope(user)))
    return SystemStatusPublic(
        cameras=cameras,
        cluster=await control.cluster(),
        detector=await run_in_threadpool(detector_stats, redis),
        events_total=events_total,
    )
