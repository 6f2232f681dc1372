"""Intent assessment of one person's visit: pickups, concealment, bypass, the POS cross-check, the score.

The glue bulk jobs and live cameras share, so both raise the same alert for the same evidence:

1. `collect_evidence`: from one trajectory (boxes + COCO-17 keypoints) and the camera's zones,
   the person's zone visits (foot point inside a zone for `inertia_frames` frames), shelf visits
   and pickups (`domain.interactions`), concealment cues (`domain.behaviour.detect_concealment`,
   or a trained classifier's windows via `classifier_events`) and bypasses (shelf → exit with no
   checkout, `domain.behaviour.detect_bypass`).
2. `checkout_transactions`: the transactions attributed to the person: rung up at a checkout zone
   the person stood in after their first pickup, overlapping that stay widened by
   `AssessmentParams.checkout_slack_s` (a till completes a few seconds after the shopper steps
   away). Attribution by the person's own checkout stay, not by a window after the last pickup,
   so a shopper is not credited with the next customer's purchase.
3. `assess_visit`: the `DiscrepancyReport` (picked up vs billed) and the `IntentScore` with its
   components and explanation. `pos_available=False` (no POS data for the site or job) scores
   without a discrepancy component and says so, rather than treating everything as unbilled.

Every score is a request for human review, never a verdict (see `domain.scoring`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from domain.behaviour import BehaviourClass, BehaviourEvent, ZoneVisit, detect_bypass, detect_concealment
from domain.crosscheck import DiscrepancyReport, ProductInteraction, cross_check
from domain.events import Event, EventType
from domain.interactions import ShelfVisit, detect_shelf_visits
from domain.pos import Catalog, Transaction
from domain.scoring import IntentScore, ScoringConfig, score_intent
from domain.site import ZoneKind
from domain.tracks import Trajectory
from domain.zones import PolygonZone

__all__ = [
    "AssessmentParams",
    "VisitEvidence",
    "Assessment",
    "zone_visits",
    "classifier_events",
    "collect_evidence",
    "checkout_transactions",
    "assess_visit",
    "evidence_events",
    "INTENT_RULE",
]

INTENT_RULE = "intent"  # the `rule` of behaviour events and the throttling key of intent alerts


class AssessmentParams(BaseModel):
    """Knobs of the assessment (the settings' `intent` section builds one)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_visibility: float = Field(0.3, ge=0.0, le=1.0, description="Wrist visibility below which a hand is unseen.")
    pickup_min_dwell_frames: int = Field(
        2, ge=1, description="Analysed frames a wrist must stay in a shelf zone for a pickup. Raising it ignores "
        "hands passing over a shelf but misses quick grabs at low fps.")
    pickup_cooldown_s: float = Field(2.0, ge=0.0, description="Seconds after a pickup before the same hand at the "
                                     "same shelf counts again.")
    concealment_min_hold_frames: int = Field(
        5, ge=1, description="Analysed frames a wrist must be held at the waist after a pickup (5 = 1 s at 5 fps). "
        "Walking arms pass the waist too: raising it cuts those false cues but misses a quick slip into a pocket; "
        "scale it with the analysis rate.")
    concealment_max_after_pickup_s: float = Field(10.0, ge=0.0, description="Longest delay from a pickup to the hold.")
    checkout_slack_s: float = Field(
        60.0, ge=0.0, description="Seconds around a person's checkout stay within which a transaction at that "
        "checkout is theirs. Raising it tolerates clock skew between POS and cameras but risks crediting the "
        "next customer's transaction.")
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)


