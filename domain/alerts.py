"""The alert review workflow as a pure state machine: every change returns a new state and an audit entry.

    pending ──acknowledge──▶ acknowledged
    pending | acknowledged ──dismiss(reason)──▶ dismissed   (closed)
    pending | acknowledged ──escalate(reason)──▶ escalated  (closed)
    any state ──note(text)──▶ same state

Anything else raises `InvalidTransitionError` (the API maps it to 409). Dismissals are labelled
data for retraining (`dismissal_label`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum
from typing import Any

__all__ = ["AlertStatus", "AlertAction", "InvalidTransitionError", "AlertNote", "AlertState", "AuditEntry",
           "TRANSITIONS", "transition", "acknowledge", "dismiss", "escalate", "add_note", "dismissal_label"]


class AlertStatus(str, Enum):
    """Where an alert is in review."""

    PENDING = "pending"
    ACKNOWLEDGED = "acknowledged"
    DISMISSED = "dismissed"
    ESCALATED = "escalated"


class AlertAction(str, Enum):
    """What a reviewer does to an alert."""

    ACKNOWLEDGE = "acknowledge"
    DISMISS = "dismiss"
    ESCALATE = "escalate"
    NOTE = "note"


# (from status, action) -> to status; `note` is allowed in every state and keeps it.
TRANSITIONS: dict[tuple[AlertStatus, AlertAction], AlertStatus] = {
    (AlertStatus.PENDING, AlertAction.ACKNOWLEDGE): AlertStatus.ACKNOWLEDGED,
    (AlertStatus.PENDING, AlertAction.DISMISS): AlertStatus.DISMISSED,
    (AlertStatus.PENDING, AlertAction.ESCALATE): AlertStatus.ESCALATED,
    (AlertStatus.ACKNOWLEDGED, AlertAction.DISMISS): AlertStatus.DISMISSED,
    (AlertStatus.ACKNOWLEDGED, AlertAction.ESCALATE): AlertStatus.ESCALATED,
}
_NEEDS_REASON = {AlertAction.DISMISS, AlertAction.ESCALATE}


class InvalidTransitionError(RuntimeError):
    """An action not allowed from the alert's status (API: 409).

    Attributes:
        status: the alert's status. action: the refused action.
    """

    def __init__(self, status: AlertStatus, action: AlertAction) -> None:
        self.status, self.action = status, action
        super().__init__(f"cannot {action.value} an alert that is {status.value}")


@dataclass(frozen=True)
class AlertNote:
    """A reviewer's note: `text` by `actor` at `t_s` (epoch seconds)."""

    actor: str
    text: str
    t_s: float


@dataclass(frozen=True)
class AlertState:
    """The review state of one alert (immutable; transitions return a new one).

    Attributes:
        alert_id: the alert.
        status: where it is in review.
        created_t_s: epoch seconds it was raised.
        reason: the dismissal / escalation reason once closed.
        notes: reviewers' notes, oldest first.
        acknowledged_by / acknowledged_t_s: who acknowledged it and when (for time to acknowledge).
        closed_by / closed_t_s: who dismissed or escalated it and when.
    """

    alert_id: str
    status: AlertStatus = AlertStatus.PENDING
    created_t_s: float = 0.0
    reason: str | None = None
    notes: tuple[AlertNote, ...] = ()
    acknowledged_by: str | None = None
    acknowledged_t_s: float | None = None
    closed_by: str | None = None
    closed_t_s: float | None = None

    @property
    def is_closed(self) -> bool:
        """Dismissed or escalated: no further status change is allowed."""
        return self.status in (AlertStatus.DISMISSED, AlertStatus.ESCALATED)


@dataclass(frozen=True)
class AuditEntry:
    """One audited change: `actor` did `action` at `t_s`, moving `from_status` → `to_status`.

    `reason` is the dismissal / escalation reason; `note` the text of a note.
    """

    alert_id: str
    actor: str
    action: AlertAction
    from_status: AlertStatus
    to_status: AlertStatus
    reason: str | None
    t_s: float
    note: str | None = None


