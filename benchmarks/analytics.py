"""Analytics query times over a synthetic month of one store on PostgreSQL: rollups against raw track points.

In a fresh schema of the given PostgreSQL database (dropped at the end), it writes one month of one
store — `--cameras` cameras open `--open-hours` a day, each with a view, three zones and a line —
as the rollup step stores it (per-minute and per-hour rollups, visits, hourly heatmaps; the same
tables and indexes the platform uses), plus `--raw-days` of raw track points (one per person per
second) for the baseline. Then it times, `--repeat` times each:

- occupancy: one zone of one camera, hourly buckets (`storage.analytics.occupancy`);
- heatmap: one camera (`storage.analytics.heatmap`);
- summary: the whole store — people, visits, per-zone and per-line totals (`storage.analytics.summary`);

over the month and over one day from the rollups, and over the same day from the raw points with
the plain SQL an un-aggregated store needs (per-second head counts for occupancy and peaks, grid
counts for the heatmap, distinct tracks and per-zone counts for the summary). The month from raw
points is not measured (a month of raw points at 1 Hz is ~35 M rows here; the platform stores
5-10 Hz): its time is the day's times the number of days, printed as an extrapolation.

    python benchmarks/analytics.py [--cameras 40] [--days 30] [--raw-days 1] [--repeat 20]
                                   [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DAY0 = 1772323200  # 2026-03-01 00:00 UTC
ZONES = ("aisle", "till", "doors")
TARGET_P95_MS = 300.0


def _schema_url(base: str, schema: str) -> str:
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    url = make_url(base)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    admin = sa.create_engine(url)
    with admin.begin() as c:
        c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


def _drop(base: str, schema: str) -> None:
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    url = make_url(base)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    admin = sa.create_engine(url)
    with admin.begin() as c:
        c.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def generate(engine, *, cameras: int, days: int, open_hours: int, visitors_per_hour: int, raw_days: int,
             grid_wh: tuple[int, int]) -> dict[str, int]:  # noqa: ANN001
    """Write the synthetic store with set-based SQL (and the heatmaps from numpy); returns row counts."""
    import numpy as np
    import sqlalchemy as sa

    open_s = 8 * 3600
    minutes = open_hours * 60
    rng = np.random.default_rng(7)
    with engine.begin() as c:
        x = c.execute
        x(sa.text("""
            INSERT INTO analytics_source (id, kind, site, camera_id, t_start, t_end, version, rolled_at, zones_from,
                                          resolution_w, resolution_h, stats, global_ids)
            SELECT 'video:c' || cam || 'd' || d, 'video', 'bench', 'bench.c' || cam, :day0 + d * 86400 + :open_s,
                   :day0 + d * 86400 + :open_s + :minutes * 60, now(), now(), 'camera', 1280, 720,
                   json_build_object('frames_analysed', :minutes * 60 * 5, 'duration_s', :minutes * 60,
                                     'mean_people_per_frame', 2.5, 'tracks', :visitors * :hours,
                                     'mean_track_s', 60, 'fragmentation', 0.1), 0
            FROM generate_series(0, :cams - 1) cam, generate_series(0, :days - 1) d
        """), dict(day0=DAY0, open_s=open_s, minutes=minutes, cams=cameras, days=days, visitors=visitors_per_hour,
                   hours=open_hours))
        # Minute rollups: the view, three zones and a line per camera and minute of opening hours.
        x(sa.text("""
            INSERT INTO analytics_rollup (source_id, site, camera_id, kind, name, to_name, bucket_s, t_bucket, person_s,
                                          peak, entries, exits)
            SELECT 'video:c' || cam || 'd' || d, 'bench', 'bench.c' || cam,
                   CASE WHEN s.name = '' THEN 'view' WHEN s.name = 'door' THEN 'line' ELSE 'zone' END, s.name, '', 60,
                   :day0 + d * 86400 + :open_s + m * 60,
                   CASE WHEN s.name = 'door' THEN 0 ELSE (random() * 180)::float END,
                   CASE WHEN s.name = 'door' THEN 0 ELSE (random() * 6)::int END,
                   (random() * 3)::int, (random() * 3)::int
            FROM generate_series(0, :cams - 1) cam, generate_series(0, :days - 1) d, generate_series(0, :minutes - 1) m,
                 (VALUES (''), ('aisle'), ('till'), ('doors'), ('door')) AS s(name)
        """), dict(day0=DAY0, open_s=open_s, minutes=minutes, cams=cameras, days=days))
        x(sa.text("""
            INSERT INTO analytics_rollup (source_id, site, camera_id, kind, name, to_name, bucket_s, t_bucket, person_s,
                                          peak, entries, exits)
            SELECT 'video:c' || cam || 'd' || d, 'bench', 'bench.c' || cam, 'people', '', '', 60,
                   :day0 + d * 86400 + :open_s + m * 60, 0, 0, (random() * :visitors / 30.0)::int, 0
            FROM generate_series(0, :cams - 1) cam, generate_series(0, :days - 1) d, generate_series(0, :minutes - 1) m
        """), dict(day0=DAY0, open_s=open_s, minutes=minutes, cams=cameras, days=days, visitors=visitors_per_hour))
        # Hour rollups: exactly the minutes aggregated, as the rollup step writes them.
        x(sa.text("""
            INSERT INTO analytics_rollup (source_id, site, camera_id, kind, name, to_name, bucket_s, t_bucket, person_s,
                                          peak, entries, exits)
            SELECT source_id, site, camera_id, kind, name, to_name, 3600, (t_bucket / 3600) * 3600, sum(person_s),
                   max(peak), sum(entries), sum(exits)
            FROM analytics_rollup WHERE bucket_s = 60 GROUP BY source_id, site, camera_id, kind, name, to_name,
                 (t_bucket / 3600) * 3600
        """))
        for a, b in (("aisle", "till"), ("till", "doors")):
            x(sa.text("""
                INSERT INTO analytics_rollup (source_id, site, camera_id, kind, name, to_name, bucket_s, t_bucket,
                                              person_s, peak, entries, exits)
                SELECT 'video:c' || cam || 'd' || d, 'bench', 'bench.c' || cam, 'path', :a, :b, b.bucket_s,
                       :day0 + d * 86400 + :open_s + h * b.bucket_s, 0, 0, (random() * 4)::int, 0
                FROM generate_series(0, :cams - 1) cam, generate_series(0, :days - 1) d,
                     (VALUES (60, :minutes), (3600, :hours)) AS b(bucket_s, n), generate_series(0, b.n - 1) h
            """), dict(a=a, b=b, day0=DAY0, open_s=open_s, minutes=minutes, hours=open_hours, cams=cameras, days=days))
        # Visits: `visitors_per_hour` people per camera-hour, each in view ~60 s and in one zone ~20 s.
        x(sa.text("""
            INSERT INTO analytics_visit (source_id, site, camera_id, zone, person, global_id, track_id, t_enter, t_exit,
                                         dwell_s)
            SELECT 'video:c' || cam || 'd' || d, 'bench', 'bench.c' || cam, z.name, 'c' || cam || 'd' || d || ':' || p,
                   NULL, p, t0 + z.off, t0 + z.off + z.len, z.len
            FROM generate_series(0, :cams - 1) cam, generate_series(0, :days - 1) d,
                 generate_series(0, :people - 1) p,
                 LATERAL (SELECT :day0 + d * 86400 + :open_s + (p * 3600.0 / :visitors) AS t0) t,
                 LATERAL (VALUES ('', 0.0, 60.0), ((ARRAY['aisle', 'till', 'doors'])[1 + p % 3], 10.0, 20.0)) AS z(name, off, len)
        """), dict(day0=DAY0, open_s=open_s, cams=cameras, days=days, people=visitors_per_hour * open_hours,
                   visitors=visitors_per_hour))
    # Heatmaps: one grid per camera-hour (float32 person-seconds), like the rollup's.
    w, h = grid_wh
    heat_rows = []
    for cam in range(cameras):
        for d in range(days):
            for hour in range(open_hours):
                cells = rng.gamma(0.3, 2.0, size=(h, w)).astype("<f4")
                heat_rows.append(dict(source_id=f"video:c{cam}d{d}", site="bench", camera_id=f"bench.c{cam}",
                                      space="image", t_bucket=DAY0 + d * 86400 + 8 * 3600 + hour * 3600, grid_w=w,
                                      grid_h=h, cells=cells.tobytes(), person_s=float(cells.sum())))  # fmt: skip
    from storage.analytics_models import AnalyticsHeat

    with engine.begin() as c:
        for i in range(0, len(heat_rows), 2000):
            c.execute(sa.insert(AnalyticsHeat.__table__), heat_rows[i : i + 2000])
    # Raw points for the baseline: one job per raw day, a video per camera, a track per visitor, 1 Hz.
    with engine.begin() as c:
        x = c.execute
        x(sa.text("""
            INSERT INTO job (id, status, created_at, frames_total, frames_done, progress, params, videos_total,
                             videos_failed)
            SELECT 'rawjob' || d, 'done', now(), 0, 0, 1, '{}'::json, :cams, 0 FROM generate_series(0, :raw - 1) d
        """), dict(cams=cameras, raw=raw_days))
        x(sa.text("""
            INSERT INTO video (id, job_id, position, uri, name, camera_id, status, frames_analysed, people_count, fps,
                               width, height, duration_s)
            SELECT 'raw' || d || 'c' || cam, 'rawjob' || d, cam, 'raw.mp4', 'raw.mp4', 'bench.c' || cam, 'done', 0, 0,
                   1, 1280, 720, 86400
            FROM generate_series(0, :raw - 1) d, generate_series(0, :cams - 1) cam
        """), dict(cams=cameras, raw=raw_days))
        x(sa.text("""
            INSERT INTO track (job_id, video_id, track_id, first_t_s, last_t_s, first_frame, last_frame, frame_count,
                               mean_confidence)
            SELECT 'rawjob' || d, 'raw' || d || 'c' || cam, p, t0, t0 + 60, t0::int, t0::int + 60, 61, 0.8
            FROM generate_series(0, :raw - 1) d, generate_series(0, :cams - 1) cam, generate_series(0, :people - 1) p,
                 LATERAL (SELECT :open_s + p * 3600.0 / :visitors AS t0) t
        """), dict(raw=raw_days, cams=cameras, people=visitors_per_hour * open_hours, open_s=open_s,
                   visitors=visitors_per_hour))
        x(sa.text("""
            INSERT INTO track_point (track_pk, frame_index, t_s, x1, y1, x2, y2, foot_x, foot_y, confidence, interpolated)
            SELECT t.id, t.first_frame + k, t.first_t_s + k, fx - 20, fy - 120, fx + 20, fy, fx, fy, 0.8, false
            FROM track t, generate_series(0, 60) k,
                 LATERAL (SELECT 100 + (t.track_id * 37 + k * 9) % 1080 AS fx, 200 + (t.track_id * 53 + k * 5) % 500 AS fy) f
        """))
        x(sa.text("ANALYZE"))
        counts = {t: int(c.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar())
                  for t in ("analytics_rollup", "analytics_visit", "analytics_heat", "track_point")}  # fmt: skip
    return counts


# ------------------------------------------------------------------------------------ raw queries
_RAW_POINTS = """
    FROM track_point p JOIN track t ON t.id = p.track_pk JOIN video v ON v.id = t.video_id
    WHERE v.job_id = :job AND v.camera_id = ANY(:cams)
