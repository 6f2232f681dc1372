"""`/notifications`: the current user's notification preference, and webhook dead letters.

Collaborators on `app.state`: `notifier` (an `actors.notifier.Notifier`), used to re-send dead
letters; without it, retrying answers 503 (reading works from the database alone).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status
from starlette.requests import HTTPConnection

from actors.notifier import DeliveryNotDeadError, Notifier
from deployments.api.audit import audit_as
from deployments.api.deps import CurrentUser, ScopeDep, SessionDep, not_found, require
from deployments.api.permissions import Permission
from deployments.api.schemas import Page
from deployments.api.tags import Tags
from storage import notifications as repo
from storage import crud
from storage.crud import NotFoundError
from storage.models import (
    NotificationPreferencePublic,
    NotificationPreferenceUpdate,
    WebhookDeliveriesPublic,
    WebhookDeliveryPublic,
)

__all__ = ["router", "DeadLetterQuery", "get_notifier", "NotifierDep"]

router = APIRouter(prefix="/notifications", tags=[Tags.NOTIFICATIONS], dependencies=[Depends(require(Permission.READ))])
_MANAGE = Depends(require(Permission.NOTIFY_MANAGE))
_NOT_FOUND = "dead letter not found"


def get_notifier(conn: HTTPConnection) -> Notifier:
    """The `Notifier` on `app.state.notifier`.

    Raises:
        HTTPException: 503 when the app has none.
    """
    notifier = getattr(conn.app.state, "notifier", None)
    if notifier is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "notifications are not configured")
    return notifier


NotifierDep = Annotated[Notifier, Depends(get_notifier)]


class DeadLetterQuery(Page):
    """Dead-letter filters."""

    alert_id: str | None = None


def _audit(action: str, **kwargs: Any) -> Any:
    return Depends(audit_as(f"notifications.{action}", **kwargs))


@router.get("/preferences")
def read_preferences(session: SessionDep, user: CurrentUser) -> NotificationPreferencePublic:
    """Your notification preference (the defaults until you set one)."""
    return repo.get_preference(session, user.id)


@router.put("/preferences", dependencies=[_audit("preferences", resource_type="notification_preference")])
def update_preferences(session: SessionDep, user: CurrentUser, body: NotificationPreferenceUpdate) -> NotificationPreferencePublic:
    """Replace your notification preference."""
    try:
        return repo.set_preference(session, user_id=user.id, data=body)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


@router.get("/dead-letters", dependencies=[_MANAGE])
def list_dead_letters(session: SessionDep, scope: ScopeDep,
                      query: Annotated[DeadLetterQuery, Depends()]) -> WebhookDeliveriesPublic:  # fmt: skip
    """Webhook deliveries that failed every attempt, newest first (those of alerts you may see)."""
    rows, count = repo.list_deliveries(session, alert_id=query.alert_id, limit=query.limit, offset=query.offset,
                                       scope=scope)  # fmt: skip
    return WebhookDeliveriesPublic(data=[WebhookDeliveryPublic.model_validate(r) for r in rows], count=count)


@router.post("/dead-letters/{delivery_id}/retry",
             dependencies=[_MANAGE, _audit("retry", resource_type="webhook_delivery", id_param="delivery_id")])  # fmt: skip
def retry_dead_letter(session: SessionDep, scope: ScopeDep, delivery_id: str, notifier: NotifierDep) -> WebhookDeliveryPublic:
    """Re-send a dead letter once: it comes back delivered, or still dead with the new error."""
    delivery = repo.get_delivery(session, delivery_id)
    alert = crud.get_alert(session, delivery.alert_id) if delivery is not None else None
    if delivery is not None and (alert is None or not scope.sees_row(session, camera_id=alert.camera_id,
                                                                      job_id=alert.job_id)):  # fmt: skip
        raise not_found("dead letter")
    session.close()
    try:
        return WebhookDeliveryPublic.model_validate(notifier.retry(delivery_id))
    except NotFoundError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, _NOT_FOUND) from None
    except DeliveryNotDeadError:
        raise HTTPException(status.HTTP_409_CONFLICT, "delivery is not dead: it was delivered") from None
