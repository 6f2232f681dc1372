"""Store analytics maths: visits, occupancy, dwell, counts, paths and rollup rows.

Everything here works on plain arrays and small value types, in epoch seconds. The storage layer
turns stored tracks and events into `Visit`s and `Crossing`s with `domain.analytics_visits`, rolls
them up per minute and per hour with `rollup_rows`, and answers queries with `occupancy_series`,
`dwell_stats` and `transition_counts` over the stored rollups or visits.

Terms:
- a *visit* is one person's continuous presence in one zone of one camera (or in the camera's
  whole view, zone `VIEW`), from the first to the last sample inside; its `dwell_s` is
  `t_exit_s - t_enter_s`, so a person standing 12 s in a zone dwells 12 s;
- *occupancy* is the number of people present at an instant; a bucket's `mean` is the integral of
  occupancy over the bucket divided by its length (person-seconds / seconds) and its `peak` the
  largest number present at once;
- a *bounce* is a visit shorter than `bounce_s`;
- a *crossing* is one passage of a person's foot point across a counting line, `in` or `out`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "VIEW",
    "AnalyticsParams",
    "RollupKind",
    "TimeRange",
    "TimeRangeError",
    "Visit",
    "Crossing",
    "RollupRow",
    "OccupancySeries",
    "DwellStats",
    "occupancy",
    "occupancy_series",
    "bucket_edges",
    "auto_bucket_s",
    "dwell_stats",
    "transition_counts",
    "rollup_rows",
    "percentile",
]

VIEW = ""  # the zone name of a camera's whole view: "people seen by this camera"


class AnalyticsParams(BaseModel):
    """Knobs of the analytics: the rollup, the queries, the live metrics (the settings' `analytics` section)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_gap_s: float = Field(
        2.0, gt=0, title="Visit gap (s)",
        description="A track unobserved longer than this leaves the zone (its visit is split). Longer bridges "
        "occlusions but merges a person leaving and coming back.")
    path_max_gap_s: float = Field(120.0, gt=0, title="Path gap (s)",
                                  description="A zone-to-zone transition needs the next zone within this time.")
    bounce_s: float = Field(5.0, ge=0, title="Bounce threshold (s)", description="Visits shorter than this are bounces.")
    dwell_bins_s: list[float] = Field(
        default_factory=lambda: [0, 5, 15, 30, 60, 120, 300, 600], title="Dwell histogram edges (s)",
        description="Increasing, from 0; the last bin is open-ended.")
    heat_grid_w: int = Field(64, ge=1, le=512, title="Heatmap columns",
                             description="Finer grids show more detail but need more footage to stop looking speckled.")
    heat_grid_h: int = Field(48, ge=1, le=512, title="Heatmap rows")
    heat_max_dt_s: float = Field(1.0, gt=0, title="Most seconds one foot point stands for on a heatmap")
    heat_cell_m: float = Field(
        0.5, gt=0, le=10, title="Floor-plan heatmap cell (m)",
        description="Side of a floor-plan heatmap cell (calibrated cameras); about a person's footprint. Changing it "
        "starts new grids: hours stored with another cell size are left out of the sums.")
    live_person_gap_s: float = Field(600.0, gt=0, title="Live person gap (s)",
                                     description="One live track's events further apart than this are different people.")
    live_max_visit_s: float = Field(
        1800.0, gt=0, title="Longest live visit (s)",
        description="Longest visit paired from a live zone_enter and zone_exit; also how far back a new live event "
        "can change earlier hours (more hours are recomputed when it grows).")
    max_query_days: float = Field(93.0, gt=0, title="Longest range of one analytics query (days)",
                                  description="Longer ranges are refused with 422; ask for a report job instead.")
    max_buckets: int = Field(5000, ge=10, title="Most buckets in one occupancy series")
    occupancy_threshold: int = Field(
        10, ge=1, title="Default crowding threshold (people)",
        description="A zone without an occupancy rule counts as crowded above this many people (live alerts, density).")

    @model_validator(mode="after")
    def _check_bins(self) -> AnalyticsParams:
        b = self.dwell_bins_s
        if len(b) < 2 or b[0] != 0 or any(y <= x for x, y in zip(b, b[1:])):
            raise ValueError(f"dwell_bins_s must start at 0 and increase, but got {b}")
        return self

    @property
    def heat_grid_wh(self) -> tuple[int, int]:
        """`(W, H)` heatmap cells."""
        return self.heat_grid_w, self.heat_grid_h