def _text(name: str, value: str | None) -> str:
    if value is None or not value.strip():
        raise ValueError(f"{name} must not be empty")
    return value.strip()


def transition(
    state: AlertState, action: AlertAction | str, *, actor: str, t_s: float, reason: str | None = None,
) -> tuple[AlertState, AuditEntry]:
    """Apply `action` to `state`; `state` itself is unchanged.

    Args:
        state: the current state.
        action: acknowledge, dismiss, escalate or note.
        actor: who does it (user name or id).
        t_s: epoch seconds it happens.
        reason: required for dismiss and escalate (the reason) and note (the note's text).

    Returns:
        The new state and the audit entry recording the change.

    Raises:
        InvalidTransitionError: the action is not allowed from `state.status` (checked first).
        ValueError: unknown action, empty actor, or a missing / blank reason or note.

    Example:
        >>> new, entry = transition(AlertState("a1"), "acknowledge", actor="ann", t_s=5.0)
        >>> new.status.value, entry.from_status.value
        ('acknowledged', 'pending')
    """
    action = AlertAction(action)
    if action is AlertAction.NOTE:
        text = _text("note", reason)
        actor = _text("actor", actor)
        new = dataclasses.replace(state, notes=(*state.notes, AlertNote(actor, text, t_s)))
        return new, AuditEntry(state.alert_id, actor, action, state.status, state.status, None, t_s, note=text)
    to_status = TRANSITIONS.get((state.status, action))
    if to_status is None:
        raise InvalidTransitionError(state.status, action)
    actor = _text("actor", actor)
    why = _text("reason", reason) if action in _NEEDS_REASON else None
    if action is AlertAction.ACKNOWLEDGE:
        new = dataclasses.replace(state, status=to_status, acknowledged_by=actor, acknowledged_t_s=t_s)
    else:
        new = dataclasses.replace(state, status=to_status, reason=why, closed_by=actor, closed_t_s=t_s)
    return new, AuditEntry(state.alert_id, actor, action, state.status, to_status, why, t_s)


def acknowledge(state: AlertState, *, actor: str, t_s: float) -> tuple[AlertState, AuditEntry]:
    """`transition(state, "acknowledge", ...)`; see `transition` for Raises."""
    return transition(state, AlertAction.ACKNOWLEDGE, actor=actor, t_s=t_s)


def dismiss(state: AlertState, *, actor: str, t_s: float, reason: str) -> tuple[AlertState, AuditEntry]:
    """`transition(state, "dismiss", ...)`; the reason is required."""
    return transition(state, AlertAction.DISMISS, actor=actor, t_s=t_s, reason=reason)


def escalate(state: AlertState, *, actor: str, t_s: float, reason: str) -> tuple[AlertState, AuditEntry]:
    """`transition(state, "escalate", ...)`; the reason is required."""
    return transition(state, AlertAction.ESCALATE, actor=actor, t_s=t_s, reason=reason)


def add_note(state: AlertState, *, actor: str, t_s: float, text: str) -> tuple[AlertState, AuditEntry]:
    """Append a note (allowed in every state). Raises: ValueError: empty text or actor."""
    return transition(state, AlertAction.NOTE, actor=actor, t_s=t_s, reason=text)


def dismissal_label(state: AlertState) -> dict[str, Any] | None:
    """The retraining label of a dismissed alert, `None` for any other status.

    Example:
        >>> s, _ = dismiss(AlertState("a1"), actor="ann", t_s=9.0, reason="staff restocking")
        >>> dismissal_label(s)["label"]
        'false_positive'
    """
    if state.status is not AlertStatus.DISMISSED:
        return None
    return {"label": "false_positive", "alert_id": state.alert_id, "reason": state.reason,
            "labelled_by": state.closed_by, "t_s": state.closed_t_s}
