"""Alert storage: create, filter, stats, transitions (all or nothing), notes, history, dismissal labels."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from domain.alerts import AlertStatus, InvalidTransitionError
from domain.scoring import ComponentScore, Severity
from storage import crud
from storage.labels import list_labels
from storage.models import Alert

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


def create_random_alert(session: Session, *, severity: str = "medium", minutes: int = 0, **fields: object) -> Alert:
    """Test data: an alert raised `minutes` after T0."""
    return crud.create_alert(session, score=0.6, severity=severity, explanation="2 of 3 items were not billed.",
                             components={"discrepancy": ComponentScore(0.66, 0.4, 0.264)},
                             event_ids=["e1"], clip_keys=["clips/e1.mp4"], created_at=T0 + timedelta(minutes=minutes),
                             **fields)  # fmt: skip


def test_create_and_list_filters(db_engine: Engine) -> None:
    with Session(db_engine) as s:
        a = create_random_alert(s, camera_id="shop.door", track_id=3)
        create_random_alert(s, severity="high", minutes=5)
        create_random_alert(s, severity="low", minutes=10)
        got = crud.get_alert(s, a.id)
        assert got.status is AlertStatus.PENDING and got.severity is Severity.MEDIUM
        assert got.components["discrepancy"] == {"value": 0.66, "weight": 0.4, "contribution": 0.264}
        assert got.evidence == {"event_ids": ["e1"], "clip_keys": ["clips/e1.mp4"]}
        assert got.requires_human_review is True and got.created_at == T0

        rows, count = crud.list_alerts(s)
        assert count == 3 and [r.severity.value for r in rows] == ["low", "high", "medium"]  # newest first
        rows, count = crud.list_alerts(s, oldest_first=True, limit=2, offset=1)
        assert count == 3 and [r.severity.value for r in rows] == ["high", "low"]
        assert crud.list_alerts(s, severity="high")[1] == 1
        assert [r.id for r in crud.list_alerts(s, camera_id="shop.door")[0]] == [a.id]
        assert crud.list_alerts(s, since=T0 + timedelta(minutes=5))[1] == 2
        assert crud.list_alerts(s, status="dismissed") == ([], 0)


def test_transitions_history_and_stats(db_engine: Engine) -> None:
    with Session(db_engine) as s:
        a = create_random_alert(s)
        b = create_random_alert(s, severity="high")
        assert crud.alert_stats(s)["mean_time_to_acknowledge_s"] is None
        crud.apply_transition(s, a.id, "acknowledge", actor="ann", at=T0 + timedelta(seconds=30))
        crud.apply_transition(s, b.id, "acknowledge", actor="bob", at=T0 + timedelta(seconds=90))
        crud.add_note(s, a.id, actor="ann", text="checking the clip")
        done = crud.apply_transition(s, a.id, "dismiss", actor="ann", reason="staff restocking")
        assert (done.status, done.reason, done.closed_by) == (AlertStatus.DISMISSED, "staff restocking", "ann")
        assert done.acknowledged_by == "ann" and done.closed_at is not None

        history = crud.list_history(s, a.id)
        assert [(h.action, h.from_status.value, h.to_status.value) for h in history] == [
            ("acknowledge", "pending", "acknowledged"),
            ("note", "acknowledged", "acknowledged"),
            ("dismiss", "acknowledged", "dismissed"),
        ]
        assert [n.text for n in crud.list_notes(s, a.id)] == ["checking the clip"]

        stats = crud.alert_stats(s)
        assert stats["total"] == 2
        assert stats["by_status"] == {"pending": 0, "acknowledged": 1, "dismissed": 1, "escalated": 0}
        assert stats["by_severity"]["medium"] == 1 and stats["by_severity"]["high"] == 1
        assert stats["mean_time_to_acknowledge_s"] == pytest.approx(60.0)

        labels, count = list_labels(s)  # the dismissal became a training label in the same transaction
        assert count == 1
        assert (labels[0].label, labels[0].source, labels[0].alert_id) == ("normal", "dismissal", a.id)
        assert labels[0].reason == "staff restocking" and labels[0].given_by == "ann"


@pytest.mark.parametrize(
    ("setup", "action", "reason", "exception"),
    [
        ([("dismiss", "fp")], "acknowledge", None, InvalidTransitionError),  # closed: no ack
        ([("escalate", "theft")], "dismiss", "fp", InvalidTransitionError),  # closed: no dismiss
        ([("acknowledge", None)], "acknowledge", None, InvalidTransitionError),  # twice
        ([], "dismiss", None, ValueError),  # no reason
        ([], "escalate", "   ", ValueError),  # blank reason
        ([], "note", "", ValueError),  # empty note
        ([], "bogus", None, ValueError),  # unknown action
    ],
)
def test_refused_changes_write_nothing(db_engine: Engine, setup: list, action: str, reason: str | None,
                                       exception: type[Exception]) -> None:  # fmt: skip
    with Session(db_engine) as s:
        a = create_random_alert(s)
        for act, why in setup:
            crud.apply_transition(s, a.id, act, actor="ann", reason=why)
        before = (crud.get_alert(s, a.id).status, len(crud.list_history(s, a.id)), len(crud.list_notes(s, a.id)))
        with pytest.raises(exception):
            crud.apply_transition(s, a.id, action, actor="ann", reason=reason)
        s.expire_all()
        after = (crud.get_alert(s, a.id).status, len(crud.list_history(s, a.id)), len(crud.list_notes(s, a.id)))
        assert after == before


def test_unknown_alert(db_engine: Engine) -> None:
    with Session(db_engine) as s:
        assert crud.get_alert(s, "nope") is None
        with pytest.raises(crud.NotFoundError):
            crud.apply_transition(s, "nope", "acknowledge", actor="ann")
