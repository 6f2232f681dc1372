"""The `witness` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from cluster.cli_analytics import analytics_app, export_video_cmd, report_cmd
from cluster.cli_evidence import register as register_evidence
from cluster.cli_models import models_benchmark
from cluster.cli_plan import plan_cmd
from cluster.cli_pos import pos_app
from cluster.cli_stages import models_promote, models_rollback, models_stages
from cluster.cli_train import models_app, train_app
from cluster.settings import Settings
from storage.models import UserRole

__all__ = ["app"]

app = typer.Typer(help="Digital Witness: video intelligence for retail loss prevention.", no_args_is_help=True)
export_app = typer.Typer(help="Export results.", no_args_is_help=True)
app.add_typer(export_app, name="export")
user_app = typer.Typer(help="Manage API users.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(pos_app, name="pos")
app.add_typer(train_app, name="train")
app.add_typer(models_app, name="models")
app.add_typer(analytics_app, name="analytics")
app.command("report")(report_cmd)
export_app.command("video")(export_video_cmd)
register_evidence(app)  # witness retention | hold | verify (cluster/cli_evidence.py)
models_app.command("benchmark")(models_benchmark)
app.command("plan")(plan_cmd)
models_app.command("promote")(models_promote)
models_app.command("rollback")(models_rollback)
models_app.command("stages")(models_stages)

out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def _settings() -> Settings:
    from cluster.runtime import prepare_environment

    s = Settings()
    prepare_environment(s)
    return s


def _load_site(path: Path | None):
    from domain.site import SiteConfig, SiteConfigError, parse_site_yaml

    if path is None:
        return SiteConfig.default()
    try:
        text = path.read_text()
    except OSError as exc:
        err.print(f"[red]error:[/] site file {path}: {exc.strerror or exc}")
        raise typer.Exit(2) from None
    try:
        return parse_site_yaml(text, source=str(path))
    except SiteConfigError as exc:
        err.print(f"[red]error:[/] invalid site file\n{exc}")
        raise typer.Exit(2) from None


def _identity_options(settings: Any, offsets: list[str] | None) -> Any:
    """`pipelines.identity.IdentityOptions` from the settings and `--offset VIDEO=SECONDS` options (exit 2 when malformed)."""
    from pipelines.identity import IdentityOptions

    parsed: dict[str, float] = {}
    for item in offsets or []:
        name, sep, value = item.rpartition("=")
        try:
            if not sep or not name:
                raise ValueError
            parsed[Path(name).name] = float(value)
        except ValueError:
            err.print(f"[red]error:[/] --offset must be VIDEO=SECONDS (e.g. cam2.mp4=1.5), got {item!r}")
            raise typer.Exit(2) from None
    return IdentityOptions(settings.identity, settings.embedder, video_offsets_s=parsed or None)


@app.command()
def analyze(
    inputs: Annotated[list[str], typer.Argument(help="Video files or s3://bucket/key URIs.", metavar="PATH_OR_S3_URI...")],
    site: Annotated[Optional[Path], typer.Option(help="Site file (YAML): cameras, zones, rules.")] = None,
    fps: Annotated[Optional[float], typer.Option(min=0.01, help="Detection rate (frames/s); >= the video's rate analyses every frame.")] = None,
    imgsz: Annotated[Optional[int], typer.Option(min=320, max=3840, help="Inference image size (px).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as one JSON object.")] = False,
    pos: Annotated[Optional[Path], typer.Option(
        help="POS transactions (.json or .csv) to cross-check pickups against.", exists=True, dir_okay=False)] = None,
    video_start: Annotated[Optional[str], typer.Option(
        help="Wall-clock time of the videos' first frame (ISO 8601, naive = UTC), when the POS file has wall-clock "
        "times; without it POS times are seconds from the video start.")] = None,
    offset: Annotated[Optional[list[str]], typer.Option(
        help="VIDEO=SECONDS: a video's start on the recording session's clock, for global person ids across "
        "cameras (repeatable; other videos start at 0).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help=(
        "Show Ray's, the libraries' and the workers' logs on the terminal instead of the library log file."))] = False,
) -> None:
    """Analyse videos as one bulk job on Ray: people tracked with pose, zone events, evidence clips, intent alerts."""
    settings = _settings()
    site_cfg = _load_site(site)
    from cluster.runtime import init_ray, library_log_path, open_database, open_store
    from pipelines.bulk import JobOptions, run_job

    engine = open_database(settings)
    catalog = _catalog(engine)
    job_pos = _load_pos(pos, video_start, catalog) if pos is not None else None
    store = open_store(settings)
    init_ray(settings, verbose=verbose)
    options = JobOptions(
        model=settings.model, tracker=settings.tracker, job=settings.job, clip=settings.clip,
        cache_dir=settings.data_dir.resolve() / "cache", fps=fps, imgsz=imgsz,
        intent=settings.intent.params() if settings.intent.enabled else None, pos=job_pos, catalog=catalog,
        classify=_classifier(settings, store), reliability=settings.reliability,
        fall_model=settings.safety.classifier_kwargs(settings.model), mask_faces=settings.privacy.mask_faces,
        identity=_identity_options(settings, offset),
    )
    notifier = _notifier(settings, engine)
    options.on_alerts = lambda ids: _notify(notifier, engine, ids)
    progress = Progress(
        TextColumn("[bold]analysing"), BarColumn(), MofNCompleteColumn(), TextColumn("frames"),
        TextColumn("{task.fields[fps]:.1f} fps"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        console=err, transient=as_json,
    )
    task = progress.add_task("job", total=None, fps=0.0)
    clock: dict[str, float] = {}

    def on_progress(done: int, total: int) -> None:
        import time

        now = time.perf_counter()
        clock.setdefault("t0", now)
        rate = done / (now - clock["t0"]) if now > clock["t0"] and done else 0.0
        progress.update(task, completed=done, total=total, fps=rate)

    try:
        with progress:
            outcome = run_job(
                inputs, site=site_cfg, engine=engine, store=store, options=options, progress=on_progress,
                on_job_created=lambda jid: progress.console.print(f"job [bold]{jid}[/] started") if not as_json else None,
            )
    except KeyboardInterrupt:
        err.print("[yellow]cancelled:[/] the job and its unfinished videos are marked cancelled / failed")
        raise typer.Exit(130) from None
    finally:
        notifier.close()  # waits for webhook / email deliveries (failed ones end in the dead-letter list)
    if as_json:
        out.print_json(json.dumps(_outcome_dict(outcome)))
    else:
        _print_outcome(outcome)
        if not verbose:
            err.print(f"[dim]library log (Ray, warnings): {library_log_path(settings)}[/]")
    if outcome.failed:
        raise typer.Exit(1)


def _export_case_file(session, alert_id: str, settings, path: Path, *, masked: bool = True) -> None:
    """Write the case-file ZIP atomically (a partial file never stays behind)."""
    import os
    import tempfile

    from cluster.runtime import open_store
    from storage.casefile import export_case_file

    path = path.resolve()
    if not path.parent.is_dir():
        err.print(f"[red]error:[/] --case-file: folder {path.parent} does not exist")
        raise typer.Exit(2)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            case = export_case_file(session, alert_id, open_store(settings), f, actor="cli", masked=masked)  # custody-logged
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    missing = sum(1 for c in case["clips"] if c.get("missing"))
    err.print(f"case file written to {path} ({len(case['clips']) - missing} clip(s)"
              + (f", {missing} missing from the object store" if missing else "") + ")")


def _catalog(engine):
    """The product catalog stored in the database (the default ten products until edited)."""
    from storage.db import session_scope
    from storage.pos import load_catalog

    with session_scope(engine) as s:
        return load_catalog(s)


def _load_pos(path: Path, video_start: str | None, catalog):
    """The POS file as job data; exits with status 2 naming the file and line on bad input."""
    from datetime import datetime

    from domain.pos import PosFileError
    from pipelines.intent import parse_pos_file

    start = None
    if video_start is not None:
        try:
            start = datetime.fromisoformat(video_start)
        except ValueError:
            err.print(f"[red]error:[/] --video-start: '{video_start}' is not an ISO 8601 time (e.g. 2026-11-22T14:00:00Z)")
            raise typer.Exit(2) from None
    try:
        return parse_pos_file(path.read_bytes(), path.name, catalog=catalog, video_start=start)
    except PosFileError as exc:
        err.print(f"[red]error:[/] POS file {path}, line {exc.line}: {exc.problem}")
        raise typer.Exit(2) from None


def _classifier(settings, store):
    """The trained behaviour model's per-trajectory events, or `None` (heuristics) when none is configured."""
    if not settings.behaviour.model_version:
        return None
    from cluster.runtime import open_database
    from pipelines.intent import trajectory_classifier
    from storage.db import session_scope
    from storage.model_stages import resolve_model_version

    version = settings.behaviour.model_version
    if version in ("production", "staging"):
        with session_scope(open_database(settings)) as s:
            version = resolve_model_version(s, "behaviour", version)
    return trajectory_classifier(store, version, min_confidence=settings.behaviour.min_confidence)


