"""`witness report`, `witness export video` and `witness analytics rollup|rebuild`.

Reports and video exports run here, in this process, through the same export job the API runs on
Ray (`pipelines.exports.run_export`): the job is stored, its progress drawn as a bar from its row,
and the finished file copied from the object store to `--out`. Exit codes: 0 done, 1 the job failed
or what it names does not exist (the reason is printed), 2 invalid options.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["analytics_app", "report_cmd", "export_video_cmd"]

analytics_app = typer.Typer(help="Store analytics: rollups.", no_args_is_help=True)


def _console():  # noqa: ANN202
    from cluster.cli import err, out

    return out, err


def _parse_time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        _console()[1].print(f"[red]error:[/] {option}: '{value}' is not an ISO 8601 time (e.g. 2026-03-02T00:00:00Z)")
        raise typer.Exit(2) from None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _run(settings, export_id: str, engine, out_path: Path, label: str) -> None:  # noqa: ANN001
    """Run a stored export job with a progress bar; copy its file to `out_path` (exit 1 if it failed)."""
    from cluster.live import export_runner_config
    from pipelines.exports import ExportRunnerConfig, run_export
    from storage import analytics_exports as repo
    from storage.db import session_scope

    out, err = _console()
    config = ExportRunnerConfig.model_validate({**export_runner_config(settings), "redis_url": None})
    result: dict[str, str] = {}
    worker = threading.Thread(target=lambda: result.setdefault("status", run_export(export_id, config)), daemon=True)
    worker.start()
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
               TextColumn("{task.fields[stage]}"), TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=err, transient=False) as bar:
        task = bar.add_task(label, total=1.0, stage="starting")
        while worker.is_alive():
            with session_scope(engine) as s:
                job = repo.get_export(s, export_id)
                if job is not None:
                    bar.update(task, completed=job.progress, stage=job.stage or "")
            worker.join(0.3)
        with session_scope(engine) as s:
            job = repo.get_export(s, export_id)
        bar.update(task, completed=job.progress if job else 0, stage=job.stage if job else "")
    if job is None or result.get("status") != "done" or not job.key:
        err.print(f"[red]error:[/] {label} failed: {job.error if job else 'the job disappeared'}")
        raise typer.Exit(1)
    from cluster.runtime import open_store

    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.part")
    open_store(settings).download(job.key, tmp)
    tmp.replace(out_path)  # never a half-written --out
    out.print(f"{out_path} ({job.size_bytes} bytes, export job {job.id})")


def report_cmd(
    site: Annotated[str, typer.Option("--site", help="Site name (or id).")],
    t_from: Annotated[Optional[str], typer.Option("--from", help="Range start, ISO 8601 (naive = UTC).")] = None,
    t_to: Annotated[Optional[str], typer.Option("--to", help="Range end (exclusive), ISO 8601.")] = None,
    fmt: Annotated[Optional[str], typer.Option("--format", help="pdf | xlsx | csv (a zip) | json; default from --out.")] = None,
    out_path: Annotated[Path, typer.Option("--out", help="File to write.")] = Path("report.pdf"),
    camera: Annotated[Optional[list[str]], typer.Option("--camera", help="Only this camera id (repeat).")] = None,
) -> None:
    """An analytics report of a site over a range (PDF, Excel, CSV zip or JSON), with a progress bar."""
    from domain.analytics import TimeRange, TimeRangeError
    from domain.analytics_report import ReportFormat

    from cluster.cli import _settings

    _, err = _console()
    suffix = {"pdf": "pdf", "xlsx": "xlsx", "zip": "csv", "csv": "csv", "json": "json"}.get(out_path.suffix.lstrip(".").lower())
    try:
        report_format = ReportFormat((fmt or suffix or "pdf").lower())
    except ValueError:
        err.print(f"[red]error:[/] --format must be one of pdf, xlsx, csv, json; got {fmt!r}")
        raise typer.Exit(2) from None
    settings = _settings()
    try:
        rng = TimeRange.from_datetimes(_parse_time(t_from, "--from"), _parse_time(t_to, "--to"),
                                       max_s=settings.analytics.report_max_days * 86400)  # fmt: skip
    except TimeRangeError as exc:
        err.print(f"[red]error:[/] --{exc.field}: {exc}")
        raise typer.Exit(2) from None
    from cluster.runtime import open_database
    from pipelines.reports_scheduler import site_report_params
    from storage import analytics_exports as repo
    from storage import crud
    from storage.analytics import site_cameras
    from storage.analytics_models import ExportKind
    from storage.db import session_scope

    engine = open_database(settings)
    with session_scope(engine) as s:
        row = crud.get_site(s, site) or crud.get_site_by_name(s, site)
        name = row.name if row else site
        if row is None and not site_cameras(s, site=site):
            known = sorted({x.name for x in crud.list_sites(s, limit=1000)[0]})
            err.print(f"[red]error:[/] site '{site}' not found; known sites: {', '.join(known) or '(none)'}")
            raise typer.Exit(1)
        params = site_report_params(s, name)
        if camera:
            unknown = [c for c in camera if c not in params["cameras"]]
            if unknown:
                err.print(f"[red]error:[/] camera {', '.join(unknown)} not found in site '{name}'; cameras: "
                          f"{', '.join(params['cameras']) or '(none)'}")  # fmt: skip
                raise typer.Exit(1)
            params["cameras"] = list(camera)
        a, b = rng.as_datetimes()
        params |= {"from": a.isoformat(), "to": b.isoformat()}
        job = repo.create_export(s, kind=ExportKind.ANALYTICS_REPORT, fmt=report_format.value, params=params, site=name,
                                 created_by="cli")  # fmt: skip
    _run(settings, job.id, engine, out_path, f"report {name}")


def export_video_cmd(
    job: Annotated[str, typer.Option("--job", help="Job id.")],
    video: Annotated[str, typer.Option("--video", help="The video's name (or id) within the job.")],
    out_path: Annotated[Path, typer.Option("--out", help="The .mp4 to write.")] = Path("overlays.mp4"),
    trails: Annotated[bool, typer.Option("--trails/--no-trails", help="Draw each person's recent path.")] = True,
    overlays: Annotated[bool, typer.Option("--overlays/--plain", help="--plain: no drawing, a playable H.264 copy.")] = True,
) -> None:
    """A job's video as H.264 MP4 with its tracks (boxes, ids, trails), zones, lines and events drawn."""
    from cluster.cli import _settings
    from cluster.runtime import open_database
    from storage import analytics_exports as repo
    from storage import crud
    from storage.analytics_models import ExportKind
    from storage.analytics_rollup import camera_of_video, site_of_job
    from storage.db import session_scope
    from storage.models import VideoStatus

    _, err = _console()
    settings = _settings()
    engine = open_database(settings)
    with session_scope(engine) as s:
        row = crud.get_job(s, job)
        if row is None:
            err.print(f"[red]error:[/] job '{job}' not found")
            raise typer.Exit(1)
        videos = crud.list_videos(s, job)
        v = next((x for x in videos if video in (x.id, x.name, x.uri)), None)
        if v is None:
            err.print(f"[red]error:[/] video '{video}' not found in job '{job}'; videos: {', '.join(x.name for x in videos)}")
            raise typer.Exit(1)
        if v.status is not VideoStatus.DONE:
            err.print(f"[red]error:[/] video '{v.name}' is {getattr(v.status, 'value', v.status)}, not analysed")
            raise typer.Exit(1)
        camera_id = camera_of_video(site_of_job(row), v)
        zones, lines = {}, {}
        camera = crud.get_camera(s, camera_id)
        if camera is not None and overlays:
            try:
                config = crud.camera_config(camera)
                zones = {k: z.model_dump(mode="json") for k, z in config.zones.items()}
                lines = {k: ln.model_dump(mode="json") for k, ln in config.lines.items()}
            except crud.ConfigInvalidError:
                pass
        params = {"video_id": v.id, "video_name": v.name, "job_id": job, "cameras": [camera_id], "zones": zones,
                  "lines": lines, "trails": trails and overlays, "overlays": overlays}  # fmt: skip
        export = repo.create_export(s, kind=ExportKind.VIDEO_WITH_OVERLAYS, fmt="mp4", params=params,
                                    site=site_of_job(row), created_by="cli")  # fmt: skip
    _run(settings, export.id, engine, out_path, f"video {v.name}")


