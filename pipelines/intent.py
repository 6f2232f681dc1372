"""Intent assessment of a bulk job's videos: POS file loading, per-person scoring, evidence events.

A job may carry POS data (`witness analyze … --pos FILE`, or a POS file uploaded with the job).
Its times are put on the video clock with `JobPos.time_offset_s` (the POS time of video second 0,
from `--video-start`); without a start time the POS file's times must already be seconds from
the start of the video. A file with wall-clock times and no start time is refused rather than
matched against nothing (which would report every pickup as unbilled).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import PurePath

from actors.behaviour_replica import trajectory_classifier
from domain.assessment import Assessment, AssessmentParams, assess_visit, collect_evidence, evidence_events
from domain.behaviour import BehaviourEvent
from domain.events import Event
from domain.pos import Catalog, PosFileError, Transaction, parse_transactions_csv, parse_transactions_json
from domain.site import CameraConfig, ZoneKind
from domain.tracks import Trajectory
from domain.zones import PolygonZone

__all__ = ["JobPos", "parse_pos_file", "assess_video", "Classify", "WALL_CLOCK_MIN_S", "trajectory_classifier"]

WALL_CLOCK_MIN_S = 1e8  # POS times above this (1973-03-03 in epoch seconds) are wall-clock, not video seconds
Classify = Callable[[Trajectory], list[BehaviourEvent]]


@dataclass(frozen=True)
class JobPos:
    """A bulk job's POS data.

    Attributes:
        transactions: the transactions (POS clock).
        source: file name, for messages and the job's parameters.
        time_offset_s: POS time (s) of video second 0; 0 when the file counts from the video start.
    """

    transactions: tuple[Transaction, ...]
    source: str
    time_offset_s: float = 0.0

    def describe(self) -> dict[str, object]:
        """What the job's parameters record about the POS data."""
        return {"source": self.source, "transactions": len(self.transactions), "time_offset_s": self.time_offset_s}


def parse_pos_file(
    data: bytes | str, name: str, *, catalog: Catalog | None = None, video_start: datetime | float | None = None,
) -> JobPos:
    """Parse a POS file (JSON or CSV, by the name's extension) for a bulk job.

    Args:
        data: the file's contents (UTF-8).
        name: its file name (`.json` or `.csv`), named in errors.
        catalog: SKUs and prices (default `Catalog.default()`); unknown SKUs are errors.
        video_start: wall-clock time of the video's first frame (aware datetime, naive = UTC, or
            epoch seconds); required when the file's times are wall-clock times.

    Returns:
        The job's POS data.

    Raises:
        PosFileError: unreadable or invalid file (names the line), an unsupported extension, or
            wall-clock times without `video_start`.
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as err:
        raise PosFileError(name, 1, f"not UTF-8 text ({err.reason} at byte {err.start})") from None
    suffix = PurePath(name).suffix.lower()
    if suffix == ".json":
        transactions = parse_transactions_json(text, name, catalog)
    elif suffix == ".csv":
        transactions = parse_transactions_csv(text, name, catalog)
    else:
        raise PosFileError(name, 1, f"unsupported POS file type '{suffix or name}': use .json or .csv")
    if isinstance(video_start, datetime):
        offset = (video_start if video_start.tzinfo else video_start.replace(tzinfo=timezone.utc)).timestamp()
    else:
        offset = float(video_start or 0.0)
    if not offset and any(t.t_start_s > WALL_CLOCK_MIN_S for t in transactions):
        first = min(transactions, key=lambda t: t.t_start_s)
        when = datetime.fromtimestamp(first.t_start_s, timezone.utc).isoformat()
        raise PosFileError(name, 1, f"times are wall-clock times (e.g. transaction '{first.id}' at {when}); give the "
                                    "video's start time (--video-start) or times in seconds from the video start")
    return JobPos(tuple(transactions), name, offset)


def assess_video(
    trajectories: Sequence[Trajectory], *, camera: CameraConfig, camera_id: str, resolution_wh: tuple[int, int],
    params: AssessmentParams, pos: JobPos | None, catalog: Catalog | None = None, classify: Classify | None = None,
) -> list[tuple[Assessment, list[Event]]]:
    """Score every person who picked something up, concealed or bypassed, with their evidence events.

    Args:
        trajectories: the video's people (with keypoints).
        camera: the camera config whose zones (shelves with SKUs, checkouts, exits) apply.
        camera_id: the site camera key, put on the events.
        resolution_wh: video frame size (px).
        params: assessment thresholds and scoring.
        pos: the job's POS data; `None` = no cross-check (the explanation says so).
        catalog: names products in explanations.
        classify: a trained behaviour model's events for a trajectory (`None` = heuristics only).

    Returns:
        `(assessment, events)` per person of interest; the events ask for clips when the
        assessment raises an alert.
    """
    zones = [PolygonZone(name, cfg, resolution_wh) for name, cfg in camera.zones.items()]
    if not any(z.kind in (ZoneKind.SHELF, ZoneKind.CHECKOUT, ZoneKind.EXIT) for z in zones):
        return []
    labels = {name: cfg.friendly_name for name, cfg in camera.zones.items() if cfg.friendly_name}
    out = []
    for traj in trajectories:
        classified = classify(traj) if classify is not None else []
        evidence = collect_evidence(traj, zones, params, classified=classified, zone_labels=labels)
        if not evidence.is_of_interest:
            continue
        assessment = assess_visit(
            evidence, pos.transactions if pos else (), params, pos_available=pos is not None, catalog=catalog,
            time_offset_s=pos.time_offset_s if pos else 0.0,
        )
        out.append((assessment, evidence_events(evidence, traj, camera_id=camera_id, clip=assessment.should_alert)))
    return out

