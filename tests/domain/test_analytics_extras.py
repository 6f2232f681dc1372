"""Heatmaps, live metrics and report schedules (no database)."""

from __future__ import annotations

from contextlib import ExitStack as DoesNotRaise
from datetime import datetime, timezone

import numpy as np
import pytest
from pydantic import ValidationError

from domain.analytics_heatmap import dwell_weights, heat_grid, plan_extent_grid_wh, render_heatmap
from domain.analytics_realtime import LiveOccupancy
from domain.analytics_report import Column, ColumnType, ReportScheduleConfig, ReportTable, next_run, period_range
from domain.geometry import Homography
from domain.site import ZoneConfig

UTC = timezone.utc


# ------------------------------------------------------------------------------------------ heatmap
@pytest.mark.parametrize(
    ("points", "weights", "expected", "exception"),
    [
        ([], [], [[0, 0], [0, 0]], DoesNotRaise()),  # empty input: an empty grid
        ([[10, 10]], [10.0], [[10, 0], [0, 0]], DoesNotRaise()),  # 10 s standing top-left
        ([[10, 10], [90, 90], [90, 90]], [1, 2, 3], [[1, 0], [0, 5]], DoesNotRaise()),
        ([[100, 100]], [1.0], [[0, 0], [0, 1]], DoesNotRaise()),  # the bottom-right edge belongs to the frame
        ([[150, 10]], [1.0], [[0, 0], [0, 0]], DoesNotRaise()),  # outside the frame: dropped
        ([[10, 10]], [1.0, 2.0], None, pytest.raises(ValueError)),  # mismatched lengths
    ],
)
def test_heat_grid_on_the_image(points, weights, expected, exception) -> None:
    with exception:
        grid = heat_grid(points, weights, grid_wh=(2, 2), resolution_wh=(100, 100))
        assert grid.cells.tolist() == expected
        assert grid.space == "image" and grid.cell_size((100, 100)) == (50.0, 50.0)


def test_heat_grid_on_a_floor_plan_through_a_homography() -> None:
    # Pixels -> metres: 100 px = 10 m. A person at pixel (15, 85) stands at (1.5 m, 8.5 m).
    h = Homography.from_points([[0, 0], [100, 0], [100, 100], [0, 100]], [[0, 0], [10, 0], [10, 10], [0, 10]])
    grid = heat_grid([[15, 85]], [4.0], grid_wh=plan_extent_grid_wh((0, 0, 10, 10), 5.0), homography=h,
                     extent_xyxy=(0, 0, 10, 10))
    assert grid.space == "plan" and grid.cells.tolist() == [[0, 0], [4, 0]] and grid.cell_size() == (5.0, 5.0)
    with pytest.raises(ValueError, match="extent_xyxy"):
        heat_grid([[1, 1]], [1], grid_wh=(2, 2), homography=h)


def test_dwell_weights_cap_long_gaps() -> None:
    assert dwell_weights([0.0, 0.1, 0.2, 5.0], max_dt_s=1.0).tolist() == pytest.approx([0.1, 0.1, 1.0, 0.1])
    assert dwell_weights([], max_dt_s=1.0).tolist() == []


def test_render_heatmap_colours_only_where_people_stood() -> None:
    background = np.full((100, 100, 3), 128, np.uint8)
    grid = heat_grid([[10, 10]] * 5, [1.0] * 5, grid_wh=(10, 10), resolution_wh=(100, 100))
    image = render_heatmap(grid, background)
    assert image.shape == (100, 100, 3)
    assert not np.array_equal(image[15, 15], background[15, 15])  # the hot cell (10-20 px) is coloured
    assert np.array_equal(image[95, 95], background[95, 95])  # an empty cell shows the camera image
    empty = render_heatmap(heat_grid([], [], grid_wh=(4, 4), resolution_wh=(100, 100)), background)
    assert np.array_equal(empty, background)


# ------------------------------------------------------------------------------------- live metrics
AISLE = ZoneConfig(polygon=[[0, 0], [0.5, 0], [0.5, 1], [0, 1]])


def update(t: float, boxes: dict[int, list[float]], camera: str = "s.cam") -> dict:
    return {"type": "tracking_update", "camera_id": camera, "t": t, "resolution_wh": [100, 100],
            "tracks": [{"track_id": k, "bbox_xyxy": b} for k, b in boxes.items()]}