@dataclass(frozen=True)
class VisitEvidence:
    """What was seen of one person: the facts behind a score.

    Attributes:
        track_id: the person's track id.
        t_start_s / t_end_s: first and last seconds the person was tracked.
        frame_start / frame_end: their frame indices.
        zone_visits: stays in zones, by entry time.
        shelf_visits: hands into shelf zones (`ShelfVisit`), every one of them a pickup.
        pickups: the attributable pickups (`ProductInteraction` with a SKU).
        unattributed_pickups: pickups at shelves stocking several SKUs (not cross-checked).
        concealment: concealment cues (heuristic or classifier), by start time.
        bypass: checkout bypasses, by start time.
    """

    track_id: int
    t_start_s: float
    t_end_s: float
    frame_start: int
    frame_end: int
    zone_visits: tuple[ZoneVisit, ...] = ()
    shelf_visits: tuple[ShelfVisit, ...] = ()
    pickups: tuple[ProductInteraction, ...] = ()
    unattributed_pickups: int = 0
    concealment: tuple[BehaviourEvent, ...] = ()
    bypass: tuple[BehaviourEvent, ...] = ()

    @property
    def duration_s(self) -> float:
        """Seconds the person was tracked."""
        return max(self.t_end_s - self.t_start_s, 0.0)

    @property
    def is_of_interest(self) -> bool:
        """Whether there is anything to score: a pickup, a concealment cue or a bypass."""
        return bool(self.shelf_visits or self.concealment or self.bypass)

    def checkout_stays(self) -> list[ZoneVisit]:
        """Stays in checkout zones, by entry time."""
        return [v for v in self.zone_visits if v.kind is ZoneKind.CHECKOUT]


@dataclass(frozen=True)
class Assessment:
    """One person's scored visit.

    Attributes:
        evidence: what was seen.
        report: the cross-check, `None` when no POS data was available.
        transactions: the transactions attributed to the person.
        intent: the score, components, severity and explanation.
    """

    evidence: VisitEvidence
    report: DiscrepancyReport | None
    transactions: tuple[Transaction, ...]
    intent: IntentScore

    @property
    def should_alert(self) -> bool:
        """Whether the score reaches the alert threshold."""
        return self.intent.should_alert

    def alert_fields(self, *, event_ids: Sequence[str] = (), clip_keys: Sequence[str] = ()) -> dict[str, object]:
        """The fields of a stored alert (`storage.crud.create_alert` keywords) for this assessment.

        `components` holds each component's value, weight, contribution and its evidence in
        words; `evidence` holds the event ids, clip keys, discrepancy table, behaviours and visit.
        """
        ev = self.evidence
        words = {
            "discrepancy": "no POS data" if self.report is None else (
                ", ".join(f"{n} × {s} not billed" for s, n in sorted(self.report.missing_from_billing.items()))
                or f"{self.report.picked_units} picked-up unit(s) all billed"),
            "concealment": max(ev.concealment, key=lambda e: e.confidence).explanation if ev.concealment else "none seen",
            "bypass": max(ev.bypass, key=lambda e: e.confidence).explanation if ev.bypass else "none seen",
            "duration": f"visit of {ev.duration_s:.0f} s",
        }
        components = {k: {**c._asdict(), "evidence": words[k]} for k, c in self.intent.components.items()}
        return {
            "score": self.intent.score, "severity": self.intent.severity, "components": components,
            "explanation": self.intent.explanation, "track_id": ev.track_id, "event_ids": list(event_ids),
            "clip_keys": list(clip_keys), "details": self.summary(),
        }

    def summary(self) -> dict[str, object]:
        """JSON-ready facts for an alert's `evidence` and case file: discrepancy table, behaviours, visit."""
        r = self.report
        ev = self.evidence
        return {
            "discrepancy": None if r is None else {
                "picked": dict(r.picked), "billed": dict(r.billed), "missing_from_billing": dict(r.missing_from_billing),
                "extra_in_billing": dict(r.extra_in_billing), "matched": dict(r.matched),
                "match_rate": r.match_rate, "transaction_ids": list(r.transaction_ids),
            },
            "behaviours": [
                {"class": e.class_.value, "t_start_s": e.t_start_s, "t_end_s": e.t_end_s, "confidence": e.confidence,
                 "zone": e.zone, "explanation": e.explanation}
                for e in sorted((*ev.concealment, *ev.bypass), key=lambda e: e.t_start_s)
            ] + [
                {"class": BehaviourClass.PICKUP.value, "t_start_s": v.t_start_s, "t_end_s": v.t_end_s,
                 "confidence": v.confidence, "zone": v.zone,
                 "explanation": f"{v.hand} hand into shelf '{v.zone}'"
                 + (f" (SKU {', '.join(v.candidate_skus)})" if v.candidate_skus else "")}
                for v in ev.shelf_visits
            ],
            "unattributed_pickups": ev.unattributed_pickups,
            "visit": {"t_start_s": ev.t_start_s, "t_end_s": ev.t_end_s, "duration_s": ev.duration_s},
        }


