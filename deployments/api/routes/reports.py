"""`/reports`: bias-aware review reporting (alert and dismissal rates by camera, zone and hour; no demographics)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, Field

from deployments.api.deps import CurrentUser, SessionDep, require, user_can_see_camera
from deployments.api.permissions import Permission
from deployments.api.tags import Tags
from storage import crud
from storage.reports import GroupBy, alert_review_rates

__all__ = ["router", "ReviewRatesQuery", "ReviewRatesPublic", "ReviewGroupPublic"]

router = APIRouter(prefix="/reports", tags=[Tags.REPORTS], dependencies=[Depends(require(Permission.READ))])


class ReviewRatesQuery(BaseModel):
    """What to group by and when."""

    by: GroupBy = Field(GroupBy.CAMERA, description="camera, zone or hour (of the day)")
    since: datetime | None = Field(None, description="Alerts raised at or after this time")
    until: datetime | None = Field(None, description="Alerts raised before this time")
    tz: str = Field("UTC", description="IANA time zone of the hours")


class ReviewGroupPublic(BaseModel):
    """One group's alerts and how review closed them."""

    key: str
    alerts: int
    pending: int
    acknowledged: int
    dismissed: int
    escalated: int
    dismissal_rate: float | None = Field(description="dismissed / (dismissed + escalated); null before any was closed")
    share: float = Field(description="This group's share of all the alerts")


class ReviewRatesPublic(BaseModel):
    """Alert and dismissal rates per group."""

    by: GroupBy
    total: int
    groups: list[ReviewGroupPublic]
    note: str


@router.get("/alert-review")
def review_rates(session: SessionDep, user: CurrentUser, query: Annotated[ReviewRatesQuery, Depends()]) -> ReviewRatesPublic:
    """Alert counts and dismissal rates by camera, zone or hour of day (places and times only, never people)."""
    groups: dict[str | None, str | None] = {}

    def visible(camera_id: str | None) -> bool:
        if camera_id not in groups:
            camera = crud.get_camera(session, camera_id) if camera_id else None
            groups[camera_id] = camera.camera_group if camera is not None else None
        return user_can_see_camera(user, groups[camera_id])

    try:
        data = alert_review_rates(session, by=query.by, since=query.since, until=query.until, tz=query.tz, visible=visible)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from None
    return ReviewRatesPublic.model_validate(data)