"""
# Zones as image rectangles (the raw store has no polygons in SQL): aisle = left third, etc.
_ZONE_SQL = {"aisle": "p.foot_x < 426", "till": "p.foot_x >= 426 AND p.foot_x < 853", "doors": "p.foot_x >= 853"}


def raw_occupancy(conn, camera: str, zone: str, day: int) -> list:  # noqa: ANN001
    import sqlalchemy as sa

    return conn.execute(sa.text(f"""
        SELECT (sec / 3600) * 3600 AS bucket, sum(n) AS person_s, max(n) AS peak FROM (
            SELECT floor(p.t_s)::bigint AS sec, count(*) AS n {_RAW_POINTS} AND {_ZONE_SQL[zone]} GROUP BY 1
        ) s GROUP BY 1 ORDER BY 1
    """), dict(job=f"rawjob{day}", cams=[camera])).all()


def raw_heatmap(conn, camera: str, day: int, grid_wh: tuple[int, int]) -> list:  # noqa: ANN001
    import sqlalchemy as sa

    w, h = grid_wh
    return conn.execute(sa.text(f"""
        SELECT width_bucket(p.foot_x, 0, 1280, {w}) AS gx, width_bucket(p.foot_y, 0, 720, {h}) AS gy, count(*)
        {_RAW_POINTS} GROUP BY 1, 2
    """), dict(job=f"rawjob{day}", cams=[camera])).all()


def raw_summary(conn, cameras: list[str], day: int) -> dict:  # noqa: ANN001
    import sqlalchemy as sa

    people = conn.execute(sa.text("""
        SELECT count(*) FROM track t JOIN video v ON v.id = t.video_id WHERE v.job_id = :job AND v.camera_id = ANY(:cams)
    """), dict(job=f"rawjob{day}", cams=cameras)).scalar()
    zones = {}
    for zone, cond in _ZONE_SQL.items():
        zones[zone] = conn.execute(sa.text(f"""
            SELECT sum(n), max(n), count(DISTINCT track) FROM (
                SELECT v.camera_id, floor(p.t_s)::bigint AS sec, count(*) AS n, min(t.id) AS track
                {_RAW_POINTS} AND {cond} GROUP BY 1, 2) s
        """), dict(job=f"rawjob{day}", cams=cameras)).one()
    return {"people": people, "zones": zones}


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """p50 and p95 in milliseconds (after one warm-up call)."""
    fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, max(0, round(0.95 * len(samples)) - 1))]
    return statistics.median(samples), p95


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL",
                                                                 "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--cameras", type=int, default=40)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--open-hours", type=int, default=12)
    parser.add_argument("--visitors-per-hour", type=int, default=40, help="people per camera per opening hour")
    parser.add_argument("--raw-days", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the schema (printed) instead of dropping it")
    args = parser.parse_args()

    import sqlalchemy as sa
    from sqlmodel import Session

    from domain.analytics import AnalyticsParams, TimeRange
    from storage import analytics as queries
    from storage.db import make_engine, migrate

    grid = AnalyticsParams().heat_grid_wh
    schema = f"bench_analytics_{uuid.uuid4().hex[:8]}"
    url = _schema_url(args.database_url, schema)
    engine = make_engine(url)
    try:
        migrate(engine)
        t0 = time.perf_counter()
        counts = generate(engine, cameras=args.cameras, days=args.days, open_hours=args.open_hours,
                          visitors_per_hour=args.visitors_per_hour, raw_days=args.raw_days, grid_wh=grid)  # fmt: skip
        print(f"synthetic store: {args.cameras} cameras x {args.days} days x {args.open_hours} h, "
              f"{args.visitors_per_hour} people / camera-hour; written in {time.perf_counter() - t0:.0f} s")  # fmt: skip
        print("rows: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()) + f"  (schema {schema})")
        cams = [f"bench.c{i}" for i in range(args.cameras)]
        month = TimeRange(DAY0, DAY0 + args.days * 86400)
        day = TimeRange(DAY0, DAY0 + 86400)  # raw day 0 is the month's first day
        results = []
        with Session(engine) as s:
            rollup = {
                "occupancy": lambda r: queries.occupancy(s, cameras=cams[:1], zone="aisle", rng=r, bucket_s=3600),
                "heatmap": lambda r: queries.heatmap(s, camera_id=cams[0], rng=r),
                "summary": lambda r: queries.summary(s, cameras=cams, rng=r),
            }
            conn = s.connection()
            raw = {
                "occupancy": lambda: raw_occupancy(conn, cams[0], "aisle", 0),
                "heatmap": lambda: raw_heatmap(conn, cams[0], 0, grid),
                "summary": lambda: raw_summary(conn, cams, 0),
            }
            for name in ("occupancy", "heatmap", "summary"):
                m50, m95 = timed(lambda: rollup[name](month), args.repeat)
                d50, d95 = timed(lambda: rollup[name](day), args.repeat)
                raw_repeat = max(3, args.repeat // 4) if name == "summary" else args.repeat
                r50, r95 = timed(raw[name], raw_repeat)
                results.append((name, m50, m95, d50, d95, r50, r95))
        print()
        print("| query | rollups, month p50 / p95 (ms) | rollups, day p50 / p95 (ms) | raw points, day p50 / p95 (ms) "
              "| raw ÷ rollups (day, p50) | raw month (extrapolated, ms) | month p95 < 300 ms |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for name, m50, m95, d50, d95, r50, r95 in results:
            ok = "yes" if m95 < TARGET_P95_MS else "NO"
            print(f"| {name} | {m50:.1f} / {m95:.1f} | {d50:.1f} / {d95:.1f} | {r50:.1f} / {r95:.1f} | "
                  f"{r50 / d50:.1f}x | ~{r50 * args.days:,.0f} | {ok} |")
        with engine.connect() as c:
            size = c.execute(sa.text("SELECT pg_size_pretty(sum(pg_total_relation_size(quote_ident(schemaname) || '.' || "
                                     "quote_ident(tablename)))::bigint) FROM pg_tables WHERE schemaname = :s"),
                             {"s": schema}).scalar()  # fmt: skip
        print(f"\nschema size on disk (rollups + visits + heatmaps + the raw day): {size}")
    finally:
        engine.dispose()
        if args.keep:
            print(f"kept schema {schema}")
        else:
            _drop(args.database_url, schema)


if __name__ == "__main__":
    main()
