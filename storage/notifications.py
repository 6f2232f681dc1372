"""Repository functions for notifications: per-user preferences and webhook deliveries (dead letters).

Each function takes a `Session`; mutating ones commit before returning (or roll back and re-raise).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, func, select

from domain.notifications import Channel, Preference, email_address, wants
from domain.scoring import Severity
from storage.crud import NotFoundError
from storage.db import commit as _commit
from storage.models import (
    Camera,
    Alert,
    DeliveryStatus,
    Job,
    NotificationPreference,
    NotificationPreferencePublic,
    NotificationPreferenceUpdate,
    User,
    UserRole,
    WebhookDelivery,
    utcnow,
)
from storage.scope import CameraScope

__all__ = [
    "DEFAULT_CHANNELS",
    "DEFAULT_MIN_SEVERITY",
    "Recipient",
    "get_preference",
    "set_preference",
    "email_recipients",
    "record_delivery",
    "get_delivery",
    "list_deliveries",
    "update_delivery",
]

DEFAULT_CHANNELS: tuple[Channel, ...] = (Channel.IN_APP,)
DEFAULT_MIN_SEVERITY = Severity.MEDIUM


@dataclass(frozen=True)
class Recipient:
    """A user to email: their id, username and address."""

    user_id: str
    username: str
    address: str


# ---------------------------------------------------------------------------------- preferences
def get_preference(session: Session, user_id: str) -> NotificationPreferencePublic:
    """A user's notification preference, or the defaults (in-app only, MEDIUM and above) if never set.

    Args:
        session: open session.
        user_id: the user (not checked to exist).

    Returns:
        The preference; `updated_at` is `None` for the defaults.
    """
    row = session.get(NotificationPreference, user_id)
    if row is None:
        return NotificationPreferencePublic(user_id=user_id, channels=list(DEFAULT_CHANNELS),
                                            min_severity=DEFAULT_MIN_SEVERITY, email=None, updated_at=None)  # fmt: skip
    return NotificationPreferencePublic(user_id=row.user_id, channels=[Channel(c) for c in row.channels],
                                        min_severity=row.min_severity, email=row.email, updated_at=row.updated_at)  # fmt: skip


def set_preference(session: Session, *, user_id: str, data: NotificationPreferenceUpdate) -> NotificationPreferencePublic:
    """Replace a user's notification preference (channels are de-duplicated, in `Channel` order).

    Args:
        session: open session.
        user_id: the user.
        data: the new preference.

    Returns:
        The stored preference.

    Raises:
        NotFoundError: no user with this id.
        ValueError: `email` is among the channels but there is no address (no `email` and the
            username is not an address).
    """
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"user {user_id!r} not found")
    channels = [c for c in Channel if c in set(data.channels)]
    if Channel.EMAIL in channels and email_address(override=data.email, username=user.username) is None:
        raise ValueError("the email channel needs an address: set email (the username is not an address)")
    row = session.get(NotificationPreference, user_id) or NotificationPreference(user_id=user_id)
    row.channels = [c.value for c in channels]
    row.min_severity = Severity(data.min_severity)
    row.email = data.email
    row.updated_at = utcnow()
    session.add(row)
    _commit(session, row)
    return get_preference(session, user_id)


def email_recipients(session: Session, *, severity: Severity | str, camera_id: str | None,
                     job_id: str | None = None) -> list[Recipient]:  # fmt: skip
    """Active users to email about an alert: email among their channels, `min_severity` at or below
    `severity`, allowed to see the alert (`storage.scope.CameraScope`), and with an address.

    Args:
        session: open session.
        severity: the alert's severity.
        camera_id: the alert's camera.
        job_id: the alert's bulk job (it then belongs to the job's camera group, not the camera's).

    Returns:
        The recipients, ordered by username.
    """
    if job_id is not None:
        job = session.get(Job, job_id)
        group = job.camera_group if job is not None else None
    else:
        camera = session.get(Camera, camera_id) if camera_id is not None else None
        group = camera.camera_group if camera is not None else None
    stmt = (select(NotificationPreference, User).join(User, col(User.id) == col(NotificationPreference.user_id))
            .where(col(User.is_active).is_(True)).order_by(col(User.username)))  # fmt: skip
    found = []
    for pref, user in session.exec(stmt).all():
        preference = Preference.from_values(pref.channels, pref.min_severity)  # validated when stored
        if not wants(preference, Channel.EMAIL, severity):
            continue
        scope = CameraScope.of(all_cameras=user.role is UserRole.ADMIN or user.all_cameras, groups=user.camera_groups)
        if not scope.sees_group(group):
            continue
        address = email_address(override=pref.email, username=user.username)
        if address is not None:
            found.append(Recipient(user.id, user.username, address))
    return found


# ----------------------------------------------------------------------------- webhook deliveries
def record_delivery(
    session: Session,
    *,
    alert_id: str,
    url: str,
    payload: dict[str, Any],
    attempts: int,
    status: DeliveryStatus | str,
    last_error: str | None = None,
    delivery_id: str | None = None,
) -> WebhookDelivery:
    """Store the outcome of delivering an alert to one webhook URL.

    Args:
        session: open session.
        alert_id: the alert (must exist).
        url: the webhook URL.
        payload: the JSON body that was sent.
        attempts: attempts made, >= 1.
        status: delivered, or dead (a dead letter).
        last_error: the last failure, if any.
        delivery_id: the id sent as `X-Witness-Delivery` (default: a new one).

    Returns:
        The stored delivery.

    Raises:
        ValueError: `attempts` < 1.
        sqlalchemy.exc.IntegrityError: no alert with this id, or the id is taken.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1, but got {attempts}")
    row = WebhookDelivery(alert_id=alert_id, url=url, payload=payload, attempts=attempts,
                          status=DeliveryStatus(status), last_error=last_error)  # fmt: skip
    if delivery_id is not None:
        row.id = delivery_id
    session.add(row)
    _commit(session, row)
    return row


