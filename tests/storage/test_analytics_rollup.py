"""The rollup step and the analytics queries, on SQLite and PostgreSQL, over hand-made stored data."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
import sqlalchemy as sa
from sqlmodel import Session

from domain.analytics import VIEW, TimeRange
from storage import analytics as queries
from storage import crud
from storage.analytics_models import AnalyticsRollup, AnalyticsSource
from storage.analytics_rollup import RollupParams, rebuild, rollup_pending
from domain.site import parse_site_yaml
from tests.analytics_factories import SHOP_YAML, VIDEO_START, store_live_events, store_shop_job, store_shop_site

PARAMS = RollupParams()
T0 = VIDEO_START.timestamp()
HOUR = TimeRange(T0 - 1800, T0 + 5400)  # 09:30-11:30: partial hours at both ends


@pytest.fixture
def shop(db_engine):  # noqa: ANN001, ANN201
    with Session(db_engine, expire_on_commit=False) as s:
        camera_id = store_shop_site(s)
        job_id, video_id = store_shop_job(s)
    summary = rollup_pending(db_engine, PARAMS)
    assert summary.videos == 1 and not summary.errors
    return db_engine, camera_id, job_id, video_id


def test_occupancy_peak_two_when_two_people_share_the_aisle(shop) -> None:
    engine, cam, _, _ = shop
    with Session(engine) as s:
        fine = queries.occupancy(s, cameras=[cam], zone="aisle", rng=TimeRange(T0, T0 + 20), bucket_s=5)
        minute = queries.occupancy(s, cameras=[cam], zone="aisle", rng=HOUR, bucket_s=60)
        hourly = queries.occupancy(s, cameras=[cam], zone="aisle", rng=HOUR, bucket_s=3600)
    assert fine.peak.tolist() == [2, 2, 1, 0]  # people 1 and 2 together from 2 s to 8 s
    assert fine.mean[0] == pytest.approx((5 + 3) / 5)  # person 1 all 5 s, person 2 from 2 s
    assert minute.peak_value == 2 and minute.peak_at_s == T0
    # One minute holds every visit: person-seconds 13.0 (person 1) + 6.0 (person 2).
    assert minute.mean.sum() * 60 == pytest.approx(19.0, abs=0.01)
    assert hourly.mean.sum() * 3600 == pytest.approx(19.0, abs=0.01) and hourly.peak_value == 2


def test_dwell_counts_people_and_paths(shop) -> None:
    engine, cam, _, _ = shop
    with Session(engine) as s:
        dwell = queries.dwell(s, cameras=[cam], zone="aisle", rng=HOUR, bounce_s=7, bin_edges_s=[0, 10, 60])
        counts = queries.counts(s, cameras=[cam], rng=HOUR)
        people = queries.unique_people(s, cameras=[cam], rng=HOUR)
        paths = queries.transitions(s, cameras=[cam], rng=HOUR)
        hours = queries.hour_of_day(s, cameras=[cam], rng=HOUR, tz="UTC")
    # Person 1 is inside from 0 s to 13 s (the aisle's edge at x = 50 px is inside), person 2 for 6 s.
    assert dwell.visits == 2 and dwell.bounces == 1 and dwell.histogram == [1, 1]
    assert dwell.median_s == pytest.approx(9.5) and dwell.mean_s == pytest.approx(9.5)
    assert counts.lines == {(cam, "door"): (1, 0)}  # person 3 crossed downwards once
    assert counts.zones[(cam, "aisle")] == (2, 2) and counts.zones[(cam, VIEW)] == (3, 3)
    assert people == 3
    assert dict(paths) == {("aisle", "till"): 1}
    assert hours[10] == 3 and sum(hours) == 3


def test_heatmap_and_detection_metrics(shop) -> None:
    engine, cam, _, _ = shop
    with Session(engine) as s:
        grid, hours = queries.heatmap(s, camera_id=cam, rng=HOUR)
        metrics = queries.detection_metrics(s, cameras=[cam], rng=HOUR)
    assert hours == 1 and grid is not None and grid.cells.shape == (PARAMS.heat_grid_wh[1], PARAMS.heat_grid_wh[0])
    w, h = PARAMS.heat_grid_wh
    aisle = grid.cells[:, : w // 2].sum()
    assert aisle > grid.cells[:, w // 2:].sum()  # people stood longest in the aisle (left half)
    # Person-seconds: person 1 12 s still + 2 s walking + 5 s at the till, person 2 6 s, person 3 1 s,
    # each track's last sample standing for one more step (0.1 s).
    assert grid.cells.sum() == pytest.approx(19.1 + 6.1 + 1.1, abs=1e-3)
    m = metrics[cam]
    assert m["tracks"] == 3 and m["frames_analysed"] == 400 and m["analysed_fps"] == pytest.approx(10.0)


def test_empty_ranges_and_no_cameras(shop) -> None:
    engine, cam, _, _ = shop
    later = TimeRange(T0 + 86400, T0 + 2 * 86400)
    with Session(engine) as s:
        empty = queries.occupancy(s, cameras=[cam], zone="aisle", rng=later, bucket_s=3600)
        nobody = queries.occupancy(s, cameras=[], zone="aisle", rng=HOUR, bucket_s=60)
        assert len(empty) == 24 and empty.peak_value == 0 and empty.t_s[0] == later.t_from_s
        assert nobody.peak_value == 0 and len(nobody) == 120
        assert queries.summary(s, cameras=[cam], rng=later)["unique_people"] == 0
        assert queries.counts(s, cameras=[], rng=HOUR).zones == {}
        assert queries.heatmap(s, camera_id=cam, rng=later) == (None, 0)


def test_rollup_is_incremental_and_follows_reruns_and_failures(shop) -> None:
    engine, cam, job_id, video_id = shop
    assert rollup_pending(engine, PARAMS).videos == 0  # nothing new: nothing done
    with Session(engine) as s:
        rows = s.exec(sa.select(sa.func.count()).select_from(AnalyticsRollup)).scalar()
        # The video is analysed again with only person 2: its rollup is replaced, not added to.
        from tests.analytics_factories import shop_trajectories

        crud.save_video_results(s, video_id=video_id, trajectories=shop_trajectories()[1:2], events=[], clips=[],
                                frames_analysed=400, people_count=1)  # fmt: skip
    assert rollup_pending(engine, PARAMS).videos == 1
    with Session(engine) as s:
        assert queries.unique_people(s, cameras=[cam], rng=HOUR) == 1
        assert s.exec(sa.select(sa.func.count()).select_from(AnalyticsRollup)).scalar() < rows
        crud.fail_video(s, video_id, "re-run failed")
    assert rollup_pending(engine, PARAMS).removed == 1  # a video that is no longer done leaves no analytics
    with Session(engine) as s:
        assert s.get(AnalyticsSource, f"video:{video_id}") is None
        assert queries.unique_people(s, cameras=[cam], rng=HOUR) == 0


def test_rebuild_recomputes_after_a_zone_change(shop) -> None:
    engine, cam, _, _ = shop
    with Session(engine) as s:
        crud.delete_zone(s, cam, "till")
    rebuild(engine, PARAMS, site="shop")
    with Session(engine) as s:
        assert queries.known_zones(s, cameras=[cam]) == {cam: {"aisle"}}


def test_live_events_roll_up_per_hour(shop) -> None:
    engine, cam, _, _ = shop
    t_live = T0 + 2 * 3600 + 600  # 12:10
    with Session(engine) as s:
        store_live_events(s, cam, t_live)
    summary = rollup_pending(engine, PARAMS)
    assert summary.live_hours == 1 and not summary.errors
    rng = TimeRange(t_live - 600, t_live + 600)
    with Session(engine) as s:
        occ = queries.occupancy(s, cameras=[cam], zone="aisle", rng=rng, bucket_s=60)
        counts = queries.counts(s, cameras=[cam], rng=rng)
        dwell = queries.dwell(s, cameras=[cam], zone="aisle", rng=rng, bounce_s=5, bin_edges_s=[0, 60])
    assert occ.peak_value == 1 and occ.mean.sum() * 60 == pytest.approx(30.0)
    assert counts.lines == {(cam, "door"): (1, 0)} and counts.zones[(cam, "aisle")] == (1, 1)
    assert dwell.median_s == pytest.approx(30.0)
    # More events later the same hour: only the new ones make the hour roll up again.
    assert rollup_pending(engine, PARAMS).live_hours == 0
    with Session(engine) as s:
        store_live_events(s, cam, t_live + 300)
    assert rollup_pending(engine, PARAMS).live_hours >= 1
    with Session(engine) as s:
        assert queries.counts(s, cameras=[cam], rng=rng).lines == {(cam, "door"): (2, 0)}


def test_a_site_not_in_the_database_uses_the_video_events(db_engine) -> None:
    with Session(db_engine, expire_on_commit=False) as s:
        job_id, video_id = store_shop_job(s)  # the `shop` site was never imported: no polygons
    rollup_pending(db_engine, PARAMS)
    with Session(db_engine) as s:
        source = s.get(AnalyticsSource, f"video:{video_id}")
        dwell = queries.dwell(s, cameras=["shop.cam"], zone="aisle", rng=HOUR, bounce_s=5, bin_edges_s=[0, 60])
    assert source is not None and source.zones_from == "events"
    assert dwell.visits == 1 and dwell.median_s == pytest.approx(12.5)  # the stored enter (0 s) and exit (12.5 s)


def test_a_month_query_reads_hours_inside_and_minutes_at_the_ends(shop) -> None:
    engine, cam, _, _ = shop
    month = TimeRange(T0 - 15 * 86400 + 1234, T0 + 15 * 86400 + 17)
    with Session(engine) as s:
        assert queries.counts(s, cameras=[cam], rng=month).zones[(cam, "aisle")] == (2, 2)
        series = queries.occupancy(s, cameras=[cam], zone="aisle", rng=month, bucket_s=86400)
    assert len(series) == 31 and series.peak_value == 2
    assert series.t_s[int(np.argmax(series.peak))] == (T0 // 86400) * 86400  # the day of the visits


def test_video_start_defaults_to_the_job_creation_time(db_engine) -> None:
    with Session(db_engine, expire_on_commit=False) as s:
        store_shop_site(s)
        job = crud.create_job(s, params={"site": "shop"}, inputs=["/videos/shop-x.mp4"])
        video = crud.list_videos(s, job.id)[0]
        crud.update_video_probe(s, video.id, camera_id="cam", fps=10, frame_count=10, width=100, height=100,
                                codec="avc1", duration_s=1.0, size_bytes=1)  # fmt: skip
        crud.save_video_results(s, video_id=video.id, trajectories=[], events=[], clips=[], frames_analysed=10,
                                people_count=0)  # fmt: skip
        created = job.created_at
    rollup_pending(db_engine, PARAMS)
    with Session(db_engine) as s:
        source = s.get(AnalyticsSource, f"video:{video.id}")
        assert source is not None and source.t_start == pytest.approx(created.timestamp())
        assert source.t_end - source.t_start == pytest.approx(1.0)
    assert created - timedelta(seconds=1) < created


def test_people_with_a_global_id_count_once_across_cameras(db_engine) -> None:
    # Rows as the rollup writes them for a job whose tracks the identity stage linked.
    from storage.analytics_models import AnalyticsVisit

    with Session(db_engine) as s:
        assert not queries.has_global_ids(s, cameras=["shop.a", "shop.b"], rng=HOUR)
        for cam in ("shop.a", "shop.b"):
            s.add(AnalyticsSource(id=f"video:{cam}", kind="video", site="shop", camera_id=cam, t_start=T0, t_end=T0 + 60,
                                  global_ids=1))  # fmt: skip
            s.add(AnalyticsVisit(source_id=f"video:{cam}", site="shop", camera_id=cam, zone=VIEW, person="g-42",
                                 global_id="g-42", t_enter=T0 + 5, t_exit=T0 + 10, dwell_s=5))  # fmt: skip
        s.commit()
        assert queries.unique_people(s, cameras=["shop.a", "shop.b"], rng=HOUR) == 1
        assert queries.has_global_ids(s, cameras=["shop.a"], rng=HOUR)  # the API's counts say "global_id"
        assert not queries.has_global_ids(s, cameras=["shop.a"], rng=TimeRange(T0 + 7200, T0 + 9000))


CALIBRATED_SHOP = SHOP_YAML.replace('    match: ["shop*"]\n', '    match: ["shop*"]\n    calibration:\n'
                                    '      image_points: [[0, 0], [1, 0], [1, 1], [0, 1]]\n'
                                    '      map_points: [[2, 2], [12, 2], [12, 12], [2, 12]]\n')


def test_a_calibrated_camera_gets_a_floor_plan_heatmap(db_engine) -> None:
    with Session(db_engine, expire_on_commit=False) as s:
        crud.import_site_config(s, parse_site_yaml(CALIBRATED_SHOP, source="shop.yaml"))
        cam = crud.camera_id_for("shop", "cam")
        store_shop_job(s)
    assert not rollup_pending(db_engine, PARAMS).errors
    with Session(db_engine) as s:
        image, _ = queries.heatmap(s, camera_id=cam, rng=HOUR)
        plan, hours, cameras = queries.plan_heatmap(s, cameras=[cam], rng=HOUR)
        assert queries.plan_heatmap(s, cameras=[cam], rng=TimeRange(T0 + 7200, T0 + 9000))[0] is None
    assert plan is not None and plan.space == "plan" and hours == 1 and cameras == [cam]
    cell = PARAMS.heat_cell_m
    assert plan.cell_size() == pytest.approx((cell, cell))
    # The plan reaches 12 m (the calibration's far corner): whole cells from the plan's origin.
    assert plan.cells.shape == (int(np.ceil(12 / cell)), int(np.ceil(12 / cell)))
    assert plan.cells.sum() == pytest.approx(image.cells.sum(), abs=1e-3)  # the same person-seconds, on the plan
    # Person 1 stood 12 s at foot (20, 60) px of a 100 px frame: plan (2 + 0.2 * 10, 2 + 0.6 * 10) = (4, 8) m.
    row, col = np.unravel_index(np.argmax(plan.cells), plan.cells.shape)
    centre = np.array([(col + 0.5) * cell, (row + 0.5) * cell])  # the hottest cell holds (4, 8) m (on its edge or inside)
    assert np.abs(centre - [4.0, 8.0]).max() <= cell / 2 + 1e-6 and plan.cells[row, col] >= 12.0
    assert plan.cells[: int(2 / cell)].sum() == 0 and plan.cells[:, : int(2 / cell)].sum() == 0  # nobody outside the view


def test_a_report_draws_the_floor_plan_heatmap_first(db_engine) -> None:
    from pipelines.reports import ReportScope, build_report

    with Session(db_engine, expire_on_commit=False) as s:
        crud.import_site_config(s, parse_site_yaml(CALIBRATED_SHOP, source="shop.yaml"))
        store_shop_job(s)
    rollup_pending(db_engine, PARAMS)
    with Session(db_engine) as s:
        report = build_report(s, ReportScope("shop", "Corner shop", "UTC", ("shop.cam",)), HOUR, PARAMS)
    assert list(report.heatmaps) == ["floor plan (shop.cam)", "shop.cam"]
    assert any("floor plan of the calibrated cameras" in n for n in report.notes)
