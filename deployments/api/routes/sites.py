"""`/sites`: stores, created one by one or imported whole from a site file (YAML)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from deployments.api.control import CameraNotRunning, ControlDep
from deployments.api.deps import ConfigDep, CurrentUser, SessionDep, camera_scope, require
from deployments.api.permissions import Permission
from deployments.api.routes.cameras import SourcePolicyDep, check_source
from domain.site.sources import SourcePolicy
from deployments.api.schemas import Page
from deployments.api.tags import Tags
from domain.site import SiteConfig, SiteConfigError, parse_site_yaml
from storage import crud
from storage.models import CameraPublic, SiteCreate, SitePublic, SitesPublic, SiteUpdate

__all__ = ["router", "SiteImportPublic"]

router = APIRouter(prefix="/sites", tags=[Tags.SITES], dependencies=[Depends(require(Permission.READ))])
_MANAGE = [Depends(require(Permission.CAMERA_MANAGE))]
_NOT_FOUND = "site not found"
_YAML_TYPES = ("text/plain", "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
_IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/plain": {"schema": {"type": "string", "description": "The site file (YAML)."}},
            "application/json": {
                "schema": {"type": "object", "properties": {"yaml": {"type": "string"}}, "required": ["yaml"]}
            },
        },
    }
}


class SiteImportPublic(BaseModel):
    """An imported site and every camera the file names."""

    site: SitePublic
    cameras: list[CameraPublic]


def _invalid(errors: list[dict[str, Any]]) -> RequestValidationError:
    return RequestValidationError([{"type": "value_error", **e, "loc": ("body", *e["loc"])} for e in errors])


async def _site_text(request: Request, limit_bytes: int) -> str:
    """The YAML of an import request: a text body, or JSON `{"yaml": "..."}` (413 over `limit_bytes`)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit_bytes:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"site file too large (limit {limit_bytes // 1024} KiB)")
    body = bytes(body)
    if content_type == "application/json":
        try:
            data = json.loads(body)
        except ValueError:
            raise _invalid([{"loc": (), "msg": "body is not valid JSON", "type": "json_invalid"}]) from None
        if not isinstance(data, dict) or not isinstance(data.get("yaml"), str):
            raise _invalid([{"loc": ("yaml",), "msg": "Field required (a string)", "type": "missing"}])
        return data["yaml"]
    if content_type in _YAML_TYPES:
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise _invalid([{"loc": (), "msg": "body is not UTF-8 text", "type": "unicode_error"}]) from None
    raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send text/plain YAML or JSON {yaml}")


def _parse(text: str, policy: SourcePolicy) -> SiteConfig:
    try:
        site = parse_site_yaml(text, source="site.yaml")
    except SiteConfigError as exc:
        raise _invalid(
            [{"loc": tuple(p.path.split(".")) if p.path else (), "msg": f"line {p.line}: {p.message}",
              "type": "site_config", "line": p.line} for p in exc.problems]  # fmt: skip
        ) from None
    for key, camera in site.cameras.items():
        check_source(camera.source, ("cameras", key, "source"), policy)
    return site


@router.get("")
def list_sites(session: SessionDep, page: Annotated[Page, Depends()]) -> SitesPublic:
    """List sites by name."""
    rows, count = crud.list_sites(session, limit=page.limit, offset=page.offset)
    return SitesPublic(data=[SitePublic.model_validate(s) for s in rows], count=count)


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=_MANAGE)
def create_site(session: SessionDep, body: SiteCreate) -> SitePublic:
    """Create a site."""
    try:
        return SitePublic.model_validate(crud.create_site(session, body))
    except crud.ConfigInvalidError as exc:
        raise _invalid(exc.errors) from None
    except ValueError:
        raise HTTPException(status.HTTP_409_CONFLICT, "site already exists") from None


@router.post("/import", dependencies=_MANAGE, openapi_extra=_IMPORT_BODY)
async def import_site(request: Request, session: SessionDep, control: ControlDep, user: CurrentUser, config: ConfigDep,
                      policy: SourcePolicyDep) -> SiteImportPublic:  # fmt: skip
    """Create or update a site and its cameras from a whole site file (YAML).

    A user limited to camera groups may only rewrite cameras of theirs (another camera named in the
    file is 404); cameras the file adds go to their first group.
    """
    parsed = await run_in_threadpool(_parse, await _site_text(request, config.max_site_file_kb * 1024), policy)
    scope = camera_scope(user)
    new_group = None
    if not scope.all_cameras:
        if not user.camera_groups:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "camera not found")
        new_group = user.camera_groups[0]
        for key in parsed.cameras:
            existing = crud.get_camera(session, crud.camera_id_for(parsed.site.name, key))
            if existing is not None and not scope.sees_group(existing.camera_group):
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"camera not found: {existing.id}")
    try:
        site = await run_in_threadpool(lambda: crud.import_site_config(session, parsed, new_camera_group=new_group))
    except crud.ConfigInvalidError as exc:
        raise _invalid(exc.errors) from None
    cameras = [crud.get_camera(session, crud.camera_id_for(site.name, key)) for key in parsed.cameras]
    for camera in cameras:
        try:
            await control.reconfigure(camera.id)
        except CameraNotRunning:
            pass
    public = [CameraPublic.model_validate(c) for c in cameras]
    return SiteImportPublic(site=SitePublic.model_validate(site), cameras=public)


@router.get("/{site_id}")
def get_site(session: SessionDep, site_id: str) -> SitePublic:
    """Get one site."""
    site = crud.get_site(session, site_id)
    if site is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, _NOT_FOUND)
    return SitePublic.model_validate(site)


@router.patch("/{site_id}", dependencies=_MANAGE)
def update_site(session: SessionDep, site_id: str, body: SiteUpdate) -> SitePublic:
    """Change a site's friendly name or time zone."""
    if crud.get_site(session, site_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, _NOT_FOUND)
    return SitePublic.model_validate(crud.update_site(session, site_id, data=body))


@router.delete("/{site_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=_MANAGE)
def delete_site(session: SessionDep, site_id: str) -> None:
    """Delete a site that has no cameras."""
    if crud.get_site(session, site_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, _NOT_FOUND)
    try:
        crud.delete_site(session, site_id)
    except crud.InUseError:
        raise HTTPException(status.HTTP_409_CONFLICT, "site has cameras") from None
