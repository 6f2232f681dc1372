from contextlib import ExitStack as DoesNotRaise
from decimal import Decimal

import numpy as np
import pytest

from domain.assessment import (
    INTENT_RULE,
    AssessmentParams,
    VisitEvidence,
    assess_visit,
    checkout_transactions,
    classifier_events,
    collect_evidence,
    evidence_events,
    zone_visits,
)
from domain.behaviour import BehaviourClass
from domain.crosscheck import ProductInteraction
from domain.events import EventType
from domain.pos import Catalog, LineItem, PaymentMethod, Transaction
from domain.scoring import Severity
from domain.site import ZoneConfig, ZoneKind
from domain.tracks import Trajectory
from domain.zones import PolygonZone
from tests.domain.test_pose_features import pose_sequence

WH = (640, 480)
FPS = 10.0


def _zone(name: str, kind: str, x0: float, y0: float, x1: float, y1: float, skus=()) -> PolygonZone:
    poly = [[x0 / WH[0], y0 / WH[1]], [x1 / WH[0], y0 / WH[1]], [x1 / WH[0], y1 / WH[1]], [x0 / WH[0], y1 / WH[1]]]
    return PolygonZone(name, ZoneConfig(kind=kind, polygon=poly, skus=list(skus), inertia_frames=2), WH)


# The reach pose at cx=300 puts the right wrist at (430, 220); feet are at y=400.
ZONES = [
    _zone("snacks", "shelf", 400, 150, 500, 300, ["CHOC001"]),
    _zone("till", "checkout", 50, 380, 150, 420),
    _zone("door", "exit", 550, 380, 640, 420),
]


def person(*segments: tuple[float, list[str]], track_id: int = 1) -> Trajectory:
    """A person built from `(cx, arm poses)` segments: standing at `cx` for one frame per pose."""
    kps, boxes = [], []
    for cx, arms in segments:
        kp, _, xyxy = pose_sequence(arms, cx=cx)
        kps.append(kp)
        boxes.append(xyxy)
    kp, xyxy = np.concatenate(kps), np.concatenate(boxes)
    n = len(kp)
    return Trajectory(track_id, np.arange(n, dtype=np.int64), np.arange(n) / FPS, xyxy.astype(np.float32),
                      np.full(n, 0.9, np.float32), np.zeros(n, bool), kp.astype(np.float32))


R, P, W = "rest", "reach", "waist"
PICK = (300.0, [R] * 5 + [P] * 3 + [R] * 5)  # one pickup of CHOC001, hand leaves the shelf at t = 0.8 s
PICK_TWICE = (300.0, [R] * 5 + [P] * 3 + [R] * 25 + [P] * 3 + [R] * 5)
TILL = (100.0, [R] * 20)
DOOR = (600.0, [R] * 5)


def tx(tx_id: str, t_s: float, skus: dict[str, int], zone: str | None = "till") -> Transaction:
    items = tuple(LineItem(s, q, Decimal("1.00")) for s, q in skus.items())
    return Transaction(tx_id, "T1", items, Decimal(sum(skus.values())), PaymentMethod.CARD, t_s, t_s, None, zone)


def test_zone_visits_follow_the_feet() -> None:
    visits = zone_visits(person(PICK, TILL, DOOR), ZONES)
    assert [(v.zone, v.kind) for v in visits] == [("till", ZoneKind.CHECKOUT), ("door", ZoneKind.EXIT)]
    assert visits[0].t_enter_s == pytest.approx(1.3) and visits[0].t_exit_s == pytest.approx(3.2)