def test_live_occupancy_people_now_dwell_and_alerts() -> None:
    live = LiveOccupancy({"s.cam": {"aisle": AISLE}}, {"s.cam": {"aisle": 1}}, fresh_s=10)
    live.update(update(100.0, {1: [10, 10, 20, 50]}))  # one person in the aisle
    live.update(update(104.0, {1: [10, 10, 20, 50], 2: [12, 10, 22, 50], 3: [80, 10, 90, 50]}))
    m = live.metrics(105.0)
    assert m.total_persons == 3 and m.persons_per_camera == {"s.cam": 3}
    assert m.zone_occupancy == {"s.cam/aisle": 2}
    assert m.avg_dwell_s == pytest.approx((4.0 + 0.0) / 2)  # person 1 inside since t=100, person 2 since 104
    assert m.crowd_density == pytest.approx(2.0)
    assert [(a.zone, a.count, a.threshold) for a in m.alerts] == [("aisle", 2, 1)]
    payload = m.to_payload("s", "2026-01-01T00:00:00Z")
    assert payload["live_metrics"]["zone_occupancy"] == {"s.cam/aisle": 2} and payload["alerts"][0]["type"] == "high_occupancy"


def test_live_occupancy_ignores_stale_cameras_and_old_messages() -> None:
    live = LiveOccupancy({"s.cam": {"aisle": AISLE}}, {}, fresh_s=10)
    assert live.metrics(0.0).total_persons == 0  # empty input
    live.update(update(100.0, {1: [10, 10, 20, 50]}))
    live.update(update(90.0, {}))  # older than the latest: ignored
    assert live.metrics(101.0).zone_occupancy == {"s.cam/aisle": 1}
    stale = live.metrics(200.0)
    assert stale.stale_cameras == ["s.cam"] and stale.total_persons == 0 and stale.crowd_density is None


# ------------------------------------------------------------------------------------------ reports
def test_report_table_checks_row_widths() -> None:
    cols = (Column("zone", "Zone"), Column("visits", "Visits", ColumnType.INT))
    assert ReportTable("t", "T", cols, (("aisle", 3),)).as_dicts() == [{"zone": "aisle", "visits": 3}]
    with pytest.raises(ValueError, match="row 0 has 1 values"):
        ReportTable("t", "T", cols, (("aisle",),))


@pytest.mark.parametrize(
    ("config", "after", "tz", "expected"),
    [
        ({"period": "daily", "at": "06:00"}, datetime(2026, 3, 2, 5, 0, tzinfo=UTC), "UTC", "2026-03-02T06:00:00+00:00"),
        ({"period": "daily", "at": "06:00"}, datetime(2026, 3, 2, 6, 0, tzinfo=UTC), "UTC", "2026-03-03T06:00:00+00:00"),
        ({"period": "weekly", "weekday": "monday", "at": "07:30"}, datetime(2026, 3, 4, tzinfo=UTC), "UTC",
         "2026-03-09T07:30:00+00:00"),  # 2026-03-04 is a Wednesday: next Monday
        ({"period": "daily", "at": "06:00"}, datetime(2026, 7, 1, 12, 0, tzinfo=UTC), "Europe/Paris",
         "2026-07-02T04:00:00+00:00"),  # 06:00 in Paris (summer time) is 04:00 UTC
    ],
)
def test_next_run(config, after, tz, expected) -> None:
    assert next_run(ReportScheduleConfig(**config), after=after, tz=tz).isoformat() == expected


def test_weekly_period_covers_the_previous_seven_days() -> None:
    cfg = ReportScheduleConfig(period="weekly")
    a, b = period_range(cfg, run_at=datetime(2026, 3, 9, 6, 0, tzinfo=UTC), tz="UTC")
    assert (a.isoformat(), b.isoformat()) == ("2026-03-02T00:00:00+00:00", "2026-03-09T00:00:00+00:00")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"weekday": "funday"}, "weekday"),
        ({"emails": ["not-an-address"]}, "not email addresses"),
        ({"webhook_urls": ["ftp://x"]}, "webhook_urls"),
        ({"format": "docx"}, "format"),
        ({"colour": "red"}, "colour"),  # unknown keys are errors
    ],
)
def test_schedule_config_errors_name_the_field(config, message) -> None:
    with pytest.raises(ValidationError, match=message):
        ReportScheduleConfig(**config)