def _runs(mask: npt.NDArray[np.bool_], min_len: int) -> list[tuple[int, int]]:
    """`[start, end)` index runs of True at least `min_len` long."""
    padded = np.concatenate([[False], mask, [False]])
    starts = np.flatnonzero(~padded[:-1] & padded[1:])
    ends = np.flatnonzero(padded[:-1] & ~padded[1:])
    return [(int(a), int(b)) for a, b in zip(starts, ends) if b - a >= min_len]


def zone_visits(trajectory: Trajectory, zones: Sequence[PolygonZone]) -> list[ZoneVisit]:
    """One track's stays in zones, by its foot point (box bottom centre).

    A stay is a run of at least the zone's `inertia_frames` consecutive frames with the foot point
    inside (the rules engine's debounce), from its first to its last frame.

    Args:
        trajectory: the person's track (`xyxy` `(T, 4)` pixels, `t_s` `(T,)` seconds).
        zones: runtime zones in the same pixels.

    Returns:
        Visits sorted by entry time.
    """
    if len(trajectory) == 0:
        return []
    xyxy = np.asarray(trajectory.xyxy, dtype=np.float64)
    feet = np.stack([(xyxy[:, 0] + xyxy[:, 2]) / 2.0, xyxy[:, 3]], axis=1)
    t_s = np.asarray(trajectory.t_s, dtype=np.float64)
    out = [
        ZoneVisit(zone.name, zone.kind, float(t_s[a]), float(t_s[b - 1]))
        for zone in zones
        for a, b in _runs(zone.trigger(feet), max(zone.inertia_frames, 1))
    ]
    return sorted(out, key=lambda v: (v.t_enter_s, v.zone))


def classifier_events(
    trajectory: Trajectory, proba: npt.ArrayLike, bounds: npt.ArrayLike, classes: Sequence[str], *,
    min_confidence: float = 0.6, model_version: str | None = None,
) -> list[BehaviourEvent]:
    """Behaviour events from a trained classifier's per-window probabilities.

    Consecutive windows whose best class is the same non-normal class at or above
    `min_confidence` merge into one event (confidence = their highest probability).

    Args:
        trajectory: the track the windows were computed on.
        proba: `(W, C)` probabilities, rows summing to 1 (NaN rows = window without features).
        bounds: `(W, 2)` frame ranges `[start, end)` into the trajectory (from `window_features`).
        classes: the `C` class names (`BehaviourClass` values).
        min_confidence: least probability for a window to count.
        model_version: named in the explanation.

    Returns:
        Events sorted by start time; `pickup` windows are not returned (pickups come from shelf zones).

    Raises:
        ValueError: if the shapes disagree.
    """
    p = np.asarray(proba, dtype=np.float64)
    b = np.asarray(bounds, dtype=np.int64).reshape(-1, 2)
    if p.ndim != 2 or p.shape[0] != len(b) or p.shape[1] != len(classes):
        raise ValueError(f"proba must be (W={len(b)}, C={len(classes)}), but got {p.shape}")
    t_s = np.asarray(trajectory.t_s, dtype=np.float64)
    events: list[BehaviourEvent] = []
    current: tuple[str, int, int, float] | None = None  # class, first window, last window, best p

    def close(c: tuple[str, int, int, float]) -> None:
        name, i, j, best = c
        a, z = int(b[i, 0]), int(min(b[j, 1], len(t_s)) - 1)
        probs = {k: float(v) for k, v in zip(classes, np.nanmax(p[i:j + 1], axis=0))}
        total = sum(probs.values()) or 1.0
        events.append(BehaviourEvent(
            BehaviourClass(name), float(t_s[a]), float(t_s[z]), float(best),
            {k: v / total for k, v in probs.items()},
            f"behaviour model{f' {model_version}' if model_version else ''}: {name} with probability {best:.2f} "
            f"over {t_s[z] - t_s[a]:.1f} s",
            trajectory.track_id,
        ))

    for w in range(len(b)):
        row = p[w]
        if not np.isfinite(row).all():
            if current:
                close(current)
                current = None
            continue
        k = int(row.argmax())
        name, conf = classes[k], float(row[k])
        wanted = name not in (BehaviourClass.NORMAL.value, BehaviourClass.PICKUP.value) and conf >= min_confidence
        if current and (not wanted or name != current[0]):
            close(current)
            current = None
        if wanted:
            current = (name, w, w, conf) if current is None else (name, current[1], w, max(current[3], conf))
    if current:
        close(current)
    return sorted(events, key=lambda e: e.t_start_s)


