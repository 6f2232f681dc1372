"""Camera sections of the site file: zones, lines and the rules that use them."""

from __future__ import annotations

import warnings
from enum import Enum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from pydantic_core import PydanticCustomError

from domain.geometry import polygon_area, polygon_self_intersects
from domain.site.floorplan import CalibrationConfig, NeighbourConfig
from domain.site.rules import LineCrossRuleConfig, RuleConfig, ZoneSequenceRuleConfig

__all__ = ["ZoneKind", "PointNorm", "NAME_MAX_LENGTH", "Name", "ZoneConfig", "LineConfig", "CameraConfig"]

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
PointNorm = tuple[Fraction, Fraction]  # [x, y] as fractions of frame width and height
NAME_MAX_LENGTH = 128  # zone, line and rule names are stored on every event (`event.zone`, `event.rule`)
Name = Annotated[str, StringConstraints(min_length=1, max_length=NAME_MAX_LENGTH)]


class ZoneKind(str, Enum):
    """What a zone stands for in the store."""

    SHELF = "shelf"
    CHECKOUT = "checkout"
    EXIT = "exit"
    RESTRICTED = "restricted"
    QUEUE = "queue"
    GENERIC = "generic"


class ZoneConfig(BaseModel):
    """A polygon on the camera image, normalized to 0–1."""

    model_config = ConfigDict(extra="forbid")

    friendly_name: str | None = Field(default=None, title="Friendly name", description="Display name.")
    kind: ZoneKind = Field(default=ZoneKind.GENERIC, title="Kind", description="Role of the zone.")
    polygon: list[PointNorm] = Field(
        min_length=3,
        title="Polygon",
        description="Vertices `[x, y]` as fractions (0–1) of frame width and height, in order; "
        "at least 3, non-degenerate and not self-intersecting.",
    )
    skus: list[str] = Field(
        default_factory=list, title="SKUs", description="Products stocked here (shelf zones)."
    )
    inertia_frames: int = Field(
        default=1,
        ge=1,
        le=100,
        title="Inertia (frames)",
        description="Consecutive processed frames a track must be inside (outside) to count as "
        "entered (exited). Raising it filters box jitter on the zone edge but delays and can "
        "miss brief visits.",
    )

    @field_validator("skus", mode="before")
    @classmethod
    def _split_string(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("polygon")
    @classmethod
    def _check_polygon(cls, polygon: list[PointNorm]) -> list[PointNorm]:
        if polygon_area(polygon) < 1e-6:
            raise ValueError("polygon is degenerate (zero area)")
        if polygon_self_intersects(polygon):
            raise ValueError("polygon edges cross each other (self-intersecting)")
        return polygon

    @model_validator(mode="after")
    def _warn_skus(self) -> ZoneConfig:
        if self.skus and self.kind is not ZoneKind.SHELF:
            warnings.warn(f"skus on a '{self.kind.value}' zone are ignored; only shelf zones carry skus", stacklevel=2)
        return self


class LineConfig(BaseModel):
    """A counting line on the camera image, normalized to 0–1."""

    model_config = ConfigDict(extra="forbid")

    friendly_name: str | None = Field(default=None, title="Friendly name", description="Display name.")
    start: PointNorm = Field(title="Start", description="`[x, y]` fractions of the frame.")
    end: PointNorm = Field(
        title="End",
        description="`[x, y]` fractions of the frame. Crossing from the left to the right of "
        "start→end (as seen on the image) is direction `in`.",
    )

    @model_validator(mode="after")
    def _check_length(self) -> LineConfig:
        if self.start == self.end:
            raise ValueError("line start and end must differ")
        return self


def _unknown(rule: str, what: str, name: str, known: list[str], path: tuple) -> PydanticCustomError:
    return PydanticCustomError(
        "unknown_reference",
        "rule '{rule}' references unknown {what} '{name}'; known {what}s: {known}",
        {"rule": rule, "what": what, "name": name, "known": ", ".join(known) or "(none)", "path": path},
    )


class CameraConfig(BaseModel):
    """One camera: where its video comes from, its zones, lines and rules."""

    model_config = ConfigDict(extra="forbid")

    friendly_name: str | None = Field(default=None, title="Friendly name", description="Display name.")
    source: str | None = Field(
        default=None, title="Source", description="File path or rtsp/http URL (live cameras only)."
    )
    match: list[str] = Field(
        default_factory=list,
        title="Match",
        description="Filename globs (case-insensitive, on the base name) of uploaded videos "
        "this camera's config applies to.",
    )
    fps: float | None = Field(
        default=None, gt=0, le=120, title="Detection fps", description="Override of the sampled detection rate."
    )
    pose: Literal["yolo", "mediapipe"] = Field(
        default="yolo", title="Pose backend",
        description="`yolo`: the detector's own COCO-17 keypoints. `mediapipe`: MediaPipe Pose's 33 landmarks "
        "per person box (bundled full model), mapped to COCO-17 for the rules and kept in the track data; "
        "better for close-range cameras with large people, slower (one MediaPipe run per person per frame).")
    zones: dict[Name, ZoneConfig] = Field(default_factory=dict, title="Zones",
                                          description="Zones by name (1-128 characters).")
    lines: dict[Name, LineConfig] = Field(default_factory=dict, title="Lines",
                                          description="Lines by name (1-128 characters).")
    rules: dict[Name, RuleConfig] = Field(default_factory=dict, title="Rules",
                                          description="Rules by name (1-128 characters).")
    calibration: CalibrationConfig | None = Field(
        default=None, title="Calibration",
        description="Image → floor-plan point pairs; people's foot points then get plan coordinates (m).",
    )
    neighbours: dict[str, NeighbourConfig] = Field(
        default_factory=dict, title="Neighbours",
        description="Cameras a person can appear in next, with transit windows (identity matching); "
        "none: any camera.",
    )

    @field_validator("match", mode="before")
    @classmethod
    def _split_string(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_references(self) -> CameraConfig:
        zones, lines = sorted(self.zones), sorted(self.lines)
        for name, rule in self.rules.items():
            if isinstance(rule, LineCrossRuleConfig):
                if rule.line not in self.lines:
                    raise _unknown(name, "line", rule.line, lines, ("rules", name, "line"))
            elif isinstance(rule, ZoneSequenceRuleConfig):
                for field in ("sequence", "absent"):
                    for i, zone in enumerate(getattr(rule, field)):
                        if zone not in self.zones:
                            raise _unknown(name, "zone", zone, zones, ("rules", name, field, i))
            elif rule.zone is not None and rule.zone not in self.zones:  # fall / fighting: zone optional
                raise _unknown(name, "zone", rule.zone, zones, ("rules", name, "zone"))
        return self
