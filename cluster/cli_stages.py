"""`witness models promote / rollback / stages`: which behaviour-model version production and staging use."""

from __future__ import annotations

import getpass
import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

__all__ = ["models_promote", "models_rollback", "models_stages"]

out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

_STAGES = ("production", "staging")


def _stage(value: str) -> str:
    if value not in _STAGES:
        err.print(f"[red]error:[/] --stage {value!r}: expected production or staging")
        raise typer.Exit(2)
    return value


def _change(action: str, stage: str, version: str | None, as_json: bool) -> None:
    import redis

    from actors.model_watch import change_stage
    from cluster.cli_train import _open_store, _settings
    from cluster.runtime import open_database
    from storage import crud
    from storage.db import session_scope
    from storage.model_registry import ModelNotFoundError
    from storage.models import AuditLogCreate

    settings = _settings()
    store = _open_store(settings)
    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=1.0, socket_timeout=2.0)
    actor = f"cli:{getpass.getuser()}"
    with session_scope(open_database(settings)) as s:
        try:
            row, announced = change_stage(s, store, client, action=action, kind="behaviour", stage=stage,
                                          version=version, actor=actor)  # fmt: skip
        except (ValueError, ModelNotFoundError) as exc:
            err.print(f"[red]error:[/] {exc}")
            raise typer.Exit(2) from None
        crud.add_audit(s, AuditLogCreate(username=actor, method="CLI", path=f"witness models {action}",
                                         action=f"model.{action}", resource_type="model", resource_id=row.version,
                                         status_code=0, detail={"stage": row.stage, "previous": row.previous_version}))  # fmt: skip
    result: dict[str, Any] = {"action": action, "stage": row.stage, "version": row.version,
                              "previous_version": row.previous_version, "announced": announced}  # fmt: skip
    if as_json:
        out.print_json(json.dumps(result))
        return
    verb = "promoted to" if action == "promote" else "rolled back:"
    out.print(f"behaviour {row.stage} {verb} [bold]{row.version}[/] (was {row.previous_version or 'none'})")
    if not announced:
        err.print("[yellow]warning:[/] Redis unreachable: live cameras will not switch until the change is announced")


def models_promote(
    version: Annotated[str, typer.Argument(metavar="VERSION", help="e.g. v0003, or latest.")],
    stage: Annotated[str, typer.Option("--stage", help="production or staging.")] = "production",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Make a stage use a stored behaviour-model version; live cameras following it switch within seconds."""
    _change("promote", _stage(stage), version, as_json)


def models_rollback(
    stage: Annotated[str, typer.Option("--stage", help="production or staging.")] = "production",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Return a stage to the version it used before its last change."""
    _change("rollback", _stage(stage), None, as_json)


def models_stages(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show which version each stage uses and the latest changes."""
    from cluster.cli_train import _settings
    from cluster.runtime import open_database
    from storage.db import session_scope
    from storage.model_stages import current_stages, stage_history

    settings = _settings()
    with session_scope(open_database(settings)) as s:
        stages = current_stages(s, "behaviour")
        history = [h.model_dump(mode="json") for h in stage_history(s, "behaviour", limit=20)]
    if as_json:
        out.print_json(json.dumps({"stages": stages, "history": history}))
        return
    out.print("  ".join(f"{k}: [bold]{v or '-'}[/]" for k, v in stages.items()))
    table = Table(title="stage changes (newest first)")
    for col in ("at", "stage", "action", "version", "previous", "by"):
        table.add_column(col)
    for h in history:
        table.add_row(h["at"], h["stage"], h["action"], h["version"] or "-", h["previous_version"] or "-", h["actor"])
    out.print(table)