def get_delivery(session: Session, delivery_id: str) -> WebhookDelivery | None:
    """The delivery with this id, or `None`."""
    return session.get(WebhookDelivery, delivery_id)


def list_deliveries(
    session: Session,
    *,
    status: DeliveryStatus | str | None = DeliveryStatus.DEAD,
    alert_id: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
    scope: CameraScope | None = None,
) -> tuple[list[WebhookDelivery], int]:
    """Webhook deliveries, newest first; by default only the dead letters.

    Args:
        session: open session.
        status: only this status (`None`: every status).
        alert_id: only this alert's deliveries.
        since: only deliveries created at or after this time.
        limit: page size.
        offset: rows to skip.
        scope: only deliveries of alerts this scope sees (`None`: all).

    Returns:
        `(deliveries, total)`: the page and the number of matching deliveries in all.
    """
    conditions = []
    if scope is not None and not scope.all_cameras:
        visible = select(Alert.id).where(scope.row_clause(camera_id=Alert.camera_id, job_id=Alert.job_id))
        conditions.append(col(WebhookDelivery.alert_id).in_(visible))
    if status is not None:
        conditions.append(col(WebhookDelivery.status) == DeliveryStatus(status))
    if alert_id is not None:
        conditions.append(col(WebhookDelivery.alert_id) == alert_id)
    if since is not None:
        conditions.append(col(WebhookDelivery.created_at) >= since)
    total = session.exec(select(func.count()).select_from(WebhookDelivery).where(*conditions)).one()
    stmt = (select(WebhookDelivery).where(*conditions)
            .order_by(col(WebhookDelivery.created_at).desc(), col(WebhookDelivery.id).desc())
            .offset(offset).limit(limit))  # fmt: skip
    return list(session.exec(stmt).all()), total


def update_delivery(
    session: Session, delivery_id: str, *, status: DeliveryStatus | str, attempts: int, last_error: str | None
) -> WebhookDelivery:
    """Record a new outcome of a delivery (after a manual retry).

    Args:
        session: open session.
        delivery_id: the delivery.
        status: its new status.
        attempts: its attempts in all.
        last_error: the latest failure (`None` when it was delivered).

    Returns:
        The updated delivery.

    Raises:
        NotFoundError: no delivery with this id.
    """
    row = session.get(WebhookDelivery, delivery_id)
    if row is None:
        raise NotFoundError(f"webhook delivery {delivery_id!r} not found")
    row.status, row.attempts, row.last_error, row.updated_at = DeliveryStatus(status), attempts, last_error, utcnow()
    session.add(row)
    _commit(session, row)
    return row
