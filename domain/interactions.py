"""Product interactions: a wrist entering a shelf zone and leaving it again is a pickup.

Attribution: **one interaction per visit** of a hand into a shelf zone. `ShelfVisit` names
every SKU the zone stocks (`candidate_skus`: the camera cannot tell which product on the shelf
was taken). `detect_pickups` turns each visit into the cross-check's `ProductInteraction`
(defined in `domain.crosscheck`, one unit picked up): `sku` is the zone's SKU when it stocks
exactly one, else `None` (an unattributed pickup, which the cross-check skips rather than
guess, so a multi-SKU shelf never produces a false "not billed"). Visits to shelves without
SKUs give no interaction. We never emit one interaction per stocked SKU: that would count one
hand movement as several units picked up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from domain.crosscheck import ProductInteraction
from domain.pose_features import L_WRIST, R_WRIST
from domain.site import ZoneKind
from domain.tracks import Trajectory
from domain.zones import PolygonZone

__all__ = ["ProductInteraction", "ShelfVisit", "detect_shelf_visits", "detect_pickups"]


@dataclass(frozen=True)
class ShelfVisit:
    """A hand went into a shelf zone and came out again: the evidence behind a pickup.

    Attributes:
        track_id: per-video / per-camera track id of the person.
        zone: shelf zone name (site-file key).
        candidate_skus: every SKU the zone stocks, in site-file order (may be empty).
        t_start_s: seconds when the hand entered the shelf.
        t_end_s: seconds when the hand was first seen outside again (the pickup is complete).
        frame_start: frame index of the entry.
        frame_end: frame index of the exit.
        hand: `"left"` or `"right"`, the wrist seen inside on more frames.
        confidence: 0–1, mean wrist visibility over the frames the hand was seen inside.
    """

    track_id: int
    zone: str
    candidate_skus: tuple[str, ...]
    t_start_s: float
    t_end_s: float
    frame_start: int
    frame_end: int
    hand: str
    confidence: float

    def as_interaction(self) -> ProductInteraction:
        """The cross-check's `ProductInteraction`; `sku` is `None` unless the zone stocks one SKU."""
        sku = self.candidate_skus[0] if len(self.candidate_skus) == 1 else None
        return ProductInteraction(sku, self.t_end_s, self.track_id, self.confidence, self.zone)