@analytics_app.command("rollup")
def rollup_cmd() -> None:
    """Roll up what was stored since the last rollup (new videos, new live events)."""
    from cluster.cli import _settings
    from cluster.runtime import open_database
    from storage.analytics_rollup import rollup_pending

    out, err = _console()
    settings = _settings()
    started = time.perf_counter()
    summary = rollup_pending(open_database(settings), settings.analytics.params())
    out.print(f"videos {summary.videos}, live hours {summary.live_hours}, removed {summary.removed} "
              f"in {time.perf_counter() - started:.1f} s")  # fmt: skip
    for e in summary.errors:
        err.print(f"[red]error:[/] {e}")
    if summary.errors:
        raise typer.Exit(1)


@analytics_app.command("rebuild")
def rebuild_cmd(site: Annotated[Optional[str], typer.Option("--site", help="Only this site.")] = None) -> None:
    """Drop and recompute the rollups (e.g. after zones were edited)."""
    from cluster.cli import _settings
    from cluster.runtime import open_database
    from storage.analytics_rollup import rebuild

    out, err = _console()
    settings = _settings()
    summary = rebuild(open_database(settings), settings.analytics.params(), site=site)
    out.print(f"videos {summary.videos}, live hours {summary.live_hours}")
    for e in summary.errors:
        err.print(f"[red]error:[/] {e}")
    if summary.errors:
        raise typer.Exit(1)
