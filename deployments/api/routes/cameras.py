"""`/cameras`: stored cameras, their zones, lines and rules, and live control (start, stop, status).

Every config change is validated as a whole `CameraConfig` (the site file's rules), bumps the
camera's `version`, is committed, and is then applied live with `control.reconfigure`.
A user limited to camera groups gets 404 for cameras outside them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import unquote, urlparse

from fastapi import APIRouter, Body, Depends, HTTPException, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlmodel import Session
from starlette.requests import HTTPConnection

from actors.sources import check_source_uri
from domain.site.sources import DEFAULT_ALLOWED_HOSTS, DEFAULT_MEDIA_ROOTS, SourcePolicy, redact_url
from deployments.api.control import CameraNotRunning, ControlDep
from deployments.api.deps import CurrentUser, ScopeDep, SessionDep, camera_scope, require
from deployments.api.permissions import Permission
from deployments.api.schemas import Page
from deployments.api.tags import Tags
from domain.site import LineConfig, RuleConfig, ZoneConfig
from storage import crud
from storage.models import Camera, CameraCreate, CameraPublic, CamerasPublic, CameraUpdate, User

__all__ = ["router", "CameraQuery", "CameraStatusPublic", "CameraDep", "check_source", "check_group",
           "get_visible_camera", "visible_statuses", "get_source_policy", "SourcePolicyDep", "keep_secret_sources"]

router = APIRouter(prefix="/cameras", tags=[Tags.CAMERAS], dependencies=[Depends(require(Permission.READ))])
_MANAGE = [Depends(require(Permission.CAMERA_MANAGE))]
_CONTROL = [Depends(require(Permission.CAMERA_CONTROL))]
_NOT_FOUND = "camera not found"


class CameraQuery(Page):
    """Camera filters."""

    site_id: str | None = None
    enabled: bool | None = None
    camera_group: str | None = None


class CameraStatusPublic(BaseModel):
    """A camera's live status (`CameraHealth.as_dict()` plus what the control adds)."""

    model_config = ConfigDict(extra="allow")

    camera_id: str
    state: str = Field(description="starting, streaming, reconnecting, error or stopped")
    running: bool = False

    @model_validator(mode="after")
    def _redact(self) -> CameraStatusPublic:
        for name, value in (self.model_extra or {}).items():  # e.g. the source error, or the source itself
            if isinstance(value, str) and "://" in value:
                self.model_extra[name] = re.sub(r"[a-z][a-z0-9+.-]*://\S+", lambda m: redact_url(m.group(0)), value)
        return self

def get_source_policy(conn: HTTPConnection) -> SourcePolicy:
    """`app.state.source_policy`, or the defaults (`CAMERA__*` defaults: private networks, the sample footage)."""
    policy = getattr(conn.app.state, "source_policy", None)
    return policy if policy is not None else SourcePolicy.of(allowed_hosts=DEFAULT_ALLOWED_HOSTS,
                                                             media_roots=DEFAULT_MEDIA_ROOTS)  # fmt: skip


SourcePolicyDep = Annotated[SourcePolicy, Depends(get_source_policy)]


def check_source(uri: str | None, loc: tuple[Any, ...], policy: SourcePolicy | None = None) -> None:
    """422 (FastAPI's validation shape, at `("body", *loc)`) when `uri` has an unsupported scheme or lies
    outside the source policy (`domain.site.sources`; file paths are checked with links resolved)."""
    if uri is None:
        return
    try:
        scheme = check_source_uri(uri)
        if policy is not None:
            path = unquote(urlparse(uri).path) if scheme == "file" else uri
            policy.check(os.path.realpath(path) if scheme in ("", "file") and path.startswith("/") else uri)
    except ValueError as exc:
        raise RequestValidationError([{"type": "value_error", "loc": ("body", *loc), "msg": str(exc)}]) from None


def get_visible_camera(session: SessionDep, scope: ScopeDep, camera_id: str) -> Camera:
    """The camera of the path, if the user may see it (404 otherwise)."""
    camera = crud.get_camera(session, camera_id)
    if camera is None or not scope.sees_group(camera.camera_group):
        raise HTTPException(status.HTTP_404_NOT_FOUND, _NOT_FOUND)
    return camera


def check_group(user: User, group: str | None, loc: tuple[Any, ...]) -> None:
    """422 when a user limited to camera groups puts a camera in a group not theirs (or in none)."""
    if not camera_scope(user).sees_group(group):
        raise RequestValidationError([{"type": "value_error", "loc": ("body", *loc),
                                       "msg": f"camera_group must be one of your groups: {', '.join(sorted(user.camera_groups)) or '(none)'}"}])  # fmt: skip


CameraDep = Annotated[Camera, Depends(get_visible_camera)]