def _notifier(settings, engine):
    """The notifier for a job's alerts: webhooks and email as configured; in-app when Redis is up."""
    import redis

    from actors.notifier import Notifier

    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=0.5, socket_timeout=2.0)
    return Notifier(engine, client, settings.notify)


def _notify(notifier, engine, alert_ids: list[str]) -> None:
    from actors.rule_alerts import notify_alerts
    from storage import crud
    from storage.db import session_scope

    with session_scope(engine) as s:
        alerts = [a for a in (crud.get_alert(s, i) for i in alert_ids) if a is not None]
    notify_alerts(notifier, alerts)


def _outcome_dict(outcome) -> dict:
    return {
        "job_id": outcome.job_id,
        "status": outcome.status,
        "elapsed_s": round(outcome.elapsed_s, 2),
        "backend": outcome.backend,
        "videos": [
            {
                "video_id": v.video_id, "name": v.name, "uri": v.uri, "status": v.status, "error": v.error,
                "camera_id": v.camera_id, "duration_s": round(v.duration_s, 2), "frames_analysed": v.frames_analysed,
                "people": v.people, "events_by_type": v.events_by_type, "clips": v.clips, "alerts": v.alerts,
            }
            for v in outcome.videos
        ],
    }


def _print_outcome(outcome) -> None:
    table = Table(title=f"job {outcome.job_id} — {outcome.status} in {outcome.elapsed_s:.1f} s")
    for col in ("video", "status", "duration", "frames analysed", "people", "events", "clips", "alerts"):
        table.add_column(col)
    for v in outcome.videos:
        events = ", ".join(f"{k} {n}" for k, n in sorted(v.events_by_type.items())) or "-"
        table.add_row(v.name, v.status, f"{v.duration_s:.1f} s", str(v.frames_analysed), str(v.people), events, str(v.clips),
                      str(v.alerts))
    out.print(table)
    for v in outcome.videos:
        if v.error:
            err.print(f"[red]error:[/] {v.error}")
    if outcome.backend:
        out.print(f"inference backend: {outcome.backend}")
    out.print(f"job id: {outcome.job_id}")


