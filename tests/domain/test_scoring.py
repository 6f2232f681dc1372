from contextlib import ExitStack as DoesNotRaise

import pytest
from pydantic import ValidationError

from domain.crosscheck import ProductInteraction, cross_check
from domain.pos import Catalog
from domain.scoring import REVIEW_DISCLAIMER, ScoringConfig, Severity, score_intent, severity_for


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (0.0, Severity.NONE),  # empty input: nothing observed
        (0.2999, Severity.NONE),  # just below LOW
        (0.3, Severity.LOW),  # exactly LOW
        (0.4999, Severity.LOW),  # just below MEDIUM
        (0.5, Severity.MEDIUM),  # exactly MEDIUM
        (0.6999, Severity.MEDIUM),  # just below HIGH
        (0.7, Severity.HIGH),  # exactly HIGH
        (0.8499, Severity.HIGH),  # just below CRITICAL
        (0.85, Severity.CRITICAL),  # exactly CRITICAL
        (1.0, Severity.CRITICAL),  # the maximum
    ],
)
def test_severity_boundaries(score, expected) -> None:
    assert severity_for(score) is expected


@pytest.mark.parametrize(
    ("kwargs", "expected_score", "expected_severity", "alert"),
    [
        ({}, 0.0, Severity.NONE, False),  # empty input: nothing seen
        ({"concealment": 1.0}, 0.3, Severity.LOW, False),  # 0.3 × 1 lands exactly on LOW
        ({"duration_s": 150.0, "discrepancy": 1.0}, 0.45, Severity.LOW, False),  # 0.4 + 0.05
        ({"discrepancy": 1.0, "duration_s": 300.0}, 0.5, Severity.MEDIUM, True),  # exactly the alert threshold
        ({"discrepancy": 1.0, "concealment": 1.0}, 0.7, Severity.HIGH, True),  # exactly HIGH
        ({"discrepancy": 1.0, "concealment": 1.0, "bypass": 0.75}, 0.85, Severity.CRITICAL, True),  # exactly CRITICAL
        ({"discrepancy": 1.0, "concealment": 1.0, "bypass": True, "duration_s": 9999.0}, 1.0,
         Severity.CRITICAL, True),  # every component saturated (duration capped at 1)
    ],
)
def test_score_components(kwargs, expected_score, expected_severity, alert) -> None:
    unbilled = kwargs.pop("discrepancy", 0.0)
    report = cross_check([ProductInteraction("CHOC001", 1.0, 1)] * 4, []) if unbilled else None
    args = {"concealment": 0.0, "bypass": False, "duration_s": 0.0, **kwargs}
    result = score_intent(discrepancy=report, **args)
    assert result.score == expected_score
    assert result.severity is expected_severity
    assert result.should_alert is alert
    assert result.requires_human_review
    assert sum(c.contribution for c in result.components.values()) == pytest.approx(result.score)
    assert result.explanation.endswith(REVIEW_DISCLAIMER)


def test_explanation_names_missing_skus() -> None:
    picked = [ProductInteraction(s, 1.0, 3) for s in ("CHOC001", "CHOC001", "JRKY001", "SODA001")]
    report = cross_check(picked, [], window_s=None)
    result = score_intent(discrepancy=report, concealment=0.8, bypass=True, duration_s=240.0,
                          catalog=Catalog.default(), concealment_cue="wrist held at the waist after a pickup")
    assert "4 of 4 picked-up item(s) were not billed: 2 × CHOC001 (Chocolate Bar), 1 × JRKY001 (Beef Jerky), " \
           "1 × SODA001 (Soda Can)." in result.explanation
    assert "concealment cue was seen (wrist held at the waist after a pickup), confidence 0.80" in result.explanation
    assert "shelf to an exit without passing a checkout" in result.explanation
    assert "The visit lasted 240 s." in result.explanation
    assert result.components["discrepancy"] == (1.0, 0.4, 0.4)
    without_catalog = score_intent(discrepancy=report, concealment=0.0, bypass=False, duration_s=0.0)
    assert "2 × CHOC001, 1 × JRKY001, 1 × SODA001." in without_catalog.explanation
    assert "No concealment cue was seen." in without_catalog.explanation


@pytest.mark.parametrize(
    ("kwargs", "expected", "exception"),
    [
        ({}, None, DoesNotRaise()),  # empty input: the design defaults
        ({"discrepancy_weight": 0.5, "concealment_weight": 0.2}, None, DoesNotRaise()),  # still sums to 1
        ({"discrepancy_weight": 0.5}, "weights must sum to 1, but got 1.1", pytest.raises(ValidationError)),
        ({"duration_weight": 0.0}, "weights must sum to 1, but got 0.9", pytest.raises(ValidationError)),
        ({"bypass_weight": -0.1}, "greater than or equal to 0", pytest.raises(ValidationError)),  # bound
        ({"medium_threshold": 0.3}, "thresholds must increase", pytest.raises(ValidationError)),  # LOW == MEDIUM
        ({"alert_threshold": 0.0}, "greater than 0", pytest.raises(ValidationError)),  # bound
        ({"duration_norm_s": 0}, "greater than 0", pytest.raises(ValidationError)),  # bound
        ({"weight": 1.0}, "Extra inputs are not permitted", pytest.raises(ValidationError)),  # typo
    ],
)
def test_config_validation(kwargs, expected, exception) -> None:
    with exception as info:
        ScoringConfig(**kwargs)
    if expected is not None:
        assert expected in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"concealment": 1.5}, "concealment must be in [0, 1], but got 1.5"),  # above 1
        ({"bypass": -0.1}, "bypass must be in [0, 1], but got -0.1"),  # negative
        ({"duration_s": -1.0}, "duration_s must be >= 0, but got -1.0"),  # negative duration
    ],
)
def test_score_input_errors(kwargs, expected) -> None:
    args = {"discrepancy": None, "concealment": 0.0, "bypass": False, "duration_s": 0.0, **kwargs}
    with pytest.raises(ValueError) as info:
        score_intent(**args)
    assert str(info.value) == expected


def test_custom_config_changes_alert() -> None:
    config = ScoringConfig(alert_threshold=0.25)
    result = score_intent(discrepancy=None, concealment=1.0, bypass=False, duration_s=0.0, config=config)
    assert (result.score, result.severity, result.should_alert) == (0.3, Severity.LOW, True)
