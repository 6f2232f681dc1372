"""Cross-camera identity: whether a new track is a person already known, by appearance gated by space and time.

Appearance alone confuses people dressed alike and separates one person seen from two angles;
where they stood, and when, settles most cases before appearance is asked (the "spatio-temporal
constraints" of multi-camera tracking, e.g. Ristani et al., "Performance Measures and a Data
Set for Multi-Target, Multi-Camera Tracking", ECCV workshops 2016; the AI City Challenge
MTMC baselines gate by camera topology and transit time the same way):

- **Same place, same time.** Two cameras whose views overlap see one floor point at one instant:
  tracks whose plan positions agree (within `colocation_radius_m`) while both are seen are one
  person, provided their appearance is not clearly different.
- **Two places at once.** Tracks seen at the same time in one camera (the tracker keeps people
  apart), or in two cameras at plan positions further apart than `two_places_m`, are different
  people; so is a move between two sightings faster than `max_speed_mps`.
- **Topology and transit.** A camera's `neighbours` list where a person can appear next and how
  many seconds that takes (`transit_s: [min, max]`); a move outside the window, or to a camera
  that is not a neighbour, is refused. Cameras without `neighbours` allow any move within
  `max_gap_s`.
- **Appearance.** What is left is decided by the cosine similarity of appearance embeddings
  against the identity's gallery (`gallery_similarity`), at `min_similarity`.

Times are seconds on one clock for all cameras (epoch seconds live; seconds from the recording
session's start in bulk jobs). Positions are plan metres (`domain.floorplan`), NaN when unknown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np
import numpy.typing as npt

__all__ = [
    "MatchParams",
    "Topology",
    "Sighting",
    "Verdict",
    "MatchDecision",
    "match_sighting",
    "choose_identity",
    "gallery_similarity",
    "crop_quality",
]


@dataclass(frozen=True)
class MatchParams:
    """Gates of the matching policy (see the module docstring for the rules).

    Attributes:
        min_similarity: cosine similarity an appearance-only match needs. The colour descriptors
            score 0.84+ for the same person and ~0.66 for different people on vtest.avi (see
            the README's identity section); raising it splits more people into new ids,
            lowering it merges look-alikes.
        colocated_min_similarity: the appearance floor when the plan positions say "same
            place, same time"; low, since one person seen from two angles can look different.
        colocation_radius_m: two cameras' plan positions of one instant within this are one
            floor point. Calibration error plus box jitter are ~0.3–0.5 m; raising it links
            people walking side by side, lowering it misses true links on poor calibrations.
        two_places_m: positions of one instant further apart than this are two people.
        max_speed_mps: fastest plausible move between two sightings (m/s); brisk walking is
            ~1.5–2 m/s, running ~3+. Lowering it refuses runners' links.
        max_gap_s: longest absence (s) between two sightings of one person when the cameras
            have no topology.
        time_slack_s: timestamps of two cameras this close count as one instant (clock and
            sampling offsets between cameras).
    """

    min_similarity: float = 0.8
    colocated_min_similarity: float = 0.5
    colocation_radius_m: float = 1.0
    two_places_m: float = 2.5
    max_speed_mps: float = 3.0
    max_gap_s: float = 60.0
    time_slack_s: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.colocated_min_similarity <= self.min_similarity <= 1.0:
            raise ValueError("need 0 <= colocated_min_similarity <= min_similarity <= 1")
        if self.two_places_m < self.colocation_radius_m:
            raise ValueError("two_places_m must be >= colocation_radius_m")
        for name in ("colocation_radius_m", "max_speed_mps", "max_gap_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, but got {getattr(self, name)}")


@dataclass(frozen=True)
class Topology:
    """Where a person can go next: `neighbours[camera][next_camera] = (min_s, max_s)` transit windows.

    A camera absent from `neighbours` is unrestricted (any camera, any gap up to `max_gap_s`).
    Windows apply in the direction given; give both directions for a two-way passage.

    Example:
        >>> topo = Topology({"entrance": {"checkout": (0.0, 20.0)}})
        >>> topo.window("entrance", "checkout"), topo.window("entrance", "office"), topo.window("checkout", "office")
        ((0.0, 20.0), None, 'any')
    """

    neighbours: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)

    def window(self, from_camera: str, to_camera: str) -> tuple[float, float] | str | None:
        """`(min_s, max_s)` for a configured move, `"any"` when `from_camera` has no topology, `None` when not allowed."""
        if from_camera == to_camera:
            return "any"
        out = self.neighbours.get(from_camera)
        if not out:
            return "any"
        w = out.get(to_camera)
        return None if w is None else (float(w[0]), float(w[1]))


@dataclass(frozen=True)
class Sighting:
    """A person seen by one camera over a time span (one track, or the known part of it).

    Attributes:
        camera_id: the camera.
        t_s: `(T,)` float64 increasing times (s, on the shared clock), T >= 1.
        map_xy: `(T, 2)` float64 plan positions (m), NaN rows where unknown (uncalibrated camera).
    """

    camera_id: str
    t_s: npt.NDArray[np.float64]
    map_xy: npt.NDArray[np.float64]

    def __post_init__(self) -> None:
        t = np.asarray(self.t_s, np.float64).reshape(-1)
        xy = np.asarray(self.map_xy, np.float64).reshape(-1, 2) if np.size(self.map_xy) else np.full((len(t), 2), np.nan)
        if len(t) == 0:
            raise ValueError("a sighting needs at least one time")
        if xy.shape != (len(t), 2):
            raise ValueError(f"map_xy must have shape ({len(t)}, 2), but got shape {xy.shape}")
        object.__setattr__(self, "t_s", t)
        object.__setattr__(self, "map_xy", xy)

    @property
    def t_first_s(self) -> float:
        return float(self.t_s[0])

    @property
    def t_last_s(self) -> float:
        return float(self.t_s[-1])

    def position_at(self, t_s: npt.ArrayLike, slack_s: float) -> npt.NDArray[np.float64]:
        """`(N, 2)` positions interpolated at `t_s`; NaN outside `[t_first - slack, t_last + slack]` or where unknown."""
        t = np.asarray(t_s, np.float64).reshape(-1)
        ok = np.isfinite(self.map_xy).all(axis=1)
        out = np.full((len(t), 2), np.nan)
        if not ok.any():
            return out
        ts, xy = self.t_s[ok], self.map_xy[ok]
        inside = (t >= ts[0] - slack_s) & (t <= ts[-1] + slack_s)
        for c in range(2):
            out[inside, c] = np.interp(t[inside], ts, xy[:, c])
        return out

    def first_position(self) -> npt.NDArray[np.float64] | None:
        ok = np.flatnonzero(np.isfinite(self.map_xy).all(axis=1))
        return None if len(ok) == 0 else self.map_xy[ok[0]]

    def last_position(self) -> npt.NDArray[np.float64] | None:
        ok = np.flatnonzero(np.isfinite(self.map_xy).all(axis=1))
        return None if len(ok) == 0 else self.map_xy[ok[-1]]


class Verdict(str, Enum):
    """Why a track was (not) matched to an identity."""

    SAME_PLACE = "same_place"  # seen at one floor point at one instant by two cameras: accepted
    APPEARANCE = "appearance"  # plausible move and similar enough: accepted
    SAME_CAMERA_OVERLAP = "same_camera_overlap"  # two tracks at once in one camera: refused
    TWO_PLACES = "two_places"  # far apart at one instant, or an impossible speed: refused
    NOT_NEIGHBOURS = "not_neighbours"  # topology does not allow this move: refused
    OUT_OF_WINDOW = "out_of_window"  # transit time outside the window / max_gap_s: refused
    UNLIKE = "unlike"  # allowed by space and time but not similar enough: refused

    @property
    def accepted(self) -> bool:
        return self in (Verdict.SAME_PLACE, Verdict.APPEARANCE)


@dataclass(frozen=True)
class MatchDecision:
    """The policy's answer for one (track, identity) pair.

    Attributes:
        verdict: see `Verdict`.
        score: ranking of accepted matches, higher is better: `1 + closeness` (0–1) for
            `SAME_PLACE` (so it beats any appearance match), the similarity for `APPEARANCE`;
            `None` when refused.
        detail: a short human-readable reason with the numbers.
    """

    verdict: Verdict
    score: float | None
    detail: str

    @property
    def accepted(self) -> bool:
        return self.verdict.accepted


def _refuse(verdict: Verdict, detail: str) -> MatchDecision:
    return MatchDecision(verdict, None, detail)


def match_sighting(
    new: Sighting,
    known: list[Sighting],
    similarity: float | None,
    *,
    params: MatchParams | None = None,
    topology: Topology | None = None,
) -> MatchDecision:
    """Decide whether `new` is the person of an identity seen as `known`.

    Args:
        new: the track to place.
        known: the identity's sightings (any order, any cameras); empty: only appearance counts.
        similarity: cosine similarity of `new`'s appearance to the identity's gallery
            (`gallery_similarity`), `None` when either has no embedding.
        params: the gates.
        topology: camera neighbours and transit windows (default: unrestricted).

    Returns:
        The `MatchDecision`.

    Example:
        >>> a = Sighting("cam1", np.array([0.0, 1.0]), np.array([[5.0, 5.0], [5.5, 5.0]]))
        >>> b = Sighting("cam2", np.array([0.5, 1.0]), np.array([[5.3, 5.1], [5.4, 5.0]]))
        >>> match_sighting(b, [a], 0.6).verdict.value
        'same_place'
        >>> far = Sighting("cam2", np.array([0.5, 1.0]), np.array([[15.0, 5.0], [15.0, 5.0]]))
        >>> match_sighting(far, [a], 0.99).verdict.value
        'two_places'
    """
    p = params or MatchParams()
    topo = topology or Topology()
    slack = p.time_slack_s
    colocated: list[float] = []
    before: Sighting | None = None  # the latest sighting that ended before `new` started
    after: Sighting | None = None  # the earliest that started after `new` ended
    for k in known:
        if k.camera_id == new.camera_id:
            if new.t_first_s <= k.t_last_s and k.t_first_s <= new.t_last_s:
                return _refuse(Verdict.SAME_CAMERA_OVERLAP,
                               f"seen at the same time as this person in {k.camera_id}")
        elif new.t_first_s <= k.t_last_s + slack and k.t_first_s <= new.t_last_s + slack:
            theirs = k.position_at(new.t_s, slack)
            ok = np.isfinite(theirs).all(axis=1) & np.isfinite(new.map_xy).all(axis=1)
            if ok.any():
                d = float(np.median(np.linalg.norm(theirs[ok] - new.map_xy[ok], axis=1)))
                if d > p.two_places_m:
                    return _refuse(Verdict.TWO_PLACES, f"{d:.1f} m from this person in {k.camera_id} at the same time")
                if d <= p.colocation_radius_m:
                    colocated.append(d)
            continue
        if k.t_last_s < new.t_first_s and (before is None or k.t_last_s > before.t_last_s):
            before = k
        if k.t_first_s > new.t_last_s and (after is None or k.t_first_s < after.t_first_s):
            after = k
    if colocated:
        d = min(colocated)
        if similarity is not None and similarity < p.colocated_min_similarity:
            return _refuse(Verdict.UNLIKE, f"same place ({d:.2f} m) but appearance {similarity:.2f} < "
                                           f"{p.colocated_min_similarity:g}")
        return MatchDecision(Verdict.SAME_PLACE, 1.0 + (1.0 - d / p.colocation_radius_m),
                             f"same floor point ({d:.2f} m) at the same time")
    for a, b in ((before, new), (new, after)):
        if a is None or b is None:
            continue
        gap = b.t_first_s - a.t_last_s
        window = topo.window(a.camera_id, b.camera_id)
        if window is None:
            return _refuse(Verdict.NOT_NEIGHBOURS, f"{b.camera_id} is not a neighbour of {a.camera_id}")
        lo, hi = (0.0, p.max_gap_s) if window == "any" else window
        if not lo - slack <= gap <= hi + slack:
            return _refuse(Verdict.OUT_OF_WINDOW, f"{gap:.1f} s from {a.camera_id} to {b.camera_id}, "
                                                  f"outside [{lo:g}, {hi:g}] s")
        pa, pb = a.last_position(), b.first_position()
        if pa is not None and pb is not None:
            dist = float(np.linalg.norm(pb - pa))
            # Within `two_places_m` any gap is plausible (calibration error, a short step).
            if dist > p.two_places_m and dist > p.max_speed_mps * max(gap, slack):
                return _refuse(Verdict.TWO_PLACES, f"{dist:.1f} m in {gap:.1f} s is faster than {p.max_speed_mps:g} m/s")
    if similarity is None:
        return _refuse(Verdict.UNLIKE, "no appearance to compare")
    if similarity < p.min_similarity:
        return _refuse(Verdict.UNLIKE, f"appearance {similarity:.2f} < {p.min_similarity:g}")
    return MatchDecision(Verdict.APPEARANCE, float(similarity), f"appearance {similarity:.2f}")


def choose_identity(decisions: dict[str, MatchDecision]) -> str | None:
    """The identity with the best accepted decision, or `None` (a new person).

    Args:
        decisions: identity id → decision.

    Example:
        >>> choose_identity({"a": MatchDecision(Verdict.APPEARANCE, 0.85, ""),
        ...                  "b": MatchDecision(Verdict.SAME_PLACE, 1.6, ""),
        ...                  "c": MatchDecision(Verdict.TWO_PLACES, None, "")})
        'b'
    """
    best, best_score = None, -np.inf
    for key, d in decisions.items():
        if d.accepted and d.score is not None and d.score > best_score:
            best, best_score = key, d.score
    return best


def gallery_similarity(similarities: npt.ArrayLike, qualities: npt.ArrayLike, *, top_k: int = 3) -> float | None:
    """Similarity of a query to an identity's gallery: the quality-weighted mean of its `top_k` best matches.

    Using the few best gallery entries (not all) lets a gallery hold several views of a person;
    weighting by quality lets a sharp, unoccluded crop count more than a blurred partial one.

    Args:
        similarities: `(G,)` cosine similarities of the query to each gallery embedding.
        qualities: `(G,)` their qualities (`crop_quality`, > 0).
        top_k: number of best entries averaged.

    Returns:
        The similarity, or `None` for an empty gallery.

    Example:
        >>> round(gallery_similarity([0.9, 0.5, 0.8, 0.1], [1.0, 1.0, 0.5, 1.0], top_k=2), 3)
        0.867
    """
    s = np.asarray(similarities, np.float64).reshape(-1)
    q = np.asarray(qualities, np.float64).reshape(-1)
    if len(s) == 0:
        return None
    if q.shape != s.shape:
        raise ValueError(f"qualities must have shape {s.shape}, but got shape {q.shape}")
    order = np.argsort(-s)[:top_k]
    w = np.maximum(q[order], 1e-6)
    return float(np.dot(s[order], w) / w.sum())


def crop_quality(xyxy: npt.ArrayLike, confidence: float, resolution_wh: tuple[int, int], *,
                 full_height_px: float = 160.0) -> float:
    """How good a person crop is for re-identification, 0–1.

    The product of the detector confidence, the box height relative to `full_height_px`
    (capped at 1: small people have few pixels of clothing) and a penalty of 0.5 when the box
    touches the frame border (the person is cut off).

    Args:
        xyxy: `(4,)` box `[x1, y1, x2, y2]` in pixels.
        confidence: detector confidence 0–1.
        resolution_wh: frame `(width, height)` in pixels.
        full_height_px: box height that counts as fully resolved.

    Returns:
        The quality in `[0, 1]`.

    Example:
        >>> crop_quality([100, 100, 140, 260], 0.9, (768, 576))
        0.9
        >>> crop_quality([0, 100, 40, 180], 0.9, (768, 576))
        0.225
    """
    x1, y1, x2, y2 = (float(v) for v in np.asarray(xyxy, np.float64).reshape(4))
    w, h = resolution_wh
    size = min(1.0, max(0.0, y2 - y1) / full_height_px)
    border = 0.5 if x1 <= 1 or y1 <= 1 or x2 >= w - 1 or y2 >= h - 1 else 1.0
    return float(np.clip(confidence, 0.0, 1.0) * size * border)