def collect_evidence(
    trajectory: Trajectory, zones: Sequence[PolygonZone], params: AssessmentParams | None = None, *,
    classified: Sequence[BehaviourEvent] = (), zone_labels: Mapping[str, str] | None = None,
) -> VisitEvidence:
    """Everything the score needs about one person.

    Args:
        trajectory: the person's track with `keypoints` `(T, 17, 3)` (without keypoints no
            pickup or concealment can be seen; zone stays and bypass still can).
        zones: the camera's runtime zones (shelf zones with SKUs, checkout, exit...).
        params: thresholds; default `AssessmentParams()`.
        classified: behaviour events from a trained classifier (`classifier_events`); its
            concealment events are used alongside the heuristic's, its bypass events alongside the
            zone-sequence one.
        zone_labels: display names of zones for explanations.

    Returns:
        The evidence (empty tuples when nothing was seen).
    """
    p = params or AssessmentParams()
    n = len(trajectory)
    if n == 0:
        return VisitEvidence(trajectory.track_id, 0.0, 0.0, 0, 0)
    visits = zone_visits(trajectory, zones)
    shelf = detect_shelf_visits(trajectory, zones, min_visibility=p.min_visibility,
                                min_dwell_frames=p.pickup_min_dwell_frames, cooldown_s=p.pickup_cooldown_s)
    pickups = tuple(v.as_interaction() for v in shelf if len(v.candidate_skus) == 1)
    unattributed = sum(1 for v in shelf if len(v.candidate_skus) > 1)
    concealment = detect_concealment(
        trajectory, shelf, min_hold_frames=p.concealment_min_hold_frames,
        max_after_pickup_s=p.concealment_max_after_pickup_s, min_visibility=p.min_visibility, zone_labels=zone_labels,
    )
    # A shelf counts as visited when the feet stood in it or a hand went into it (shelf zones are
    # usually drawn on the shelves, where hands reach and feet never stand).
    hands = [ZoneVisit(v.zone, ZoneKind.SHELF, v.t_start_s, v.t_end_s) for v in shelf]
    bypass = detect_bypass([*visits, *hands], track_id=trajectory.track_id, pickups=shelf)
    concealment += [e for e in classified if e.class_ is BehaviourClass.CONCEALMENT]
    bypass += [e for e in classified if e.class_ is BehaviourClass.BYPASS]
    return VisitEvidence(
        trajectory.track_id, float(trajectory.t_s[0]), float(trajectory.t_s[-1]), int(trajectory.frame_index[0]),
        int(trajectory.frame_index[-1]), tuple(visits), tuple(shelf), pickups, unattributed,
        tuple(sorted(concealment, key=lambda e: e.t_start_s)), tuple(sorted(bypass, key=lambda e: e.t_start_s)),
    )


def checkout_transactions(
    evidence: VisitEvidence, transactions: Sequence[Transaction], *, slack_s: float = 60.0,
    time_offset_s: float = 0.0,
) -> list[Transaction]:
    """The transactions attributed to the person (see the module doc).

    A transaction is attributed when its `[t_start_s, t_end_s]` (shifted by `-time_offset_s` onto the
    video clock) overlaps a checkout stay of the person that began after their first pickup (any
    stay when they picked nothing up), widened by `slack_s` on both sides, and its `zone` is that
    checkout zone or unknown (`None`: a POS file without zones, one checkout assumed).

    Args:
        evidence: the person's evidence.
        transactions: candidates (POS clock).
        slack_s: seconds of tolerance around each stay, ≥ 0.
        time_offset_s: POS clock at video time 0 (0 when both use the same clock, as live cameras do).

    Returns:
        The attributed transactions, each once, in time order.

    Raises:
        ValueError: if `slack_s` < 0.
    """
    if slack_s < 0:
        raise ValueError(f"slack_s must be >= 0, but got {slack_s}")
    first_pickup = min((v.t_start_s for v in evidence.shelf_visits), default=None)
    stays = [s for s in evidence.checkout_stays() if first_pickup is None or s.t_exit_s >= first_pickup]
    out: dict[str, Transaction] = {}
    for tx in transactions:
        t0, t1 = tx.t_start_s - time_offset_s, tx.t_end_s - time_offset_s
        for s in stays:
            if (tx.zone is None or tx.zone == s.zone) and t1 >= s.t_enter_s - slack_s and t0 <= s.t_exit_s + slack_s:
                out[tx.id] = tx
                break
    return sorted(out.values(), key=lambda t: (t.t_start_s, t.id))