def test_shoplifting_bypass_raises_a_medium_alert_naming_the_sku() -> None:
    evidence = collect_evidence(person(PICK, DOOR), ZONES)
    assert [p.sku for p in evidence.pickups] == ["CHOC001"]
    assert [e.class_ for e in evidence.bypass] == [BehaviourClass.BYPASS]
    a = assess_visit(evidence, [tx("other", 100.0, {"CHOC001": 1})], catalog=Catalog.default())
    assert a.transactions == ()  # never at a checkout: someone else's purchase is not theirs
    assert dict(a.report.missing_from_billing) == {"CHOC001": 1}
    assert a.should_alert and a.intent.severity is Severity.MEDIUM
    assert a.intent.score == pytest.approx(0.4 + 0.2 * 0.9 + 0.1 * 1.7 / 300, abs=1e-6)
    assert "CHOC001 (Chocolate Bar)" in a.intent.explanation
    assert a.intent.explanation.endswith("not a finding of theft.")


def test_paid_shopper_is_not_alerted() -> None:
    evidence = collect_evidence(person(PICK, TILL, DOOR), ZONES)
    assert evidence.bypass == ()
    a = assess_visit(evidence, [tx("t1", 2.5, {"CHOC001": 1})])
    assert [t.id for t in a.transactions] == ["t1"]
    assert a.report.match_rate == 1.0 and not a.should_alert
    assert a.intent.severity is Severity.NONE


def test_partial_billing_counts_the_missing_units() -> None:
    evidence = collect_evidence(person(PICK_TWICE, TILL, DOOR), ZONES)
    assert [p.sku for p in evidence.pickups] == ["CHOC001", "CHOC001"]
    a = assess_visit(evidence, [tx("t1", 5.0, {"CHOC001": 1})])
    assert dict(a.report.missing_from_billing) == {"CHOC001": 1}
    assert a.report.match_rate == 0.5
    assert a.intent.components["discrepancy"].contribution == pytest.approx(0.2)


def test_without_pos_data_no_cross_check_is_made() -> None:
    a = assess_visit(collect_evidence(person(PICK, DOOR), ZONES), [], pos_available=False)
    assert a.report is None
    assert a.intent.components["discrepancy"].value == 0.0
    assert "No point-of-sale cross-check was available." in a.intent.explanation
    assert not a.should_alert  # bypass 0.18 alone stays below the alert threshold


def test_concealment_after_pickup_is_scored_and_explained() -> None:
    params = AssessmentParams(concealment_min_hold_frames=8)
    evidence = collect_evidence(person((300.0, [R] * 5 + [P] * 3 + [R] * 2 + [W] * 12 + [R] * 3), DOOR), ZONES, params)
    assert [e.class_ for e in evidence.concealment] == [BehaviourClass.CONCEALMENT]
    a = assess_visit(evidence, [], params)
    assert a.intent.components["concealment"].value == evidence.concealment[0].confidence > 0.5
    assert "wrist held at the waist" in a.intent.explanation
    assert a.intent.severity in (Severity.HIGH, Severity.CRITICAL)


@pytest.mark.parametrize(
    ("transaction", "offset", "attributed"),
    [
        (tx("t", 2.5, {"CHOC001": 1}), 0.0, True),  # during the checkout stay
        (tx("t", 2.5, {"CHOC001": 1}, zone=None), 0.0, True),  # a POS file without zones: one checkout assumed
        (tx("t", 2.5, {"CHOC001": 1}, zone="till-2"), 0.0, False),  # another checkout
        (tx("t", 3.2 + 60.0 + 0.5, {"CHOC001": 1}), 0.0, False),  # after the stay + slack
        (tx("t", 3.2 + 59.0, {"CHOC001": 1}), 0.0, True),  # inside the slack
        (tx("t", 1_700_000_002.5, {"CHOC001": 1}), 1_700_000_000.0, True),  # POS epoch clock, video from 0
    ],
)
def test_checkout_transactions(transaction, offset, attributed) -> None:
    evidence = collect_evidence(person(PICK, TILL, DOOR), ZONES)
    got = checkout_transactions(evidence, [transaction], slack_s=60.0, time_offset_s=offset)
    assert (got == [transaction]) is attributed


