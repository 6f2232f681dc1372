"""The root of the site file: the store and its cameras."""

from __future__ import annotations

import fnmatch
from pathlib import PurePath

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from domain.analytics_report import ReportScheduleConfig
from domain.site.camera import CameraConfig
from domain.site.floorplan import FloorPlanConfig

__all__ = ["SiteInfo", "SiteConfig"]


class SiteInfo(BaseModel):
    """The store the site file describes."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="default", min_length=1, title="Name", description="Stable store key.")
    friendly_name: str | None = Field(default=None, title="Friendly name", description="Display name.")
    timezone: str = Field(
        default="UTC", min_length=1, title="Time zone", description="IANA name, e.g. Europe/London."
    )
    floor_plan: FloorPlanConfig | None = Field(
        default=None, title="Floor plan", description="The plan cameras are calibrated to (metres)."
    )


class SiteConfig(BaseModel):
    """A whole site file.

    Layout: a `site:` section (name, friendly_name, timezone), `cameras:` keyed by camera id,
    and an optional `default_camera:` used for uploaded videos no camera's `match` hits.
    """

    model_config = ConfigDict(extra="forbid")

    site: SiteInfo = Field(default_factory=SiteInfo, title="Site", description="The store.")
    cameras: dict[str, CameraConfig] = Field(
        default_factory=dict, title="Cameras", description="Cameras by id."
    )
    default_camera: str | None = Field(
        default=None,
        title="Default camera",
        description="Camera whose config applies to videos no camera's `match` hits.",
    )
    reports: dict[str, ReportScheduleConfig] = Field(
        default_factory=dict, title="Scheduled reports",
        description="Report name -> daily or weekly report of this site, delivered by email and / or webhook.",
    )

    @model_validator(mode="after")
    def _check_default_camera(self) -> SiteConfig:
        if self.default_camera is not None and self.default_camera not in self.cameras:
            raise PydanticCustomError(
                "unknown_reference",
                "default_camera '{name}' is not a camera; known cameras: {known}",
                {
                    "name": self.default_camera,
                    "known": ", ".join(sorted(self.cameras)) or "(none)",
                    "path": ("default_camera",),
                },
            )
        return self

    @model_validator(mode="after")
    def _check_neighbours(self) -> SiteConfig:
        for camera_id, camera in self.cameras.items():
            for name in camera.neighbours:
                if name not in self.cameras or name == camera_id:
                    raise PydanticCustomError(
                        "unknown_reference",
                        "camera '{camera}' lists neighbour '{name}', which is not another camera; known cameras: {known}",
                        {"camera": camera_id, "name": name, "known": ", ".join(sorted(self.cameras)) or "(none)",
                         "path": ("cameras", camera_id, "neighbours", name)},
                    )
        return self

    @classmethod
    def default(cls) -> SiteConfig:
        """An empty site (no cameras, zones or rules): what runs with no site file.

        Example:
            >>> SiteConfig.default().cameras
            {}
        """
        return cls()

    def camera_for_video(self, filename: str) -> tuple[str, CameraConfig] | None:
        """The camera config that applies to an uploaded video.

        Order: the first camera (in file order) with a `match` glob hitting the video's base
        name (case-insensitive); else `default_camera`; else the only camera if there is
        exactly one; else `None`.

        Args:
            filename: path or base name of the video, e.g. `uploads/vtest.avi`.

        Returns:
            `(camera_id, CameraConfig)`, or `None` if no camera applies.

        Example:
            >>> site = SiteConfig(cameras={"a": CameraConfig(match=["vtest*"]), "b": CameraConfig()})
            >>> site.camera_for_video("/x/vtest.avi")[0]
            'a'
        """
        name = PurePath(filename.replace("\\", "/")).name.lower()
        for camera_id, camera in self.cameras.items():
            if any(fnmatch.fnmatchcase(name, pattern.lower()) for pattern in camera.match):
                return camera_id, camera
        if self.default_camera is not None:
            return self.default_camera, self.cameras[self.default_camera]
        if len(self.cameras) == 1:
            return next(iter(self.cameras.items()))
        return None
