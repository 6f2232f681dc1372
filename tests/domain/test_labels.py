"""Which label an operator's decision gives (`domain.labels`)."""

from __future__ import annotations

from contextlib import ExitStack as DoesNotRaise

import pytest

from domain.labels import LabelSource, alert_label, event_label, windows_in_span

VISIT = {"t_start_s": 1.0, "t_end_s": 9.0}
CONCEAL = {"class": "concealment", "confidence": 0.7, "t_start_s": 3.0, "t_end_s": 4.0}
PICK = {"class": "pickup", "confidence": 0.9, "t_start_s": 2.0, "t_end_s": 2.5}
BYPASS = {"class": "bypass", "confidence": 0.8, "t_start_s": 8.0, "t_end_s": 8.5}


@pytest.mark.parametrize(
    ("action", "evidence", "expected"),
    [
        ("dismiss", {"visit": VISIT, "behaviours": [CONCEAL]}, ("normal", LabelSource.DISMISSAL, 1.0, 9.0)),  # a false positive
        ("escalate", {"visit": VISIT, "behaviours": [PICK, CONCEAL, BYPASS]}, ("bypass", LabelSource.ESCALATION, 1.0, 9.0)),  # strongest non-pickup
        ("escalate", {"behaviours": [PICK]}, ("pickup", LabelSource.ESCALATION, 2.0, 2.5)),  # pickups only; span from them
        ("escalate", {"behaviours": [{"class": "fall"}]}, None),  # a rule alert: nothing to learn
        ("escalate", {}, None),  # empty evidence
        ("dismiss", None, ("normal", LabelSource.DISMISSAL, None, None)),  # no span: the whole visit
        ("dismiss", {"visit": {"t_start_s": None, "t_end_s": "x"}}, ("normal", LabelSource.DISMISSAL, None, None)),  # odd shapes
        ("acknowledge", {"visit": VISIT}, None),  # not a decision
    ],
)  # fmt: skip
def test_alert_label(action, evidence, expected) -> None:
    spec = alert_label(action, evidence)
    assert (None if spec is None else (spec.label, spec.source, spec.t_start_s, spec.t_end_s)) == expected


@pytest.mark.parametrize(
    ("verdict", "event_type", "expected", "exception"),
    [
        ("confirm", "concealment", "concealment", DoesNotRaise()),  # confirmed: its class
        ("reject", "bypass", "normal", DoesNotRaise()),  # rejected: normal
        ("confirm", "dwell", None, pytest.raises(ValueError, match="not a behaviour class")),  # not a behaviour
        ("maybe", "pickup", None, pytest.raises(ValueError)),  # unknown verdict
        ("", "", None, pytest.raises(ValueError)),  # empty input
    ],
)  # fmt: skip
def test_event_label(verdict, event_type, expected, exception) -> None:
    with exception:
        assert event_label(verdict, event_type, 1.0, 2.0).label == expected


def test_windows_in_span() -> None:
    assert windows_in_span([[0, 2], [2, 4], [4, 6]], None, 3.5).tolist() == [True, True, False]
    assert windows_in_span([], 0, 1).tolist() == []