def test_checkout_before_the_first_pickup_does_not_count() -> None:
    evidence = collect_evidence(person(TILL, PICK, DOOR), ZONES)
    assert checkout_transactions(evidence, [tx("t", 1.0, {"CHOC001": 1})], slack_s=0.0) == []


def test_checkout_transactions_validation() -> None:
    with pytest.raises(ValueError, match="slack_s"):
        checkout_transactions(VisitEvidence(1, 0, 1, 0, 1), [], slack_s=-1)


@pytest.mark.parametrize(
    ("proba", "expected", "exception"),
    [
        ([[0.9, 0.0, 0.1, 0.0]] * 3, [], DoesNotRaise()),  # normal throughout
        ([[0.1, 0.0, 0.9, 0.0], [0.2, 0.0, 0.7, 0.1], [0.9, 0.0, 0.1, 0.0]], [("concealment", 0, 44, 0.9)], DoesNotRaise()),
        ([[0.1, 0.0, 0.5, 0.4]] * 2, [], DoesNotRaise()),  # below min_confidence
        ([[0.0, 0.0, 0.1, 0.9], [np.nan] * 4, [0.0, 0.0, 0.1, 0.9]],
         [("bypass", 0, 29, 0.9), ("bypass", 30, 59, 0.9)], DoesNotRaise()),  # a featureless window splits events
        ([[0.0, 1.0, 0.0, 0.0]], [], DoesNotRaise()),  # pickups come from shelf zones, not the classifier
        ([[1.0, 0.0]], None, pytest.raises(ValueError)),  # wrong number of classes
    ],
)
def test_classifier_events(proba, expected, exception) -> None:
    traj = person((300.0, [R] * 60))
    bounds = [[0, 30], [15, 45], [30, 60]][: len(proba)]
    with exception:
        events = classifier_events(traj, proba, bounds, [c.value for c in BehaviourClass], min_confidence=0.6,
                                   model_version="v0001")
        got = [(e.class_.value, round(e.t_start_s * FPS), round(e.t_end_s * FPS), e.confidence) for e in events]
        assert got == expected
        assert all("behaviour model v0001" in e.explanation for e in events)


def test_classifier_concealment_feeds_the_score() -> None:
    traj = person(PICK, DOOR)
    classified = classifier_events(traj, [[0.05, 0.0, 0.95, 0.0]], [[0, 18]], [c.value for c in BehaviourClass])
    evidence = collect_evidence(traj, ZONES, classified=classified)
    a = assess_visit(evidence, [])
    assert a.intent.components["concealment"].value == 0.95
    assert a.intent.severity is Severity.CRITICAL


def test_evidence_events_are_a_timeline_with_frames() -> None:
    traj = person(PICK, DOOR)
    evidence = collect_evidence(traj, ZONES)
    events = evidence_events(evidence, traj, camera_id="cam", clip=True)
    assert [(e.type, e.zone, e.frame_start, e.frame_end) for e in events] == [
        (EventType.BYPASS, "door", 5, 13), (EventType.PICKUP, "snacks", 5, 8)]  # bypass from the hand at the shelf
    assert {e.rule for e in events} == {INTENT_RULE} and all(e.clip for e in events)
    assert events[1].payload["sku"] == "CHOC001"


def test_summary_is_json_ready() -> None:
    a = assess_visit(VisitEvidence(3, 0.0, 10.0, 0, 100, pickups=(ProductInteraction("CHOC001", 5.0, 3),)), [])
    s = a.summary()
    assert s["discrepancy"]["missing_from_billing"] == {"CHOC001": 1}
    assert s["visit"]["duration_s"] == 10.0


def test_zone_visit_is_debounced() -> None:
    # one frame at the door is not a stay (inertia 2 frames)
    visits = zone_visits(person(PICK, (600.0, [R]), (300.0, [R] * 3)), ZONES)
    assert visits == []