class RollupKind(str, Enum):
    """What a rollup row counts."""

    VIEW = "view"  # people in a camera's view
    ZONE = "zone"  # people in a zone
    LINE = "line"  # crossings of a counting line (`entries` = in, `exits` = out)
    PATH = "path"  # zone-to-zone transitions (`name` → `to_name`, `entries` = count)
    PEOPLE = "people"  # people first seen in the bucket (`entries`), on the camera they were first seen by


class TimeRangeError(ValueError):
    """A time range that cannot be queried; `field` names the offending input (`from`, `to`, `bucket_s`)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


@dataclass(frozen=True)
class TimeRange:
    """A half-open range `[t_from_s, t_to_s)` of epoch seconds.

    Raises:
        TimeRangeError: if `t_to_s <= t_from_s` (an inverted or empty range), or a bound is not finite.

    Example:
        >>> TimeRange(0, 3600).duration_s
        3600.0
    """

    t_from_s: float
    t_to_s: float

    def __post_init__(self) -> None:
        if not np.isfinite(self.t_from_s):
            raise TimeRangeError("from", f"from must be a finite time, but got {self.t_from_s}")
        if not np.isfinite(self.t_to_s):
            raise TimeRangeError("to", f"to must be a finite time, but got {self.t_to_s}")
        if self.t_to_s <= self.t_from_s:
            raise TimeRangeError(
                "to", f"to ({_iso(self.t_to_s)}) must be after from ({_iso(self.t_from_s)}): the range is inverted or empty"
            )

    @classmethod
    def from_datetimes(cls, t_from: datetime | None, t_to: datetime | None, *, max_s: float | None = None) -> TimeRange:
        """A range from two datetimes (naive ones are UTC).

        Args:
            t_from: start, inclusive; `None` is refused (an unbounded range).
            t_to: end, exclusive; `None` is refused.
            max_s: longest allowed range in seconds (`None`: no limit).

        Raises:
            TimeRangeError: a bound is missing, the range is inverted, or longer than `max_s`.
        """
        if t_from is None:
            raise TimeRangeError("from", "from is required: an unbounded range cannot be aggregated")
        if t_to is None:
            raise TimeRangeError("to", "to is required: an unbounded range cannot be aggregated")
        rng = cls(_epoch(t_from), _epoch(t_to))
        if max_s is not None and rng.duration_s > max_s:
            raise TimeRangeError(
                "to", f"the range from {_iso(rng.t_from_s)} to {_iso(rng.t_to_s)} is {rng.duration_s / 86400:.1f} days; "
                f"at most {max_s / 86400:.0f} days can be queried at once (use a report job for longer ranges)"
            )
        return rng

    @property
    def duration_s(self) -> float:
        """Length of the range in seconds."""
        return float(self.t_to_s - self.t_from_s)

    def as_datetimes(self) -> tuple[datetime, datetime]:
        """`(from, to)` as aware UTC datetimes."""
        return _dt(self.t_from_s), _dt(self.t_to_s)


def _epoch(t: datetime) -> float:
    return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).timestamp()


def _dt(t_s: float) -> datetime:
    return datetime.fromtimestamp(t_s, tz=timezone.utc)


def _iso(t_s: float) -> str:
    try:
        return _dt(t_s).isoformat()
    except (OverflowError, OSError, ValueError):
        return str(t_s)


@dataclass(frozen=True)
class Visit:
    """One person's continuous presence in one zone of one camera (`zone == VIEW`: anywhere in view).

    Attributes:
        camera_id: camera id (`"{site}.{key}"`).
        zone: zone name, or `VIEW`.
        person: who: the global id when the identity registry matched the track, else a per-track
            key unique to one video or live session (so unique-people counts fall back to tracks).
        t_enter_s: epoch seconds of the first sample inside.
        t_exit_s: epoch seconds of the last sample inside (`>= t_enter_s`).
        track_id: the per-camera track id, when known.
        global_id: the cross-camera person id, `None` until identities are matched.
    """

    camera_id: str
    zone: str
    person: str
    t_enter_s: float
    t_exit_s: float
    track_id: int | None = None
    global_id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "t_enter_s", float(self.t_enter_s))
        object.__setattr__(self, "t_exit_s", float(self.t_exit_s))
        if self.t_exit_s < self.t_enter_s:
            raise ValueError(f"t_exit_s ({self.t_exit_s}) must be >= t_enter_s ({self.t_enter_s})")

    @property
    def dwell_s(self) -> float:
        """Seconds spent inside: `t_exit_s - t_enter_s`."""
        return self.t_exit_s - self.t_enter_s


@dataclass(frozen=True)
class Crossing:
    """One passage of a person across a counting line.

    Attributes:
        camera_id: camera id.
        line: line name.
        direction: `"in"` (left-hand to right-hand side of start → end on the image) or `"out"`.
        t_s: epoch seconds of the first sample past the line.
        person: person key (as in `Visit`).
    """

    camera_id: str
    line: str
    direction: str
    t_s: float
    person: str


@dataclass(frozen=True)
class RollupRow:
    """One pre-aggregated bucket of one series.

    Attributes:
        camera_id: camera id.
        kind: what is counted.
        name: zone (`VIEW` for the view), line, or the `from` zone of a path.
        to_name: the `to` zone of a path; `""` otherwise.
        bucket_s: bucket length (60 for minutes, 3600 for hours).
        t_bucket: epoch seconds of the bucket's start (a multiple of `bucket_s`).
        person_s: integral of occupancy over the bucket (person-seconds; zones and views).
        peak: most people present at once during the bucket (zones and views).
        entries: visits that started in the bucket; line crossings `in`; path transitions.
        exits: visits that ended in the bucket; line crossings `out`.
    """

    camera_id: str
    kind: RollupKind
    name: str
    to_name: str
    bucket_s: int
    t_bucket: int
    person_s: float = 0.0
    peak: int = 0
    entries: int = 0
    exits: int = 0


@dataclass(frozen=True)
class OccupancySeries:
    """Occupancy of one zone (or view) in consecutive buckets.

    Attributes:
        t_s: `(B,)` float64 epoch seconds of each bucket's start.
        bucket_s: bucket length in seconds.
        mean: `(B,)` float64 mean number of people over each bucket.
        peak: `(B,)` int64 most people present at once in each bucket.
    """

    t_s: npt.NDArray[np.float64]
    bucket_s: float
    mean: npt.NDArray[np.float64]
    peak: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.t_s)

    @property
    def peak_value(self) -> int:
        """The largest `peak` (0 for an empty series)."""
        return int(self.peak.max()) if len(self.peak) else 0

    @property
    def peak_at_s(self) -> float | None:
        """Start of the first bucket reaching `peak_value` (`None` when nobody was ever present)."""
        if not len(self.peak) or self.peak_value == 0:
            return None
        return float(self.t_s[int(np.argmax(self.peak))])

    @property
    def overall_mean(self) -> float:
        """Mean number of people over the whole series (0 for an empty series)."""
        return float(self.mean.mean()) if len(self.mean) else 0.0


@dataclass(frozen=True)
class DwellStats:
    """Distribution of dwell times of the visits to one zone.

    Attributes:
        visits: number of visits.
        bounces: visits shorter than `bounce_s`.
        bounce_s: the bounce threshold used.
        mean_s, median_s, p90_s: dwell statistics in seconds (`None` without visits).
        bin_edges_s: `(K + 1,)` histogram edges in seconds; the last bin is open-ended.
        histogram: `(K,)` visits per bin.
    """

    visits: int
    bounces: int
    bounce_s: float
    mean_s: float | None
    median_s: float | None
    p90_s: float | None
    bin_edges_s: list[float] = field(default_factory=list)
    histogram: list[int] = field(default_factory=list)


def percentile(values: npt.ArrayLike, q: float) -> float | None:
    """The `q`-th percentile (0–100, linear interpolation, NumPy's default), `None` for no values.

    Example:
        >>> percentile([1, 2, 3, 4], 50)
        2.5
    """
    arr = np.asarray(values, dtype=np.float64)
    return None if arr.size == 0 else float(np.percentile(arr, q))


def bucket_edges(t_from_s: float, t_to_s: float, bucket_s: float, *, align: bool = True) -> npt.NDArray[np.float64]:
    """Edges of consecutive buckets covering `[t_from_s, t_to_s)`.

    Args:
        t_from_s: range start (epoch s).
        t_to_s: range end (epoch s).
        bucket_s: bucket length (s), > 0.
        align: start the first bucket at a multiple of `bucket_s` at or before `t_from_s` (so
            buckets line up with the stored rollups); otherwise at `t_from_s`.

    Returns:
        `(B + 1,)` float64 edges; the last edge is at or after `t_to_s`.

    Raises:
        ValueError: if `bucket_s <= 0`.

    Example:
        >>> bucket_edges(30, 150, 60).tolist()
        [0.0, 60.0, 120.0, 180.0]
    """
    if not bucket_s > 0:
        raise ValueError(f"bucket_s must be > 0, but got {bucket_s}")
    start = np.floor(t_from_s / bucket_s) * bucket_s if align else float(t_from_s)
    n = max(1, int(np.ceil((t_to_s - start) / bucket_s - 1e-9)))
    return start + bucket_s * np.arange(n + 1, dtype=np.float64)


def auto_bucket_s(duration_s: float, *, max_buckets: int = 500) -> int:
    """The smallest of 1 min, 5 min, 15 min, 1 h, 6 h, 1 day, 1 week giving at most `max_buckets` buckets.

    Example:
        >>> auto_bucket_s(86400)  # a day: 5-minute buckets
        300
    """
    for b in (60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400):
        if duration_s / b <= max_buckets:
            return b
    return 7 * 86400


def occupancy(
    intervals_s: npt.ArrayLike, edges_s: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Person-seconds and peak number of people per bucket from presence intervals.

    Intervals are closed `[t_enter, t_exit]`: a one-sample visit counts as present at its instant
    (peak 1, zero person-seconds), and two people meeting at one instant count as two.

    Args:
        intervals_s: `(N, 2)` `[t_enter_s, t_exit_s]` per visit, epoch seconds.
        edges_s: `(B + 1,)` increasing bucket edges (epoch s); bucket `b` is `[edges[b], edges[b+1])`.

    Returns:
        `(person_s (B,) float64, peak (B,) int64)`.

    Raises:
        ValueError: on malformed shapes or an interval ending before it starts.

    Example:
        >>> ps, peak = occupancy([[0, 30], [10, 20]], [0, 60])
        >>> ps.tolist(), peak.tolist()
        ([40.0], [2])
    """
    edges = np.asarray(edges_s, dtype=np.float64)
    if edges.ndim != 1 or len(edges) < 2:
        raise ValueError(f"edges_s must have shape (B + 1,) with B >= 1, but got shape {edges.shape}")
    iv = np.asarray(intervals_s, dtype=np.float64)
    if iv.size == 0:
        iv = np.empty((0, 2))
    if iv.ndim != 2 or iv.shape[1] != 2:
        raise ValueError(f"intervals_s must have shape (N, 2), but got shape {iv.shape}")
    if np.any(iv[:, 1] < iv[:, 0]):
        raise ValueError("every interval must end at or after its start")
    starts, ends = np.sort(iv[:, 0]), np.sort(iv[:, 1])
    # F(t) = person-seconds before t = sum(clip(t - start, 0, len)) = sum_{s<t}(t - s) - sum_{e<t}(t - e).
    cs, ce = np.concatenate([[0.0], np.cumsum(starts)]), np.concatenate([[0.0], np.cumsum(ends)])
    ns, ne = np.searchsorted(starts, edges, side="left"), np.searchsorted(ends, edges, side="left")
    integral = (ns * edges - cs[ns]) - (ne * edges - ce[ne])
    person_s = np.maximum(np.diff(integral), 0.0)
    peak = np.zeros(len(edges) - 1, dtype=np.int64)
    if len(iv):
        # Step function: +1 at each start, -1 just after each end (starts first at equal times).
        times = np.concatenate([iv[:, 0], iv[:, 1]])
        steps = np.concatenate([np.ones(len(iv), np.int64), -np.ones(len(iv), np.int64)])
        order = np.lexsort((-steps, times))
        times, level = times[order], np.cumsum(steps[order])
        # People present at each bucket's start: started at or before it, not yet ended before it.
        at_start = np.searchsorted(starts, edges[:-1], side="right") - np.searchsorted(ends, edges[:-1], side="left")
        peak = at_start.astype(np.int64)
        which = np.searchsorted(edges, times, side="right") - 1  # bucket of each change
        inside = (which >= 0) & (which < len(peak))
        if inside.any():
            np.maximum.at(peak, which[inside], level[inside])
    return person_s, peak


def occupancy_series(
    intervals_s: npt.ArrayLike, t_from_s: float, t_to_s: float, bucket_s: float
) -> OccupancySeries:
    """Occupancy per `bucket_s` over `[t_from_s, t_to_s)` from presence intervals.

    Buckets are aligned to multiples of `bucket_s` (like the rollups); the first may start before
    `t_from_s`. Intervals are closed (see `occupancy`): a visit ending exactly at a bucket's start is
    present at that instant, so that bucket's peak counts it.

    Example:
        >>> s = occupancy_series([[0, 60], [0, 30]], 0, 180, 60)
        >>> s.mean.tolist(), s.peak.tolist()
        ([1.5, 0.0, 0.0], [2, 1, 0])
    """
    edges = bucket_edges(t_from_s, t_to_s, bucket_s)
    person_s, peak = occupancy(intervals_s, edges)
    return OccupancySeries(edges[:-1], float(bucket_s), person_s / bucket_s, peak)


def dwell_stats(dwell_s: npt.ArrayLike, *, bounce_s: float, bin_edges_s: Sequence[float]) -> DwellStats:
    """Visits, bounces, mean / median / p90 dwell and a histogram.

    Args:
        dwell_s: `(N,)` dwell seconds of the visits.
        bounce_s: visits shorter than this are bounces.
        bin_edges_s: increasing histogram edges (s) starting at 0; dwell beyond the last edge is
            counted in the last bin.

    Returns:
        The statistics; the median and p90 use linear interpolation.

    Example:
        >>> s = dwell_stats([2, 12, 40], bounce_s=5, bin_edges_s=[0, 10, 30, 60])
        >>> s.visits, s.bounces, s.median_s, s.histogram
        (3, 1, 12.0, [1, 1, 1])
    """
    d = np.asarray(dwell_s, dtype=np.float64).reshape(-1)
    edges = np.asarray(bin_edges_s, dtype=np.float64)
    if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError(f"bin_edges_s must be at least two increasing values, but got {list(bin_edges_s)}")
    clipped = np.minimum(d, np.nextafter(edges[-1], -np.inf))  # the last bin is open-ended
    hist, _ = np.histogram(clipped, bins=edges)
    return DwellStats(
        visits=int(d.size),
        bounces=int((d < bounce_s).sum()),
        bounce_s=float(bounce_s),
        mean_s=float(d.mean()) if d.size else None,
        median_s=percentile(d, 50),
        p90_s=percentile(d, 90),
        bin_edges_s=edges.tolist(),
        histogram=hist.astype(int).tolist(),
    )


def transition_counts(visits: Iterable[Visit], *, max_gap_s: float) -> Counter[tuple[str, str]]:
    """How often people went from one zone to another.

    Per person, zone visits (not `VIEW`) are ordered by entry; a transition `A → B` is counted
    when the person's next visit is to a different zone `B` and starts at most `max_gap_s` after
    leaving `A`. Re-entering the same zone is not a transition.

    Example:
        >>> vs = [Visit("c", "aisle", "p1", 0, 5), Visit("c", "till", "p1", 8, 20)]
        >>> dict(transition_counts(vs, max_gap_s=30))
        {('aisle', 'till'): 1}
    """
    by_person: dict[str, list[Visit]] = {}
    for v in visits:
        if v.zone != VIEW:
            by_person.setdefault(v.person, []).append(v)
    counts: Counter[tuple[str, str]] = Counter()
    for vs in by_person.values():
        vs.sort(key=lambda v: (v.t_enter_s, v.t_exit_s))
        for a, b in zip(vs, vs[1:]):
            if a.zone != b.zone and b.t_enter_s - a.t_exit_s <= max_gap_s:
                counts[(a.zone, b.zone)] += 1
    return counts


def _bucket_of(t_s: npt.NDArray[np.float64], bucket_s: int) -> npt.NDArray[np.int64]:
    return (np.floor(t_s / bucket_s) * bucket_s).astype(np.int64)


def rollup_rows(
    visits: Sequence[Visit],
    crossings: Sequence[Crossing],
    *,
    bucket_s: int,
    path_max_gap_s: float,
) -> list[RollupRow]:
    """Pre-aggregate visits and crossings into rows of `bucket_s` (one row per non-empty bucket).

    Zones and views get person-seconds, peaks, entries (visits starting in the bucket) and exits
    (visits ending in it), for every bucket a visit touches; lines get `in` / `out` counts; paths
    get transition counts in the bucket where the `from` visit ended; people get the number of
    persons first seen in the bucket (so summing them counts people, when each person key belongs to
    one source, as per-track keys do). Summing `person_s` and
    `entries` and taking the max of `peak` over rows gives coarser buckets exactly (the peak of a
    union of buckets is the max of their peaks).

    Args:
        visits: visits of one source (a video or a live camera's stored events).
        crossings: line crossings of the same source.
        bucket_s: bucket length in seconds (e.g. 60, 3600).
        path_max_gap_s: see `transition_counts`.

    Returns:
        Rows sorted by (camera, kind, name, to_name, bucket).

    Example:
        >>> rows = rollup_rows([Visit("c", "aisle", "p", 10, 22)], [], bucket_s=60, path_max_gap_s=60)
        >>> [(r.kind.value, r.name, r.person_s, r.peak, r.entries, r.exits) for r in rows]
        [('zone', 'aisle', 12.0, 1, 1, 1)]
    """
    rows: list[RollupRow] = []
    series: dict[tuple[str, str], list[Visit]] = {}
    for v in visits:
        series.setdefault((v.camera_id, v.zone), []).append(v)
    for (camera_id, zone), vs in series.items():
        iv = np.array([[v.t_enter_s, v.t_exit_s] for v in vs], dtype=np.float64)
        edges = bucket_edges(float(iv[:, 0].min()), float(iv[:, 1].max()) + 1e-6, bucket_s)
        person_s, peak = occupancy(iv, edges)
        t0 = edges[:-1].astype(np.int64)
        entries = np.bincount(np.searchsorted(edges, iv[:, 0], side="right") - 1, minlength=len(t0))[: len(t0)]
        exits = np.bincount(np.searchsorted(edges, iv[:, 1], side="right") - 1, minlength=len(t0))[: len(t0)]
        kind = RollupKind.VIEW if zone == VIEW else RollupKind.ZONE
        for b in np.flatnonzero((peak > 0) | (entries > 0) | (exits > 0)).tolist():
            rows.append(RollupRow(camera_id, kind, zone, "", bucket_s, int(t0[b]), float(person_s[b]), int(peak[b]),
                                  int(entries[b]), int(exits[b])))  # fmt: skip
    lines: Counter[tuple[str, str, int]] = Counter()
    outs: Counter[tuple[str, str, int]] = Counter()
    for c in crossings:
        key = (c.camera_id, c.line, int(_bucket_of(np.array([c.t_s]), bucket_s)[0]))
        (lines if c.direction == "in" else outs)[key] += 1
    for key in sorted(set(lines) | set(outs)):
        rows.append(RollupRow(key[0], RollupKind.LINE, key[1], "", bucket_s, key[2], entries=lines[key], exits=outs[key]))
    paths: Counter[tuple[str, str, str, int]] = Counter()
    by_camera: dict[str, list[Visit]] = {}
    for v in visits:
        by_camera.setdefault(v.camera_id, []).append(v)
    for camera_id, vs in by_camera.items():
        for v_from, v_to, t_exit in _transitions_with_time(vs, path_max_gap_s):
            paths[(camera_id, v_from, v_to, int(_bucket_of(np.array([t_exit]), bucket_s)[0]))] += 1
    for (camera_id, a, b, t), n in sorted(paths.items()):
        rows.append(RollupRow(camera_id, RollupKind.PATH, a, b, bucket_s, t, entries=n))
    first_seen: dict[str, Visit] = {}
    for v in visits:
        if v.person not in first_seen or v.t_enter_s < first_seen[v.person].t_enter_s:
            first_seen[v.person] = v
    arrivals: Counter[tuple[str, int]] = Counter(
        (v.camera_id, int(_bucket_of(np.array([v.t_enter_s]), bucket_s)[0])) for v in first_seen.values()
    )
    for (camera_id, t), n in sorted(arrivals.items()):
        rows.append(RollupRow(camera_id, RollupKind.PEOPLE, VIEW, "", bucket_s, t, entries=n))
    rows.sort(key=lambda r: (r.camera_id, r.kind.value, r.name, r.to_name, r.t_bucket))
    return rows


def _transitions_with_time(visits: Sequence[Visit], max_gap_s: float) -> list[tuple[str, str, float]]:
    by_person: dict[str, list[Visit]] = {}
    for v in visits:
        if v.zone != VIEW:
            by_person.setdefault(v.person, []).append(v)
    out = []
    for vs in by_person.values():
        vs.sort(key=lambda v: (v.t_enter_s, v.t_exit_s))
        for a, b in zip(vs, vs[1:]):
            if a.zone != b.zone and b.t_enter_s - a.t_exit_s <= max_gap_s:
                out.append((a.zone, b.zone, a.t_exit_s))
    return out
