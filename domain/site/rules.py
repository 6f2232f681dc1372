"""Rule sections of the site file: a discriminated union on `type`."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "CrossDirection",
    "RuleBase",
    "ZoneEnterRuleConfig",
    "ZoneExitRuleConfig",
    "DwellRuleConfig",
    "LineCrossRuleConfig",
    "ZoneSequenceRuleConfig",
    "OccupancyRuleConfig",
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


RuleConfig = Annotated[
    Union[
        ZoneEnterRuleConfig,
        ZoneExitRuleConfig,
        DwellRuleConfig,
        LineCrossRuleConfig,
        ZoneSequenceRuleConfig,
        OccupancyRuleConfig,
    ],
    Field(discriminator="type"),
]