def keep_secret_sources(camera: Camera, body: CameraUpdate) -> CameraUpdate:
    """`body` with any source equal to the redacted stored source replaced by the stored one."""
    stored = camera.source
    if stored is None or redact_url(stored) == stored:
        return body
    changes: dict[str, Any] = {}
    if body.source == redact_url(stored):
        changes["source"] = stored
    if body.config is not None and body.config.source == redact_url(stored):
        changes["config"] = body.config.model_copy(update={"source": stored})
    return body.model_copy(update=changes) if changes else body


async def _apply_live(control: ControlDep, camera_id: str) -> None:
    """Ask a running camera to reload its config (nothing to do when it is not running)."""
    try:
        await control.reconfigure(camera_id)
    except CameraNotRunning:
        pass


def _stopped(camera_id: str) -> CameraStatusPublic:
    return CameraStatusPublic(camera_id=camera_id, state="stopped", running=False)


# -------------------------------------------------------------------------------------- cameras
@router.get("")
def list_cameras(session: SessionDep, scope: ScopeDep, query: Annotated[CameraQuery, Depends()]) -> CamerasPublic:
    """List the cameras the user may see, by id."""
    groups = None if scope.all_cameras else sorted(scope.groups)
    rows, count = crud.list_cameras(session, **query.model_dump(), camera_groups=groups)
    return CamerasPublic(data=[CameraPublic.model_validate(c) for c in rows], count=count)


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=_MANAGE)
def create_camera(session: SessionDep, user: CurrentUser, policy: SourcePolicyDep, body: CameraCreate) -> CameraPublic:
    """Create a camera in a site (a user limited to camera groups: in one of theirs)."""
    check_group(user, body.camera_group, ("camera_group",))
    check_source(body.source, ("source",), policy)
    check_source(body.config.source, ("config", "source"), policy)
    if crud.get_site(session, body.site_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "site not found")
    try:
        return CameraPublic.model_validate(crud.create_camera(session, body))
    except crud.ConfigInvalidError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors]) from None
    except ValueError:
        raise HTTPException(status.HTTP_409_CONFLICT, "camera already exists") from None


async def visible_statuses(session: Session, user: User, statuses: list[dict]) -> list[CameraStatusPublic]:
    """The statuses of cameras `user` may see (all of them for admins and users with `all_cameras`)."""
    scope = camera_scope(user)
    if not scope.all_cameras:
        rows, _ = await run_in_threadpool(lambda: crud.list_cameras(session, camera_groups=sorted(scope.groups),
                                                                    limit=100_000))
        visible = {c.id for c in rows}
        statuses = [s for s in statuses if s.get("camera_id") in visible]
    return [CameraStatusPublic.model_validate(s) for s in statuses]


@router.get("/status")
async def list_camera_status(control: ControlDep, session: SessionDep, user: CurrentUser) -> list[CameraStatusPublic]:
    """Live status of every running camera the user may see."""
    return await visible_statuses(session, user, await control.status())


@router.get("/{camera_id}")
def get_camera(camera: CameraDep) -> CameraPublic:
    """Get one camera with its config."""
    return CameraPublic.model_validate(camera)


@router.patch("/{camera_id}", dependencies=_MANAGE)
async def update_camera(session: SessionDep, user: CurrentUser, control: ControlDep, policy: SourcePolicyDep,
                        camera: CameraDep, body: CameraUpdate) -> CameraPublic:  # fmt: skip
    """Change a camera (a given `config` replaces the whole config); applied live.

    A source sent back as this API shows it (`rtsp://user:***@…`) keeps the stored one.
    """
    if "camera_group" in body.model_fields_set:
        check_group(user, body.camera_group, ("camera_group",))
    body = keep_secret_sources(camera, body)
    check_source(body.source, ("source",), policy)
    check_source(body.config.source if body.config else None, ("config", "source"), policy)
    updated = await run_in_threadpool(lambda: crud.update_camera(session, camera.id, data=body))
    if not updated.enabled:
        try:
            await control.stop(camera.id)
        except CameraNotRunning:
            pass
    else:
        await _apply_live(control, camera.id)
    return CameraPublic.model_validate(updated)


