"""Behaviour classes and the explainable heuristics used until a trained classifier is supplied.

Heuristic confidences are rule-of-thumb scores, not calibrated probabilities; `probabilities`
spreads them over the four classes so that downstream code can treat heuristic and classifier
output alike. Every event says in `explanation` which cue fired.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from domain.interactions import ShelfVisit
from domain.pose_features import L_WRIST, R_WRIST, waist_mask
from domain.site import ZoneKind
from domain.tracks import Trajectory

__all__ = ["BehaviourClass", "BehaviourEvent", "ZoneVisit", "detect_concealment", "detect_bypass"]


class BehaviourClass(str, Enum):
    """Closed set of behaviour classes the classifier and the heuristics emit."""

    NORMAL = "normal"
    PICKUP = "pickup"
    CONCEALMENT = "concealment"
    BYPASS = "bypass"


@dataclass(frozen=True)
class BehaviourEvent:
    """One recognised behaviour of one track.

    Attributes:
        class_: the behaviour.
        t_start_s: seconds when it began.
        t_end_s: seconds when it ended.
        confidence: 0–1 score of `class_`.
        probabilities: score per class value (`"normal"`, `"pickup"`, ...), summing to 1.
        explanation: plain-language cue, e.g. "right wrist held at the waist for 1.4 s, ...".
        track_id: per-camera track id, `None` if unknown.
        zone: the zone the behaviour refers to (the pickup's shelf, the exit), `None` if none.
    """

    class_: BehaviourClass
    t_start_s: float
    t_end_s: float
    confidence: float
    probabilities: dict[str, float] = field(default_factory=dict)
    explanation: str = ""
    track_id: int | None = None
    zone: str | None = None


@dataclass(frozen=True)
class ZoneVisit:
    """One track's stay in one zone (e.g. from the rules engine's enter/exit events)."""

    zone: str
    kind: ZoneKind
    t_enter_s: float
    t_exit_s: float


def _probabilities(cls: BehaviourClass, confidence: float) -> dict[str, float]:
    probs = {c.value: 0.0 for c in BehaviourClass}
    probs[cls.value] = confidence
    probs[BehaviourClass.NORMAL.value] += 1.0 - confidence
    return probs


def _shelf_label(zone: str, labels: Mapping[str, str] | None) -> str:
    label = (labels or {}).get(zone, zone)
    return f"the {label}" if "shelf" in label.lower() else f"the {label} shelf"


def detect_concealment(
    trajectory: Trajectory, pickups: Sequence[ShelfVisit], *, min_hold_frames: int = 8,
    max_after_pickup_s: float = 10.0, min_visibility: float = 0.3, zone_labels: Mapping[str, str] | None = None,
) -> list[BehaviourEvent]:
    """Concealment: after a pickup, a wrist brought to the waist / pocket / bag region and held.

    A hold is a run of consecutive frames with the same wrist in `waist_mask` (relative to the
    hips, scaled by torso length). It counts when it starts after a pickup of this track ended
    (`t_end_s`), within `max_after_pickup_s`, and lasts at least `min_hold_frames`. A hold already
    under way at the pickup does not count. Each pickup yields at most one event (its first
    qualifying hold), attributed to the latest pickup before the hold.

    Confidence = 0.5 + 0.25 · min(1, hold / (2 · min_hold_frames)) + 0.25 · mean wrist
    visibility during the hold.

    Args:
        trajectory: the person's track with `keypoints` `(T, 17, 3)`.
        pickups: shelf visits from `detect_shelf_visits` (a visit to a shelf is a pickup, even
            one stocking several or no SKUs); other tracks' are ignored.
        min_hold_frames: shortest hold. Raising it ignores a hand brushing the hip but misses a
            quick slip into a pocket at low fps.
        max_after_pickup_s: longest delay from pickup to hold. Raising it catches a shopper who
            hides an item later but links unrelated gestures to old pickups.
        min_visibility: wrists below this visibility are not in the region.
        zone_labels: display names per zone name (e.g. friendly names) for explanations.

    Returns:
        `CONCEALMENT` events sorted by start time; empty without keypoints or pickups.

    Raises:
        ValueError: if `min_hold_frames < 1` or `max_after_pickup_s < 0`.

    Example:
        >>> t = Trajectory(1, np.arange(0), np.zeros(0), np.zeros((0, 4), np.float32),
        ...                np.zeros(0, np.float32), np.zeros(0, bool), np.zeros((0, 17, 3), np.float32))
        >>> detect_concealment(t, [])
        []
    """
    if min_hold_frames < 1 or max_after_pickup_s < 0:
        raise ValueError(
            f"min_hold_frames must be >= 1 and max_after_pickup_s >= 0, but got {min_hold_frames}, {max_after_pickup_s}"
        )
    mine = sorted((p for p in pickups if p.track_id == trajectory.track_id), key=lambda p: p.t_end_s)
    if trajectory.keypoints is None or not mine or len(trajectory) == 0:
        return []
    waist = waist_mask(trajectory.keypoints, min_visibility=min_visibility)
    t_s = np.asarray(trajectory.t_s, dtype=np.float64)
    events: list[BehaviourEvent] = []
    used: set[int] = set()
    for col, (wrist, name) in enumerate(((L_WRIST, "left"), (R_WRIST, "right"))):
        run = np.concatenate([[False], waist[:, col], [False]])
        starts, ends = np.flatnonzero(~run[:-1] & run[1:]), np.flatnonzero(run[:-1] & ~run[1:])
        for a, b in zip(starts.tolist(), ends.tolist()):  # frames [a, b)
            before = [i for i, p in enumerate(mine) if p.t_end_s < t_s[a] and t_s[a] - p.t_end_s <= max_after_pickup_s]
            if b - a < min_hold_frames or not before or before[-1] in used:
                continue
            used.add(before[-1])
            pickup = mine[before[-1]]
            hold_s = float(t_s[b - 1] - t_s[a])
            vis = float(trajectory.keypoints[a:b, wrist, 2].mean())
            conf = float(np.clip(0.5 + 0.25 * min(1.0, (b - a) / (2 * min_hold_frames)) + 0.25 * vis, 0, 1))
            skus = ", ".join(pickup.candidate_skus)
            explanation = (
                f"{name} wrist held at the waist for {hold_s:.1f} s, {t_s[a] - pickup.t_end_s:.1f} s after a "
                f"pickup at {_shelf_label(pickup.zone, zone_labels)}" + (f" (candidate SKUs: {skus})" if skus else "")
            )
            events.append(BehaviourEvent(
                BehaviourClass.CONCEALMENT, float(t_s[a]), float(t_s[b - 1]), conf,
                _probabilities(BehaviourClass.CONCEALMENT, conf), explanation, trajectory.track_id, pickup.zone,
            ))
    return sorted(events, key=lambda e: e.t_start_s)


def detect_bypass(
    visits: Sequence[ZoneVisit], *, track_id: int | None = None, pickups: Sequence[ShelfVisit] = (),
    base_confidence: float = 0.6, with_pickup_confidence: float = 0.9,
) -> list[BehaviourEvent]:
    """Bypass: the zone sequence shelf → exit with no checkout visit in between.

    Visits are taken in order of entry. Entering an exit zone fires if a shelf was entered
    since the last checkout visit (or since the start); the pending shelves are then cleared,
    so shelf → checkout → shelf → exit fires for the second shelf only. Same notion as the
    `zone_sequence` rule with `absent: [checkout]`.

    Args:
        visits: one track's zone visits (any order; sorted by `t_enter_s`).
        track_id: the track, copied into the events.
        pickups: that track's shelf visits (`detect_shelf_visits`); a pickup during the pending shelf visits raises the
            confidence from `base_confidence` to `with_pickup_confidence`.
        base_confidence: confidence when the shopper only passed shelves.
        with_pickup_confidence: confidence when a pickup was seen at those shelves.

    Returns:
        `BYPASS` events, `t_start_s` = first pending shelf entry, `t_end_s` = exit entry.

    Raises:
        ValueError: if a confidence is outside 0–1.

    Example:
        >>> v = [ZoneVisit("snacks", ZoneKind.SHELF, 0, 5), ZoneVisit("door", ZoneKind.EXIT, 9, 10)]
        >>> detect_bypass(v)[0].explanation
        "entered exit 'door' 9.0 s after shelf 'snacks' without visiting a checkout"
    """
    if not (0 <= base_confidence <= 1 and 0 <= with_pickup_confidence <= 1):
        raise ValueError(f"confidences must be within 0-1, but got {base_confidence}, {with_pickup_confidence}")
    events: list[BehaviourEvent] = []
    pending: list[ZoneVisit] = []
    for visit in sorted(visits, key=lambda v: v.t_enter_s):
        if visit.kind is ZoneKind.CHECKOUT:
            pending.clear()
        elif visit.kind is ZoneKind.SHELF:
            pending.append(visit)
        elif visit.kind is ZoneKind.EXIT and pending:
            first = pending[0]
            names = {v.zone for v in pending}
            picked = [p for p in pickups if p.zone in names and first.t_enter_s <= p.t_end_s <= visit.t_enter_s
                      and (track_id is None or p.track_id == track_id)]
            conf = with_pickup_confidence if picked else base_confidence
            shelves = ", ".join(f"'{z}'" for z in dict.fromkeys(v.zone for v in pending))
            explanation = (
                f"entered exit '{visit.zone}' {visit.t_enter_s - first.t_enter_s:.1f} s after shelf {shelves} "
                "without visiting a checkout" + (f"; {len(picked)} pickup(s) seen there" if picked else "")
            )
            events.append(BehaviourEvent(
                BehaviourClass.BYPASS, float(first.t_enter_s), float(visit.t_enter_s), conf,
                _probabilities(BehaviourClass.BYPASS, conf), explanation, track_id, visit.zone,
            ))
            pending.clear()
    return events
