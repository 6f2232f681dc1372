from contextlib import ExitStack as DoesNotRaise

import pytest

from domain.alerts import (
    AlertAction, AlertState, AlertStatus, InvalidTransitionError, add_note, dismissal_label, transition,
)

P, A, D, E = AlertStatus.PENDING, AlertStatus.ACKNOWLEDGED, AlertStatus.DISMISSED, AlertStatus.ESCALATED


@pytest.mark.parametrize(
    ("status", "action", "reason", "expected", "exception"),
    [
        (P, "acknowledge", None, A, DoesNotRaise()),  # pending → acknowledged
        (P, "dismiss", "staff restocking", D, DoesNotRaise()),  # pending → dismissed
        (P, "escalate", "seen on two cameras", E, DoesNotRaise()),  # pending → escalated
        (A, "dismiss", "customer paid at kiosk", D, DoesNotRaise()),  # acknowledged → dismissed
        (A, "escalate", "repeat visitor", E, DoesNotRaise()),  # acknowledged → escalated
        (P, "dismiss", "", "reason must not be empty", pytest.raises(ValueError)),  # empty input: no reason
        (P, "dismiss", None, "reason must not be empty", pytest.raises(ValueError)),  # missing reason
        (A, "escalate", "   ", "reason must not be empty", pytest.raises(ValueError)),  # blank reason
        (A, "acknowledge", None, "cannot acknowledge an alert that is acknowledged",
         pytest.raises(InvalidTransitionError)),  # acknowledged twice
        (D, "acknowledge", None, "cannot acknowledge an alert that is dismissed", pytest.raises(InvalidTransitionError)),
        (D, "dismiss", "again", "cannot dismiss an alert that is dismissed", pytest.raises(InvalidTransitionError)),
        (D, "escalate", "x", "cannot escalate an alert that is dismissed", pytest.raises(InvalidTransitionError)),
        (E, "acknowledge", None, "cannot acknowledge an alert that is escalated", pytest.raises(InvalidTransitionError)),
        (E, "dismiss", "x", "cannot dismiss an alert that is escalated", pytest.raises(InvalidTransitionError)),
        (E, "escalate", "x", "cannot escalate an alert that is escalated", pytest.raises(InvalidTransitionError)),
        (E, "dismiss", "", "cannot dismiss an alert that is escalated",
         pytest.raises(InvalidTransitionError)),  # closed is reported before the missing reason
        (P, "reopen", None, "'reopen' is not a valid AlertAction", pytest.raises(ValueError)),  # unknown action
    ],
)
def test_transitions(status, action, reason, expected, exception) -> None:
    state = AlertState("a1", status=status, created_t_s=100.0)
    with exception as info:
        new, entry = transition(state, action, actor="ann", t_s=160.0, reason=reason)
    assert state.status is status  # the input is never changed
    if isinstance(exception, DoesNotRaise):
        assert new.status is expected and new is not state
        assert (entry.alert_id, entry.actor, entry.action.value, entry.from_status, entry.to_status, entry.t_s) == (
            "a1", "ann", action, status, expected, 160.0)
        assert entry.reason == reason and new.reason == reason
        assert new.closed_by == ("ann" if new.is_closed else None)
    else:
        assert str(info.value) == expected
        if isinstance(info.value, InvalidTransitionError):
            assert (info.value.status, info.value.action) == (status, AlertAction(action))


def test_empty_actor_rejected() -> None:
    with pytest.raises(ValueError, match="actor must not be empty"):
        transition(AlertState("a1"), "acknowledge", actor="", t_s=1.0)


@pytest.mark.parametrize(
    ("status", "text", "exception"),
    [
        (P, "checked camera 3", DoesNotRaise()),  # pending
        (A, "called the floor manager", DoesNotRaise()),  # acknowledged
        (D, "later: item found on shelf", DoesNotRaise()),  # closed alerts still take notes
        (E, "police report filed", DoesNotRaise()),  # closed alerts still take notes
        (P, "", pytest.raises(ValueError)),  # empty input: empty note
        (D, "  ", pytest.raises(ValueError)),  # blank note
    ],
)
def test_notes(status, text, exception) -> None:
    state = AlertState("a1", status=status)
    with exception as info:
        new, entry = add_note(state, actor="bob", t_s=5.0, text=text)
    if isinstance(exception, DoesNotRaise):
        assert new.status is status and new.notes[-1].text == text and state.notes == ()
        assert (entry.action, entry.from_status, entry.to_status, entry.note) == (AlertAction.NOTE, status, status, text)
    else:
        assert str(info.value) == "note must not be empty"


def test_workflow_and_dismissal_label() -> None:
    state = AlertState("a1", created_t_s=100.0)
    assert dismissal_label(state) is None  # pending: no label
    state, _ = transition(state, "acknowledge", actor="ann", t_s=130.0)
    assert (state.acknowledged_by, state.acknowledged_t_s) == ("ann", 130.0)
    assert dismissal_label(state) is None  # acknowledged: no label
    state, entry = transition(state, "dismiss", actor="ann", t_s=200.0, reason="staff restocking")
    assert dismissal_label(state) == {"label": "false_positive", "alert_id": "a1", "reason": "staff restocking",
                                      "labelled_by": "ann", "t_s": 200.0}
    escalated, _ = transition(AlertState("a2"), "escalate", actor="cy", t_s=1.0, reason="confirmed on video")
    assert dismissal_label(escalated) is None  # escalations are not false positives
