"""`witness retention`, `witness hold` and `witness verify`: retention, legal holds and the chain of custody."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Optional

import typer
from rich.console import Console

__all__ = ["register"]

out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def _settings():
    from cluster.runtime import prepare_environment
    from cluster.settings import Settings

    s = Settings()
    prepare_environment(s)
    return s


def retention(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only report what would be deleted.")] = False,
    site: Annotated[Optional[str], typer.Option("--site", help="Set this site's policy ('*': the default row) "
                                                "from the --*-days options, then purge.")] = None,
    uploads_days: Annotated[Optional[int], typer.Option("--uploads-days", min=1)] = None,
    track_points_days: Annotated[Optional[int], typer.Option("--track-points-days", min=1)] = None,
    events_days: Annotated[Optional[int], typer.Option("--events-days", min=1)] = None,
    clips_days: Annotated[Optional[int], typer.Option("--clips-days", min=1)] = None,
    embeddings_days: Annotated[Optional[int], typer.Option("--embeddings-days", min=1)] = None,
    audit_days: Annotated[Optional[int], typer.Option("--audit-days", min=1)] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Purge what the retention policies no longer keep (legal holds respected); audited."""
    from cluster.runtime import open_database, open_store
    from domain.retention import RetentionPolicy
    from storage.db import session_scope
    from storage.retention import list_policies, purge, set_policy

    settings = _settings()
    engine = open_database(settings)
    days = dict(uploads_days=uploads_days, track_points_days=track_points_days, events_days=events_days,
                clips_days=clips_days, embeddings_days=embeddings_days, audit_days=audit_days)
    if site is not None:
        with session_scope(engine) as s:
            set_policy(s, site, RetentionPolicy(**days), actor="cli")
    elif any(v is not None for v in days.values()):
        err.print("[red]error:[/] --*-days options need --site SITE (or '*')")
        raise typer.Exit(2)
    report = purge(engine, open_store(settings), default=RetentionPolicy(**settings.retention.policy()),
                   dry_run=dry_run, upload_dir=settings.data_dir.resolve() / "uploads", actor="cli")
    if as_json:
        out.print_json(json.dumps(report.as_dict()))
    else:
        with session_scope(engine) as s:
            for name, policy in sorted(list_policies(s).items()):
                kept = ", ".join(f"{k.removesuffix('_days')} {v} d" for k, v in policy.model_dump().items() if v) or "all"
                out.print(f"policy {name}: {kept}")
        verb = "would delete" if dry_run else "deleted"
        for kind in report.rows:
            if report.rows[kind] or report.objects[kind]:
                out.print(f"{verb} {kind}: {report.rows[kind]} rows, {report.objects[kind]} objects/files")
        out.print(f"kept under legal hold: {report.held}")
        for e in report.errors:
            err.print(f"[yellow]not deleted:[/] {e}")
    raise typer.Exit(1 if report.errors else 0)


def hold(
    alert_id: Annotated[str, typer.Argument(help="The alert.")],
    reason: Annotated[Optional[str], typer.Option("--reason", help="Place a hold with this reason.")] = None,
    release: Annotated[Optional[str], typer.Option("--release", metavar="REASON", help="Release its holds.")] = None,
    as_user: Annotated[str, typer.Option("--as", metavar="USERNAME")] = "cli",
) -> None:
    """Show, place or release the legal hold on an alert's evidence."""
    from cluster.runtime import open_database
    from storage import crud
    from storage.db import session_scope
    from storage.retention import active_holds, place_hold, release_hold

    if reason is not None and release is not None:
        err.print("[red]error:[/] give one of --reason, --release")
        raise typer.Exit(2)
    with session_scope(open_database(_settings())) as s:
        try:
            if reason is not None:
                place_hold(s, alert_id, actor=as_user, reason=reason)
            elif release is not None:
                release_hold(s, alert_id, actor=as_user, reason=release)
        except crud.NotFoundError as exc:
            err.print(f"[red]error:[/] {exc.args[0]}")
            raise typer.Exit(1) from None
        except ValueError as exc:
            err.print(f"[red]error:[/] {exc}")
            raise typer.Exit(2) from None
        holds = active_holds(s, alert_id)
    out.print(f"alert {alert_id}: " + ("; ".join(f"on hold since {h.placed_at:%Y-%m-%d %H:%M} by {h.placed_by}: "
                                                  f"{h.reason}" for h in holds) or "no active hold"))


def register(app: typer.Typer) -> None:
    """Add these commands to the `witness` app."""
    app.command()(retention)
    app.command()(hold)
    app.command()(verify)
    app.command("rotate-keys")(rotate_keys)


def verify(
    alert_id: Annotated[Optional[str], typer.Option("--alert", metavar="ID", help="Only this alert's clips.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Re-hash the evidence objects and walk the chain of custody; exit 1 on any change, loss or break."""
    from cluster.runtime import open_database, open_store
    from storage import crud
    from storage.custody import verify as run_verify

    settings = _settings()
    try:
        report = run_verify(open_database(settings), open_store(settings), alert_id=alert_id, actor="cli")
    except crud.NotFoundError as exc:
        err.print(f"[red]error:[/] {exc.args[0]}")
        raise typer.Exit(2) from None
    if as_json:
        out.print_json(json.dumps(report.as_dict()))
    else:
        out.print(f"custody log: {report.entries} entries, head #{report.head_seq} {report.head_hash[:16]}…")
        out.print(f"objects re-hashed: {report.objects}, unchanged: {report.ok}")
        for key, problem in report.changed:
            out.print(f"[red]CHANGED[/] {key}: {problem}")
        for key in report.missing:
            out.print(f"[red]MISSING[/] {key}")
        for seq, problem in report.chain:
            out.print(f"[red]CHAIN BREAK[/] at entry {seq}: {problem}")
        out.print("[green]verified[/]" if report.passed else "[red]verification failed[/]")
    raise typer.Exit(0 if report.passed else 1)


def rotate_keys(prefix: Annotated[str, typer.Option("--prefix", help="Only objects under this key prefix.")] = "") -> None:
    """Re-seal every encrypted evidence object with the active key (EVIDENCE__ACTIVE_KEY_ID)."""
    from cluster.runtime import open_store
    from storage.evidence_store import DecryptionError, EvidenceStore

    store = open_store(_settings())
    if not isinstance(store, EvidenceStore) or store.keyring is None:
        err.print("[red]error:[/] encryption is off: set EVIDENCE__ENCRYPTION_KEYS or EVIDENCE__KEY_FILE")
        raise typer.Exit(2)
    try:
        n = store.rotate(prefix)
    except DecryptionError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    out.print(f"re-sealed {n} object(s) with key {store.keyring.active_key_id!r}")