@app.command()
def up(
    site: Annotated[Optional[Path], typer.Option(help="Site file whose cameras to store and start.")] = None,
    serve_app: Annotated[bool, typer.Option("--serve/--no-serve", help="Deploy the Serve application; --no-serve when "
                                            "something else owns it (a KubeRay RayService's serveConfigV2).")] = True,
) -> None:
    """Start the live platform: Redis, Ray, the Serve app (API + detector), event sink and cameras."""
    settings = _settings()
    site_cfg = _load_site(site) if site is not None else None
    from cluster.live import up as live_up
    from cluster.services import ServiceError

    with err.status("starting the platform (Ray, Serve, model replicas, cameras)…"):
        try:
            result = live_up(settings, site=site_cfg, deploy_serve=serve_app)
        except (ServiceError, TimeoutError) as exc:
            err.print(f"[red]error:[/] {exc}")
            raise typer.Exit(1) from None
    out.print(f"platform up at {result.url} (docs: {result.url}/docs), Ray at {result.ray_address}")
    out.print(f"cameras started: {', '.join(result.cameras) or 'none'} (see /api/v1/cameras/status)")
    if result.admin_password:
        out.print(f"first admin created: user [bold]admin[/], password [bold]{result.admin_password}[/]")
        out.print(f"  log in: curl -s -X POST {result.url}/api/v1/auth/login -H 'content-type: application/json' "
                  f"-d '{{\"username\": \"admin\", \"password\": \"{result.admin_password}\"}}'")
    out.print("stop with: witness down")