def assess_visit(
    evidence: VisitEvidence, transactions: Sequence[Transaction], params: AssessmentParams | None = None, *,
    pos_available: bool = True, catalog: Catalog | None = None, time_offset_s: float = 0.0,
) -> Assessment:
    """Cross-check and score one person's visit.

    Args:
        evidence: from `collect_evidence`.
        transactions: every candidate transaction (the site's or the job's POS data); the
            person's are picked with `checkout_transactions`.
        params: thresholds and scoring config; default `AssessmentParams()`.
        pos_available: `False` when there is no POS data at all: no cross-check is made
            (the discrepancy component is 0 and the explanation says no cross-check was available).
        catalog: names products in the explanation.
        time_offset_s: POS clock at video time 0 (see `checkout_transactions`).

    Returns:
        The assessment; `should_alert` when the score reaches the alert threshold.

    Example:
        >>> ev = VisitEvidence(7, 0.0, 30.0, 0, 300, pickups=(ProductInteraction("CHOC001", 5.0, 7),))
        >>> a = assess_visit(ev, [])
        >>> dict(a.report.missing_from_billing), a.intent.components["discrepancy"].value
        ({'CHOC001': 1}, 1.0)
    """
    p = params or AssessmentParams()
    mine = checkout_transactions(evidence, transactions, slack_s=p.checkout_slack_s, time_offset_s=time_offset_s)
    report = cross_check(list(evidence.pickups), mine, window_s=None) if pos_available else None
    best_concealment = max(evidence.concealment, key=lambda e: e.confidence, default=None)
    bypass = max((e.confidence for e in evidence.bypass), default=0.0)
    intent = score_intent(
        discrepancy=report, concealment=best_concealment.confidence if best_concealment else 0.0,
        bypass=float(bypass), duration_s=evidence.duration_s, config=p.scoring, catalog=catalog,
        concealment_cue=best_concealment.explanation if best_concealment else None,
    )
    return Assessment(evidence, report, tuple(mine), intent)


_EVENT_TYPE = {BehaviourClass.CONCEALMENT: EventType.CONCEALMENT, BehaviourClass.BYPASS: EventType.BYPASS,
               BehaviourClass.PICKUP: EventType.PICKUP}


def evidence_events(
    evidence: VisitEvidence, trajectory: Trajectory, *, camera_id: str, clip: bool = True,
) -> list[Event]:
    """The evidence as timeline events: one `pickup` per shelf visit, one per concealment cue and bypass.

    Args:
        evidence: from `collect_evidence` on `trajectory`.
        trajectory: gives each event's frame indices (nearest frame to its times).
        camera_id: the camera (site-file key or live camera id).
        clip: whether the events ask for evidence clips (an alerting person's do).

    Returns:
        Events of rule `INTENT_RULE`, by start time.
    """
    if len(trajectory) == 0:
        return []
    t_s = np.asarray(trajectory.t_s, dtype=np.float64)
    frames = np.asarray(trajectory.frame_index)

    def frame_at(t: float) -> int:
        i = int(np.clip(np.searchsorted(t_s, t), 0, len(t_s) - 1))
        if i > 0 and abs(t_s[i - 1] - t) <= abs(t_s[i] - t):
            i -= 1
        return int(frames[i])

    out = [
        Event(EventType.PICKUP, INTENT_RULE, camera_id, evidence.track_id, v.zone, v.t_start_s, v.t_end_s,
              v.frame_start, v.frame_end, v.confidence,
              {"hand": v.hand, "candidate_skus": list(v.candidate_skus),
               "sku": v.candidate_skus[0] if len(v.candidate_skus) == 1 else None}, clip)
        for v in evidence.shelf_visits
    ]
    out += [
        Event(_EVENT_TYPE[e.class_], INTENT_RULE, camera_id, evidence.track_id, e.zone, e.t_start_s, e.t_end_s,
              frame_at(e.t_start_s), frame_at(e.t_end_s), e.confidence,
              {"explanation": e.explanation, "probabilities": e.probabilities}, clip)
        for e in (*evidence.concealment, *evidence.bypass)
    ]
    return sorted(out, key=lambda e: (e.t_start_s, e.type.value))