def _hand_states(inside: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Carry each hand's last seen in/out state through frames where it is not visible."""
    state = np.zeros_like(inside)
    last = np.zeros(inside.shape[1], dtype=bool)
    for t in range(len(inside)):
        last = np.where(seen[t], inside[t], last)
        state[t] = last
    return state


def detect_shelf_visits(
    trajectory: Trajectory, zones: Sequence[PolygonZone], *, min_visibility: float = 0.3,
    min_dwell_frames: int = 2, cooldown_s: float = 2.0,
) -> list[ShelfVisit]:
    """Hand visits along one trajectory: a visible wrist enters a shelf zone and later leaves it.

    Per shelf zone, the zone holds a hand while either wrist's last visible position is inside
    (a wrist hidden by the shelf keeps its last state). Such a run counts as a visit when a
    wrist was seen inside on at least `min_dwell_frames` frames and the hand was then seen
    outside; a visit still open when the track ends is not reported. Only wrists count: feet
    or a box passing the shelf never do. Non-shelf zones are ignored.

    Args:
        trajectory: one person's track with `keypoints` `(T, 17, 3)` in the zones' pixels.
        zones: runtime zones; only `kind == shelf` ones are used.
        min_visibility: wrists below this visibility are not seen. Raising it drops jittery
            detections but misses hands half-hidden by products.
        min_dwell_frames: frames a wrist must be seen inside. Raising it ignores hands brushing
            the shelf edge but misses quick grabs at low fps.
        cooldown_s: a visit starting within this many seconds after the previous reported
            visit of the same track at the same zone is not reported. Raising it counts one
            rummage once but under-counts several quick picks.

    Returns:
        Visits sorted by `t_end_s` (then zone); empty when `keypoints` is `None`.

    Raises:
        ValueError: if `min_dwell_frames < 1` or `cooldown_s < 0`.

    Example:
        >>> t = Trajectory(1, np.arange(0), np.zeros(0), np.zeros((0, 4), np.float32),
        ...                np.zeros(0, np.float32), np.zeros(0, bool), np.zeros((0, 17, 3), np.float32))
        >>> detect_shelf_visits(t, [])
        []
    """
    if min_dwell_frames < 1 or cooldown_s < 0:
        raise ValueError(f"min_dwell_frames must be >= 1 and cooldown_s >= 0, but got {min_dwell_frames}, {cooldown_s}")
    kp = trajectory.keypoints
    if kp is None or len(trajectory) == 0:
        return []
    wrists = kp[:, [L_WRIST, R_WRIST]]  # (T, 2, 3)
    seen = wrists[..., 2] >= min_visibility  # (T, 2)
    out: list[ShelfVisit] = []
    for zone in zones:
        if zone.kind is not ZoneKind.SHELF:
            continue
        inside = zone.trigger(wrists[..., :2].reshape(-1, 2)).reshape(-1, 2) & seen
        held = _hand_states(inside, seen).any(axis=1)
        last_exit_s = -np.inf
        skus = tuple(zone.config.skus)
        start = None
        for t in range(len(held) + 1):
            if t < len(held) and held[t]:
                start = t if start is None else start
                continue
            if start is None:
                continue
            visit, start = slice(start, t), None
            counts = inside[visit].sum(axis=0)
            if t == len(held) or counts.sum() == 0 or counts.max() < min_dwell_frames:
                continue
            t_start = float(trajectory.t_s[visit.start])
            if t_start - last_exit_s < cooldown_s:
                continue
            hand_col = int(np.argmax(counts))
            vis = wrists[visit][..., 2][inside[visit]]
            last_exit_s = float(trajectory.t_s[t])
            out.append(ShelfVisit(
                track_id=trajectory.track_id, zone=zone.name, candidate_skus=skus, t_start_s=t_start,
                t_end_s=last_exit_s, frame_start=int(trajectory.frame_index[visit.start]),
                frame_end=int(trajectory.frame_index[t]), hand=("left", "right")[hand_col],
                confidence=float(np.clip(vis.mean(), 0.0, 1.0)),
            ))
    return sorted(out, key=lambda v: (v.t_end_s, v.zone))


def detect_pickups(
    trajectory: Trajectory, zones: Sequence[PolygonZone], *, min_visibility: float = 0.3,
    min_dwell_frames: int = 2, cooldown_s: float = 2.0,
) -> list[ProductInteraction]:
    """Pickups for the cross-check: one `ProductInteraction` per `ShelfVisit` to a shelf with SKUs.

    Args:
        trajectory: one person's track with `keypoints` `(T, 17, 3)` in the zones' pixels.
        zones: runtime zones; only `kind == shelf` ones are used.
        min_visibility: as in `detect_shelf_visits`.
        min_dwell_frames: as in `detect_shelf_visits`.
        cooldown_s: as in `detect_shelf_visits`.

    Returns:
        Interactions sorted by `t_s` (the hand leaving the shelf); `sku` is `None` for a shelf
        stocking several SKUs (see the module doc).

    Raises:
        ValueError: if `min_dwell_frames < 1` or `cooldown_s < 0`.

    Example:
        >>> ShelfVisit(3, "snacks", ("CHOC001",), 1.0, 1.6, 10, 16, "right", 0.8).as_interaction()
        ProductInteraction(sku='CHOC001', t_s=1.6, track_id=3, confidence=0.8, zone='snacks')
    """
    visits = detect_shelf_visits(trajectory, zones, min_visibility=min_visibility,
                                 min_dwell_frames=min_dwell_frames, cooldown_s=cooldown_s)
    return [v.as_interaction() for v in visits if v.candidate_skus]
