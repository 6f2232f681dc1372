"""The floor plan of a site (`/floorplan`) and a calibration check (`/calibration/check`) for the map and camera pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, Field

from deployments.api.deps import CurrentUser, SessionDep, require, user_can_see_camera
from deployments.api.permissions import Permission
from deployments.api.tags import Tags
from domain.floorplan import CalibrationError, fit_calibration
from storage import crud

__all__ = ["router", "FloorPlanPublic", "CameraViewPublic", "CalibrationCheck", "CalibrationResult"]

router = APIRouter(tags=[Tags.PERSONS], dependencies=[Depends(require(Permission.READ))])


class CameraViewPublic(BaseModel):
    camera_id: str
    friendly_name: str | None
    calibrated: bool
    reprojection_error_m: float | None = None
    field_of_view: list[list[float]] = Field(default_factory=list, description="polygon on the plan (m)")
    image_points: list[list[float]] = Field(default_factory=list)
    map_points: list[list[float]] = Field(default_factory=list)


class FloorPlanPublic(BaseModel):
    site: str
    floor_plan: dict | None = Field(description="image, metres_per_pixel, width_m, height_m (the site file's)")
    extent_m: list[float] = Field(description="[min_x, min_y, max_x, max_y] of the cameras' views (m)")
    cameras: list[CameraViewPublic]


class CalibrationCheck(BaseModel):
    image_points: list[tuple[float, float]] = Field(description="[x, y] fractions (0-1) of the frame")
    map_points: list[tuple[float, float]] = Field(description="[x, y] on the plan (m)")
    max_reprojection_error_m: float = Field(0.5, gt=0)


class CalibrationResult(BaseModel):
    reprojection_error_m: float
    max_error_m: float
    field_of_view: list[list[float]]


@router.get("/floorplan", response_model=FloorPlanPublic)
def get_floor_plan(session: SessionDep, user: CurrentUser,
                   site: Annotated[str | None, Query(description="Site name (default: the first site)")] = None) -> FloorPlanPublic:
    """A site's floor plan and its visible cameras' fields of view."""
    row = crud.get_site_by_name(session, site) if site else next(iter(crud.list_sites(session, limit=1)[0]), None)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "site not found")
    views, xs, ys = [], [], []
    for cam in crud.list_cameras(session, limit=100_000)[0]:
        if cam.site_id != row.id or not user_can_see_camera(user, cam.camera_group):
            continue
        config = crud.camera_config(cam)
        view = CameraViewPublic(camera_id=cam.id, friendly_name=cam.friendly_name, calibrated=config.calibration is not None)
        if config.calibration is not None:
            fitted = config.calibration.fitted
            fov = fitted.field_of_view().round(3).tolist()
            view.reprojection_error_m = round(fitted.reprojection_error_m, 4)
            view.field_of_view = fov
            view.image_points = [list(p) for p in config.calibration.image_points]
            view.map_points = [list(p) for p in config.calibration.map_points]
            for x, y in fov + view.map_points:
                xs.append(x)
                ys.append(y)
        views.append(view)
    plan = row.floor_plan or None
    if plan and plan.get("width_m") and plan.get("height_m"):
        extent = [0.0, 0.0, float(plan["width_m"]), float(plan["height_m"])]
    elif xs:
        extent = [min(0.0, min(xs)), min(0.0, min(ys)), max(xs), max(ys)]
    else:
        extent = [0.0, 0.0, 20.0, 20.0]
    return FloorPlanPublic(site=row.name, floor_plan=plan, extent_m=extent, cameras=views)


@router.post("/calibration/check", response_model=CalibrationResult)
def check_calibration(body: CalibrationCheck) -> CalibrationResult:
    """Fit point pairs without saving them: the reprojection error and field of view, or 422 saying what is wrong."""
    try:
        cal = fit_calibration(body.image_points, body.map_points, max_reprojection_error_m=body.max_reprojection_error_m)
    except CalibrationError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"calibration: {exc}") from None
    return CalibrationResult(reprojection_error_m=round(cal.reprojection_error_m, 4), max_error_m=round(cal.max_error_m, 4),
                             field_of_view=cal.field_of_view().round(3).tolist())