@app.command()
def down() -> None:
    """Stop the live platform (cameras, Serve app, sink, and the local Ray / Redis that `up` started)."""
    settings = _settings()
    from cluster.live import down as live_down

    stopped = live_down(settings)
    out.print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@app.command()
def jobs(job_id: Annotated[Optional[str], typer.Argument(help="Show one job in detail.")] = None,
         limit: Annotated[int, typer.Option(min=1, max=1000)] = 20) -> None:
    """List jobs, or show one job with its videos."""
    settings = _settings()
    from cluster.runtime import open_database
    from storage import crud
    from storage.db import session_scope

    with session_scope(open_database(settings)) as s:
        if job_id is None:
            rows, count = crud.list_jobs(s, limit=limit)
            table = Table(title=f"jobs ({count})")
            for col in ("id", "status", "created", "progress", "videos", "failed"):
                table.add_column(col)
            for j in rows:
                table.add_row(j.id, _v(j.status), f"{j.created_at:%Y-%m-%d %H:%M:%S}", f"{j.progress:.0%}",
                              str(j.videos_total), str(j.videos_failed))
            out.print(table)
            return
        job = crud.get_job(s, job_id)
        if job is None:
            err.print(f"[red]error:[/] no job {job_id!r}")
            raise typer.Exit(1)
        out.print(f"job {job.id}: {_v(job.status)}, progress {job.progress:.0%} "
                  f"({job.frames_done}/{job.frames_total} frames), params {json.dumps(job.params)}")
        table = Table()
        for col in ("video", "status", "camera", "fps", "frames", "size", "codec", "people", "error"):
            table.add_column(col)
        for v in crud.list_videos(s, job_id):
            table.add_row(v.name, _v(v.status), v.camera_id or "-", f"{v.fps or 0:.1f}", str(v.frame_count or "-"),
                          f"{v.width}x{v.height}" if v.width else "-", v.codec or "-", str(v.people_count or 0),
                          v.error or "")
        out.print(table)


def _v(x) -> str:
    return str(getattr(x, "value", x))


