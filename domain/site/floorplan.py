"""Floor-plan sections of the site file: the plan picture, a camera's calibration and its neighbours."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from domain.floorplan import CalibrationError, CameraCalibration, fit_calibration

__all__ = ["FloorPlanConfig", "CalibrationConfig", "NeighbourConfig"]

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


class FloorPlanConfig(BaseModel):
    """The store's floor plan: plan coordinates are metres from its top-left corner, x right, y down."""

    model_config = ConfigDict(extra="forbid")

    image: str | None = Field(
        default=None, title="Plan image",
        description="Picture of the plan for the UI (a file name or URL); its pixel (0, 0) is plan (0, 0) m.",
    )
    metres_per_pixel: float | None = Field(
        default=None, gt=0, title="Metres per pixel", description="Scale of the plan image.",
    )
    width_m: float | None = Field(default=None, gt=0, title="Width (m)", description="Plan width; default: from the calibrations.")
    height_m: float | None = Field(default=None, gt=0, title="Height (m)", description="Plan height; default: from the calibrations.")

    @model_validator(mode="after")
    def _check_scale(self) -> FloorPlanConfig:
        if self.image is not None and self.metres_per_pixel is None:
            raise ValueError("floor_plan.image needs metres_per_pixel (the plan's scale)")
        return self


class CalibrationConfig(BaseModel):
    """Point pairs that map the camera image to the floor plan (at least 4, no 3 on one line)."""

    model_config = ConfigDict(extra="forbid")

    image_points: list[tuple[Fraction, Fraction]] = Field(
        title="Image points", description="`[x, y]` fractions (0–1) of the frame, on the floor.",
    )
    map_points: list[tuple[float, float]] = Field(
        title="Map points", description="The same points on the plan, `[x, y]` in metres, in the same order.",
    )
    max_reprojection_error_m: float = Field(
        default=0.5, gt=0, title="Max reprojection error (m)",
        description="The file is refused when the fitted homography misses the map points by more than this "
        "(RMS). With 4 points the fit is exact; from 5 on a wrong pair shows. Raising it accepts sloppier "
        "calibrations; lowering it below the clicking accuracy refuses good ones.",
    )
    _fitted: CameraCalibration | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _fit(self) -> CalibrationConfig:
        try:
            self._fitted = fit_calibration(self.image_points, self.map_points,
                                           max_reprojection_error_m=self.max_reprojection_error_m)
        except CalibrationError as exc:
            raise ValueError(f"calibration: {exc}") from None
        return self

    @property
    def fitted(self) -> CameraCalibration:
        """The fitted `CameraCalibration` (computed once, at validation)."""
        assert self._fitted is not None
        return self._fitted


class NeighbourConfig(BaseModel):
    """A camera a person can walk to next, and how long that takes."""

    model_config = ConfigDict(extra="forbid")

    transit_s: tuple[Annotated[float, Field(ge=0)], Annotated[float, Field(ge=0)]] = Field(
        default=(0.0, 30.0), title="Transit window (s)",
        description="`[min, max]` seconds from leaving this camera to appearing in the neighbour "
        "(0 when their views overlap). Wider windows link slower walkers but admit more look-alikes.",
    )

    @model_validator(mode="after")
    def _check_order(self) -> NeighbourConfig:
        if self.transit_s[0] > self.transit_s[1]:
            raise ValueError(f"transit_s must be [min, max] with min <= max, but got {list(self.transit_s)}")
        return self