@router.delete("/{camera_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=_MANAGE)
async def delete_camera(session: SessionDep, control: ControlDep, camera: CameraDep) -> None:
    """Stop a camera if it runs and delete it (its events are kept)."""
    try:
        await control.stop(camera.id)
    except CameraNotRunning:
        pass
    await run_in_threadpool(crud.delete_camera, session, camera.id)


# --------------------------------------------------------------------------------- live control
@router.post("/{camera_id}/start", dependencies=_CONTROL)
async def start_camera(control: ControlDep, camera: CameraDep) -> CameraStatusPublic:
    """Start streaming and analysing a camera (idempotent)."""
    if not camera.enabled:
        raise HTTPException(status.HTTP_409_CONFLICT, "camera disabled")
    if camera.source is None:
        raise HTTPException(status.HTTP_409_CONFLICT, "camera has no source")
    return CameraStatusPublic.model_validate(await control.start(camera.id))


@router.post("/{camera_id}/stop", dependencies=_CONTROL)
async def stop_camera(control: ControlDep, camera: CameraDep) -> CameraStatusPublic:
    """Stop a running camera."""
    try:
        return CameraStatusPublic.model_validate(await control.stop(camera.id))
    except CameraNotRunning:
        raise HTTPException(status.HTTP_409_CONFLICT, "camera not running") from None


@router.get("/{camera_id}/status")
async def camera_status(control: ControlDep, camera: CameraDep) -> CameraStatusPublic:
    """Live status of one camera (`stopped` when it is not running)."""
    try:
        return CameraStatusPublic.model_validate(await control.status(camera.id))
    except CameraNotRunning:
        return _stopped(camera.id)


# ------------------------------------------------------------------------- zones, lines, rules
def _edit(put: Callable[..., Camera], section: str):  # noqa: ANN202  (a handler body factory)
    async def edit(session: Session, control: ControlDep, camera: Camera, name: str, value: Any) -> CameraPublic:
        try:
            updated = await run_in_threadpool(put, session, camera.id, name, value)
        except crud.ConfigInvalidError as exc:
            errors = []
            for e in exc.errors:
                loc = e["loc"][2:] if e["loc"][:2] == (section, name) else e["loc"]
                errors.append({**e, "loc": ("body", *loc)})
            raise RequestValidationError(errors) from None
        await _apply_live(control, camera.id)
        return CameraPublic.model_validate(updated)

    return edit


def _remove(delete: Callable[..., Camera], what: str):  # noqa: ANN202
    async def remove(session: Session, control: ControlDep, camera: Camera, name: str) -> None:
        try:
            await run_in_threadpool(delete, session, camera.id, name)
        except crud.NotFoundError:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"{what} not found") from None
        except crud.InUseError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, f"{what} in use by rule '{exc.by}'") from None
        await _apply_live(control, camera.id)

    return remove


_put_zone, _del_zone = _edit(crud.put_zone, "zones"), _remove(crud.delete_zone, "zone")
_put_line, _del_line = _edit(crud.put_line, "lines"), _remove(crud.delete_line, "line")
_put_rule, _del_rule = _edit(crud.put_rule, "rules"), _remove(crud.delete_rule, "rule")


@router.get("/{camera_id}/zones")
def list_zones(camera: CameraDep) -> dict[str, ZoneConfig]:
    """The camera's zones by name."""
    return crud.camera_config(camera).zones


@router.put("/{camera_id}/zones/{name}", dependencies=_MANAGE)
async def put_zone(session: SessionDep, control: ControlDep, camera: CameraDep, name: str,
                   zone: Annotated[ZoneConfig, Body()]) -> CameraPublic:  # fmt: skip
    """Create or replace a zone; applied live."""
    return await _put_zone(session, control, camera, name, zone)


@router.delete("/{camera_id}/zones/{name}", status_code=status.HTTP_204_NO_CONTENT, dependencies=_MANAGE)
async def delete_zone(session: SessionDep, control: ControlDep, camera: CameraDep, name: str) -> None:
    """Delete a zone no rule uses; applied live."""
    await _del_zone(session, control, camera, name)


@router.get("/{camera_id}/lines")
def list_lines(camera: CameraDep) -> dict[str, LineConfig]:
    """The camera's counting lines by name."""
    return crud.camera_config(camera).lines


@router.put("/{camera_id}/lines/{name}", dependencies=_MANAGE)
async def put_line(session: SessionDep, control: ControlDep, camera: CameraDep, name: str,
                   line: Annotated[LineConfig, Body()]) -> CameraPublic:  # fmt: skip
    """Create or replace a counting line; applied live."""
    return await _put_line(session, control, camera, name, line)


@router.delete("/{camera_id}/lines/{name}", status_code=status.HTTP_204_NO_CONTENT, dependencies=_MANAGE)
async def delete_line(session: SessionDep, control: ControlDep, camera: CameraDep, name: str) -> None:
    """Delete a line no rule uses; applied live."""
    await _del_line(session, control, camera, name)


@router.get("/{camera_id}/rules")
def list_rules(camera: CameraDep) -> dict[str, RuleConfig]:
    """The camera's rules by name."""
    return crud.camera_config(camera).rules


@router.put("/{camera_id}/rules/{name}", dependencies=_MANAGE)
async def put_rule(session: SessionDep, control: ControlDep, camera: CameraDep, name: str,
                   rule: Annotated[RuleConfig, Body()]) -> CameraPublic:  # fmt: skip
    """Create or replace a rule (`type` selects its kind); applied live."""
    return await _put_rule(session, control, camera, name, rule)


@router.delete("/{camera_id}/rules/{name}", status_code=status.HTTP_204_NO_CONTENT, dependencies=_MANAGE)
async def delete_rule(session: SessionDep, control: ControlDep, camera: CameraDep, name: str) -> None:
    """Delete a rule; applied live."""
    await _del_rule(session, control, camera, name)