@app.command()
def events(
    job: Annotated[str, typer.Option("--job", help="Job id.")],
    type_: Annotated[Optional[str], typer.Option("--type", help="Only this event type.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 100,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List the events of a job."""
    settings = _settings()
    from cluster.runtime import open_database
    from storage import crud
    from storage.db import session_scope

    with session_scope(open_database(settings)) as s:
        if crud.get_job(s, job) is None:
            err.print(f"[red]error:[/] no job {job!r}")
            raise typer.Exit(1)
        rows, count = crud.list_events(s, job_id=job, type=type_, limit=limit, offset=offset)
        clips = {c.event_id: c.key for c in crud.list_clips(s, job_id=job)}
        if as_json:
            out.print_json(json.dumps({"count": count, "data": [
                {"id": e.id, "type": e.type, "rule": e.rule, "camera_id": e.camera_id, "video_id": e.video_id,
                 "track_id": e.track_id, "zone": e.zone, "t_start_s": e.t_start_s, "t_end_s": e.t_end_s,
                 "confidence": e.confidence, "payload": e.payload, "clip": clips.get(e.id)} for e in rows]}))
            return
        table = Table(title=f"events of job {job} ({count})")
        for col in ("t_start", "t_end", "type", "rule", "zone", "track", "conf", "clip"):
            table.add_column(col)
        for e in rows:
            table.add_row(f"{e.t_start_s:.1f}", f"{e.t_end_s:.1f}", _v(e.type), e.rule, e.zone or "-",
                          str(e.track_id) if e.track_id is not None else "-", f"{e.confidence:.2f}",
                          clips.get(e.id, "-"))
        out.print(table)


@export_app.command("tracks")
def export_tracks_cmd(
    job: Annotated[str, typer.Option("--job", help="Job id.")],
    fmt: Annotated[str, typer.Option("--format", help="mot | csv | json")] = "mot",
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("export"),
    ids: Annotated[str, typer.Option("--ids", help="local: per-video track ids; global: the job's person numbers "
                                     "shared across its videos, with ids.csv mapping number -> global_id")] = "local",
) -> None:
    """Export a job's tracks, one file per video (MOTChallenge text, CSV or JSON)."""
    from pipelines.export import ExportFormat, export_tracks

    try:
        fmt_ = ExportFormat(fmt.lower())
    except ValueError:
        err.print(f"[red]error:[/] --format must be one of mot, csv, json; got {fmt!r}")
        raise typer.Exit(2) from None
    if ids not in ("local", "global"):
        err.print(f"[red]error:[/] --ids must be local or global; got {ids!r}")
        raise typer.Exit(2) from None
    settings = _settings()
    from cluster.runtime import open_database
    from storage.db import session_scope

    with session_scope(open_database(settings)) as s:
        try:
            files = export_tracks(s, job, fmt_, out_dir, ids=ids)
        except LookupError as exc:
            err.print(f"[red]error:[/] {exc.args[0]}")
            raise typer.Exit(1) from None
    for f in files:
        out.print(str(f))


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Argument(help="Login name (3-64 of letters, digits, _ . @ -).")],
    role: Annotated[UserRole, typer.Option("--role", help="admin | supervisor | operator | viewer")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
    camera_group: Annotated[Optional[list[str]], typer.Option("--camera-group", help="Camera group the user may see (repeat; none: the user gets the all-cameras flag).")] = None,
) -> None:
    """Create an API user (the password is prompted for, or read from stdin)."""
    from pydantic import ValidationError

    from deployments.api.security import hash_password
    from storage.models import UserCreate

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    try:
        data = UserCreate(username=username, password=password, role=role.value, camera_groups=camera_group or [],
                          all_cameras=not camera_group)
    except ValidationError as exc:
        for e in exc.errors(include_input=False):
            err.print(f"[red]error:[/] {'.'.join(map(str, e['loc']))}: {e['msg']}")
        raise typer.Exit(2) from None
    settings = _settings()
    from cluster.runtime import open_database
    from storage import crud
    from storage.db import session_scope

    with session_scope(open_database(settings)) as s:
        try:
            user = crud.create_user(s, data=data, password_hash=hash_password(password))
        except ValueError as exc:
            err.print(f"[red]error:[/] {exc}")
            raise typer.Exit(2) from None
        out.print(f"user [bold]{user.username}[/] created: role {_v(user.role)}, id {user.id}")


@user_app.command("list")
def user_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List API users."""
    settings = _settings()
    from cluster.runtime import open_database
    from storage import crud
    from storage.db import session_scope

    with session_scope(open_database(settings)) as s:
        rows, count = crud.list_users(s, limit=10_000)
    if as_json:
        out.print_json(json.dumps({"count": count, "data": [
            {"id": u.id, "username": u.username, "role": _v(u.role), "camera_groups": u.camera_groups, "all_cameras": u.all_cameras,
             "is_active": u.is_active, "created_at": u.created_at.isoformat()} for u in rows]}))
        return
    table = Table(title=f"users ({count})")
    for col in ("username", "role", "camera groups", "active", "created", "id"):
        table.add_column(col)
    for u in rows:
        table.add_row(u.username, _v(u.role), "(all)" if u.all_cameras or u.role is UserRole.ADMIN else ", ".join(u.camera_groups) or "(none)", "yes" if u.is_active else "no",
                      f"{u.created_at:%Y-%m-%d %H:%M:%S}", u.id)
    out.print(table)


def _alert_dict(a) -> dict:
    return {"id": a.id, "created_at": a.created_at.isoformat(), "status": _v(a.status), "severity": _v(a.severity),
            "score": a.score, "camera_id": a.camera_id, "job_id": a.job_id, "video_id": a.video_id,
            "track_id": a.track_id, "reason": a.reason, "acknowledged_by": a.acknowledged_by,
            "closed_by": a.closed_by, "explanation": a.explanation, "evidence": a.evidence}


@app.command()
def alerts(
    status: Annotated[Optional[str], typer.Option("--status", help="pending | acknowledged | dismissed | escalated")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 100,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List alerts, newest first."""
    from domain.alerts import AlertStatus

    if status is not None and status not in {s.value for s in AlertStatus}:
        err.print(f"[red]error:[/] --status must be one of {', '.join(s.value for s in AlertStatus)}; got {status!r}")
        raise typer.Exit(2)
    settings = _settings()
    from cluster.runtime import open_database
    from storage import crud
    from storage.db import session_scope

    with session_scope(open_database(settings)) as s:
        rows, count = crud.list_alerts(s, status=status, limit=limit, offset=offset)
        if as_json:
            out.print_json(json.dumps({"count": count, "data": [_alert_dict(a) for a in rows]}))
            return
        table = Table(title=f"alerts ({count})")
        for col in ("id", "created", "status", "severity", "score", "camera", "track"):
            table.add_column(col)
        for a in rows:
            table.add_row(a.id, f"{a.created_at:%Y-%m-%d %H:%M:%S}", _v(a.status), _v(a.severity), f"{a.score:.2f}",
                          a.camera_id or "-", str(a.track_id) if a.track_id is not None else "-")
        out.print(table)


@app.command()
def alert(
    alert_id: Annotated[str, typer.Argument(help="The alert id.")],
    ack: Annotated[bool, typer.Option("--ack", help="Acknowledge it.")] = False,
    dismiss: Annotated[Optional[str], typer.Option("--dismiss", metavar="REASON", help="Dismiss it with this reason.")] = None,
    escalate: Annotated[Optional[str], typer.Option("--escalate", metavar="REASON", help="Escalate it with this reason.")] = None,
    note: Annotated[Optional[str], typer.Option("--note", metavar="TEXT", help="Add this note.")] = None,
    as_user: Annotated[str, typer.Option("--as", metavar="USERNAME", help="Who acts (recorded in the history).")] = "cli",
    as_json: Annotated[bool, typer.Option("--json")] = False,
    case_file: Annotated[Optional[Path], typer.Option("--case-file", metavar="ZIP", dir_okay=False,
                                                      help="Export the case file (case.json + evidence clips) here.")] = None,
    unmasked: Annotated[bool, typer.Option("--unmasked", help="Put the original clips (faces visible) in the case "
                                                              "file instead of the face-masked copies.")] = False,
) -> None:
    """Show one alert with its notes and history, or act on it (one of --ack, --dismiss, --escalate, --note)."""
    from domain.alerts import AlertAction, InvalidTransitionError

    actions = [(a, r) for a, r, given in ((AlertAction.ACKNOWLEDGE, None, ack), (AlertAction.DISMISS, dismiss, dismiss is not None),
                                          (AlertAction.ESCALATE, escalate, escalate is not None),
                                          (AlertAction.NOTE, note, note is not None)) if given]
    if len(actions) > 1:
        err.print("[red]error:[/] give at most one of --ack, --dismiss, --escalate, --note")
        raise typer.Exit(2)
    settings = _settings()
    from cluster.runtime import open_database
    from storage import crud
    from storage.db import session_scope

    with session_scope(open_database(settings)) as s:
        if crud.get_alert(s, alert_id) is None:
            err.print(f"[red]error:[/] no alert {alert_id!r}")
            raise typer.Exit(1)
        if actions:
            action, reason = actions[0]
            try:
                crud.apply_transition(s, alert_id, action, actor=as_user, reason=reason)
            except InvalidTransitionError as exc:
                err.print(f"[red]error:[/] alert is {exc.status.value}: cannot {exc.action.value}")
                raise typer.Exit(1) from None
            except ValueError as exc:
                err.print(f"[red]error:[/] {exc}")
                raise typer.Exit(2) from None
        if case_file is not None:
            _export_case_file(s, alert_id, settings, case_file, masked=not unmasked)
        a = crud.get_alert(s, alert_id)
        s.refresh(a)
        notes, history = crud.list_notes(s, alert_id), crud.list_history(s, alert_id)
        if as_json:
            out.print_json(json.dumps({**_alert_dict(a),
                "notes": [{"author": n.author, "text": n.text, "at": n.at.isoformat()} for n in notes],
                "history": [{"actor": h.actor, "action": h.action, "from_status": _v(h.from_status),
                             "to_status": _v(h.to_status), "reason": h.reason, "at": h.at.isoformat()}
                            for h in history]}))  # fmt: skip
            return
        out.print(f"alert {a.id}: {_v(a.status)}, {_v(a.severity)} (score {a.score:.2f}), camera {a.camera_id or '-'}, "
                  f"track {a.track_id if a.track_id is not None else '-'}")
        if a.explanation:
            out.print(a.explanation)
        if a.reason:
            out.print(f"reason: {a.reason}")
        for h in history:
            out.print(f"  {h.at:%Y-%m-%d %H:%M:%S} {h.actor} {h.action}: {_v(h.from_status)} -> {_v(h.to_status)}"
                      + (f" ({h.reason})" if h.reason else ""))


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
