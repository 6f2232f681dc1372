"""What an analytics or export request may see: the site, its cameras the user may see, their zones.

Camera visibility is decided by `deps.user_can_see_camera` alone (camera by camera, with the
camera's group, or no group for a camera that is only known from analytics data), so the API's
one scoping rule applies here too. A site with no camera the user may see is "not found" (404),
as is a camera outside the user's scope.

Also here: the shared query dependencies of the analytics routes (the time range, the knobs) and
the rollup run before answering (`refresh_rollups`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, HTTPException, Query, status
from fastapi.exceptions import RequestValidationError
from sqlmodel import Session, select
from starlette.requests import HTTPConnection

from deployments.api.deps import CurrentUser, SessionDep, user_can_see_camera
from domain.analytics import AnalyticsParams, TimeRange, TimeRangeError
from domain.site import CameraConfig, LineConfig, ZoneConfig
from storage import crud
from storage.analytics_models import AnalyticsSource
from storage.analytics_rollup import rollup_pending
from storage.models import Camera, Site, User

__all__ = ["SiteScope", "site_scope", "visible_sites", "pick_cameras", "camera_visible", "get_analytics_params",
           "AnalyticsParamsDep", "time_range", "RangeDep", "refresh_rollups", "unprocessable"]  # fmt: skip

log = logging.getLogger(__name__)


def unprocessable(field_name: str, message: str, where: str = "query") -> RequestValidationError:
    """A 422 in FastAPI's validation shape, naming the input at `(where, field_name)`."""
    return RequestValidationError([{"type": "value_error", "loc": (where, field_name), "msg": message}])


def get_analytics_params(conn: HTTPConnection) -> AnalyticsParams:
    """`app.state.analytics` (`AnalyticsParams`), or the defaults."""
    return getattr(conn.app.state, "analytics", None) or AnalyticsParams()


AnalyticsParamsDep = Annotated[AnalyticsParams, Depends(get_analytics_params)]


def time_range(
    params: AnalyticsParamsDep,
    t_from: Annotated[datetime | None, Query(alias="from", description="Range start (ISO 8601; naive = UTC)")] = None,
    t_to: Annotated[datetime | None, Query(alias="to", description="Range end, exclusive (ISO 8601)")] = None,
) -> TimeRange:
    """The request's `from` / `to` range (422 naming the bound when missing, inverted or too long)."""
    try:
        return TimeRange.from_datetimes(t_from, t_to, max_s=params.max_query_days * 86400)
    except TimeRangeError as exc:
        raise unprocessable(exc.field, str(exc)) from None


RangeDep = Annotated[TimeRange, Depends(time_range)]


def refresh_rollups(conn: HTTPConnection, params: AnalyticsParamsDep) -> None:
    """Roll up videos finished since the last rollup before answering (live data: the analytics worker)."""
    engine = conn.app.state.engine
    summary = rollup_pending(engine, params, max_videos=20, live=False)
    for error in summary.errors:
        log.warning("analytics rollup: %s", error)


@dataclass
class SiteScope:
    """A site as one user sees it.

    Attributes:
        name: the site's key (its name).
        site: the stored site, `None` for a site only known from analysed videos.
        cameras: the cameras the user may see: id → the stored camera (`None` when not stored).
    """

    name: str
    site: Site | None
    cameras: dict[str, Camera | None] = field(default_factory=dict)

    @property
    def timezone(self) -> str:
        return self.site.timezone if self.site is not None else "UTC"

    @property
    def title(self) -> str:
        return (self.site.friendly_name if self.site is not None else None) or self.name

    def config(self, camera_id: str) -> CameraConfig | None:
        """The camera's stored config (`None` when not stored or invalid)."""
        camera = self.cameras.get(camera_id)
        if camera is None:
            return None
        try:
            return crud.camera_config(camera)
        except crud.ConfigInvalidError:
            return None

    def zones(self, camera_id: str) -> dict[str, ZoneConfig]:
        config = self.config(camera_id)
        return dict(config.zones) if config is not None else {}

    def calibrated(self) -> list[str]:
        """The visible cameras calibrated to the site's floor plan."""
        return [c for c in sorted(self.cameras) if (cfg := self.config(c)) is not None and cfg.calibration is not None]

    def lines(self, camera_id: str) -> dict[str, LineConfig]:
        config = self.config(camera_id)
        return dict(config.lines) if config is not None else {}


def camera_visible(user: User, camera: Camera | None) -> bool:
    """Whether `user` may see a camera (a camera known only from analytics data is in no group)."""
    return user_can_see_camera(user, camera.camera_group if camera is not None else None)


def _data_cameras(session: Session, site: str) -> list[str]:
    s = AnalyticsSource.__table__.c
    return list(session.execute(sa.select(s.camera_id).where(s.site == site).distinct()).scalars().all())


def _scope(session: Session, user: User, name: str, site: Site | None) -> SiteScope:
    scope = SiteScope(name=name, site=site)
    stored = crud.list_cameras(session, site_id=site.id, limit=100_000)[0] if site is not None else []
    for camera in stored:
        if camera_visible(user, camera):
            scope.cameras[camera.id] = camera
    for camera_id in _data_cameras(session, name):
        if camera_id not in scope.cameras:
            camera = crud.get_camera(session, camera_id)
            if camera_visible(user, camera):
                scope.cameras[camera_id] = camera
    return scope


def site_scope(session: Session, user: User, site_ref: str) -> SiteScope:
    """The site named (or with the id) `site_ref`, as `user` sees it.

    Raises:
        HTTPException: 404 naming the site when there is no such site, or the user sees none of its cameras.
    """
    site = crud.get_site(session, site_ref) or crud.get_site_by_name(session, site_ref)
    name = site.name if site is not None else site_ref
    if site is None and not _data_cameras(session, site_ref):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"site '{site_ref}' not found")
    scope = _scope(session, user, name, site)
    if not scope.cameras and (site is None or not _visible_when_empty(session, user, site)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"site '{site_ref}' not found")
    return scope


def _visible_when_empty(session: Session, user: User, site: Site) -> bool:
    # A stored site without cameras is visible to users who see every camera (nothing to hide).
    return not crud.list_cameras(session, site_id=site.id, limit=1)[0] and user_can_see_camera(user, None)


def visible_sites(session: Session, user: User) -> list[SiteScope]:
    """Every site (stored, or known from analysed videos) with at least one camera the user may see."""
    scopes = []
    stored = {s.name: s for s in crud.list_sites(session, limit=100_000)[0]}
    data_sites = set(session.exec(select(AnalyticsSource.site).distinct()).all())
    for name in sorted(set(stored) | data_sites):
        scope = _scope(session, user, name, stored.get(name))
        if scope.cameras or (name in stored and _visible_when_empty(session, user, stored[name])):
            scopes.append(scope)
    return scopes


def pick_cameras(scope: SiteScope, camera_id: str | None) -> list[str]:
    """The cameras a request covers: `camera_id` (404 naming it if not visible in the site), else all visible."""
    if camera_id is None:
        return sorted(scope.cameras)
    if camera_id not in scope.cameras:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"camera '{camera_id}' not found in site '{scope.name}'")
    return [camera_id]


SiteRef = Annotated[str, "a site id or name"]


def get_scope(session: SessionDep, user: CurrentUser, site_id: str) -> SiteScope:
    """Dependency: the path's site as the current user sees it."""
    return site_scope(session, user, site_id)
