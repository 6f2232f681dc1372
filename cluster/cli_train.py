"""`witness train behaviour` and `witness models list`: train the behaviour classifier, list stored models."""

from __future__ import annotations

import getpass
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from cluster.settings import Settings

__all__ = ["train_app", "models_app"]

train_app = typer.Typer(help="Train models from labelled footage.", no_args_is_help=True)
models_app = typer.Typer(help="Stored model versions.", no_args_is_help=True)

out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def _settings() -> Settings:
    from cluster.runtime import prepare_environment

    s = Settings()
    prepare_environment(s)
    return s


def _open_store(settings: Settings) -> Any:
    from cluster.runtime import open_store
    from storage.objectstore import ObjectStoreError

    try:
        return open_store(settings)
    except (ValueError, ObjectStoreError) as exc:
        err.print(f"[red]error:[/] object store: {exc}")
        raise typer.Exit(1) from None


@train_app.command("behaviour")
def train_behaviour_cmd(
    data_dir: Annotated[Optional[str], typer.Argument(metavar="[DATA_DIR]", help="Folder or s3://bucket/prefix with normal/ pickup/ concealment/ bypass/ (or shoplifting/) clip folders (optional with --from-labels).")] = None,
    from_labels: Annotated[bool, typer.Option("--from-labels", help="Add operators' labels (dismissals, escalations, event verdicts) from the database; the split keeps each visit on one side.")] = False,
    since: Annotated[Optional[datetime], typer.Option("--since", help="With --from-labels: only labels given at or after this time (ISO 8601).")] = None,
    compare: Annotated[str, typer.Option("--compare", help="Version to compare with on the same held-out windows: production (default), staging, latest, v0003, or none.")] = "production",
    labels: Annotated[Optional[Path], typer.Option("--labels", help="CSV clip,t_start_s,t_end_s,label[,track_id] (clip relative to DATA_DIR) instead of class folders.")] = None,
    fps: Annotated[Optional[float], typer.Option(min=0.01, help="Frame sampling rate (frames/s); default BEHAVIOUR__FPS.")] = None,
    imgsz: Annotated[Optional[int], typer.Option(min=320, max=3840, help="Pose inference size (px); default BEHAVIOUR__IMGSZ.")] = None,
    seed: Annotated[Optional[int], typer.Option(min=0, help="Split and forest seed; default BEHAVIOUR__SEED.")] = None,
    window: Annotated[Optional[int], typer.Option(min=2, help="Frames per window; default BEHAVIOUR__WINDOW.")] = None,
    stride: Annotated[Optional[int], typer.Option(min=1, help="Frames between windows; default BEHAVIOUR__STRIDE.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
) -> None:
    """Train the behaviour classifier on labelled clips (Ray Data + pose replicas) and store a new model version."""
    settings = _settings()
    from pipelines.train_behaviour import TrainOptions, find_clips, train_behaviour

    if data_dir is None and not from_labels:
        err.print("[red]error:[/] give DATA_DIR, --from-labels, or both")
        raise typer.Exit(2)
    if since is not None and not from_labels:
        err.print("[red]error:[/] --since needs --from-labels")
        raise typer.Exit(2)
    store = _open_store(settings)
    clips: list = []
    try:
        if data_dir is not None:
            clips, _ = find_clips(data_dir, labels=labels, store=store)  # checked before Ray starts
    except ValueError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    baseline = _baseline(settings, store, compare)
    from cluster.runtime import init_ray

    init_ray(settings)
    extra = None
    if from_labels:
        from pipelines.label_dataset import label_windows

        b = settings.behaviour
        with err.status("featurising operators' labels (Ray Data)"):
            extra = label_windows(settings.sqlalchemy_url, window=window or b.window, stride=stride or b.stride,
                                  since=since)  # fmt: skip
        if not as_json:
            err.print(f"{extra.labels_used} operator labels gave {len(extra)} windows "
                      f"({', '.join(f'{k} {v}' for k, v in extra.class_balance().items()) or 'none'}); "
                      f"{extra.labels_without_pose} had no stored pose")  # fmt: skip
    options = TrainOptions(
        model=settings.model, tracker=settings.tracker, job=settings.job, behaviour=settings.behaviour,
        cache_dir=settings.data_dir.resolve() / "cache", fps=fps, imgsz=imgsz, seed=seed, window=window, stride=stride,
        trained_by=f"cli:{getpass.getuser()}",
    )  # fmt: skip
    progress = Progress(
        TextColumn("[bold]training"), BarColumn(), MofNCompleteColumn(), TextColumn("frames"),
        TextColumn("{task.fields[fps]:.1f} fps"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        console=err, transient=as_json,
    )  # fmt: skip
    task = progress.add_task("train", total=None, fps=0.0)
    clock: dict[str, float] = {}

    def on_progress(done: int, total: int) -> None:
        now = time.perf_counter()
        clock.setdefault("t0", now)
        rate = done / (now - clock["t0"]) if now > clock["t0"] and done else 0.0
        progress.update(task, completed=done, total=total, fps=rate)

    if not as_json and data_dir is not None:
        err.print(f"{len(clips)} clips from {data_dir}")
    try:
        with progress:
            outcome = train_behaviour(data_dir, store=store, options=options, labels=labels, progress=on_progress,
                                      extra=extra, baseline=baseline)  # fmt: skip
    except ValueError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err.print("[yellow]cancelled:[/] no model was saved")
        raise typer.Exit(130) from None
    if as_json:
        out.print_json(json.dumps({
            "version": outcome.version, "key": outcome.key, "uri": outcome.uri, "clips": outcome.clips,
            "windows_by_class": outcome.windows_by_class, "elapsed_s": round(outcome.elapsed_s, 2),
            "report": outcome.report.to_dict(), "params": outcome.meta.get("params", {}),
            "comparison": outcome.comparison, "dataset": outcome.dataset,
            "dataset_hash": outcome.meta.get("dataset_hash"), "code_version": outcome.meta.get("code_version"),
        }))  # fmt: skip
        return
    _print_report(outcome)


def _print_report(outcome: Any) -> None:
    r = outcome.report
    windows = ", ".join(f"{k} {v}" for k, v in outcome.windows_by_class.items())
    out.print(f"trained on {r.n_train} windows, tested on {r.n_test} (held-out clips) from {outcome.clips} clips "
              f"({windows}) in {outcome.elapsed_s:.1f} s")  # fmt: skip
    out.print(f"accuracy: [bold]{r.accuracy:.3f}[/]   macro F1: {r.macro_f1:.3f}")
    table = Table(title="per class (test set)")
    for col in ("class", "precision", "recall", "f1", "support"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for cls, m in r.per_class.items():
        table.add_row(cls, f"{m.precision:.2f}", f"{m.recall:.2f}", f"{m.f1:.2f}", str(m.support))
    out.print(table)
    cm = Table(title="confusion matrix (rows: true, columns: predicted)")
    cm.add_column("true \\ predicted")
    for cls in r.labels:
        cm.add_column(cls, justify="right")
    for cls, row in zip(r.labels, r.confusion):
        cm.add_row(cls, *(str(x) for x in row))
    out.print(cm)
    imp = Table(title=f"top features ({r.importance_method} importance)")
    imp.add_column("feature")
    imp.add_column("importance", justify="right")
    for name, value in r.top_features(8):
        imp.add_row(name, f"{value:.3f}")
    out.print(imp)
    if outcome.comparison is not None:
        _print_comparison(r, outcome.comparison)
    if outcome.dataset is not None:
        d = outcome.dataset
        out.print(f"dataset {d['hash'][:16]} ({d['windows']} windows, {d['groups']} clips / visits): {d['key']}")
    out.print(f"saved behaviour model [bold]{outcome.version}[/] at {outcome.uri} (key {outcome.key})")
    out.print(f"use it with: BEHAVIOUR__MODEL_VERSION={outcome.version} (or latest)")


def _baseline(settings: Settings, store: Any, compare: str) -> Any:
    """The model to compare with (`None` for `none`, or when the stage is empty / nothing is stored)."""
    if compare == "none":
        return None
    from actors.behaviour_replica import BehaviourReplica
    from cluster.runtime import open_database
    from storage.db import session_scope
    from storage.model_registry import ModelNotFoundError
    from storage.model_stages import resolve_model_version

    try:
        with session_scope(open_database(settings)) as s:
            version = resolve_model_version(s, "behaviour", compare)
        return BehaviourReplica(store, version)
    except ModelNotFoundError as exc:
        if compare in ("production", "staging", "latest"):
            err.print(f"[yellow]note:[/] nothing to compare with ({exc})")
            return None
        err.print(f"[red]error:[/] --compare {compare}: {exc}")
        raise typer.Exit(2) from None
    except ValueError as exc:
        err.print(f"[red]error:[/] --compare {compare!r}: {exc}")
        raise typer.Exit(2) from None


def _print_comparison(new: Any, comparison: dict[str, Any]) -> None:
    base = comparison["baseline"]
    table = Table(title=f"new vs {comparison['baseline_version']} on the same held-out windows")
    for col in ("metric", "new", comparison["baseline_version"], "Δ"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    table.add_row("accuracy", f"{new.accuracy:.3f}", f"{base['accuracy']:.3f}", f"{comparison['accuracy_delta']:+.3f}")
    table.add_row("macro F1", f"{new.macro_f1:.3f}", f"{base['macro_f1']:.3f}", f"{comparison['macro_f1_delta']:+.3f}")
    for cls, m in new.per_class.items():
        b = base["per_class"][cls]
        table.add_row(f"{cls} precision", f"{m.precision:.2f}", f"{b['precision']:.2f}", f"{m.precision - b['precision']:+.2f}")
        table.add_row(f"{cls} recall", f"{m.recall:.2f}", f"{b['recall']:.2f}", f"{m.recall - b['recall']:+.2f}")
    out.print(table)


@models_app.command("list")
def models_list(
    kind: Annotated[str, typer.Option("--kind", help="Model family.")] = "behaviour",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List stored model versions with their test metrics."""
    settings = _settings()
    from storage.model_registry import list_models
    from storage.objectstore import ObjectStoreError

    store = _open_store(settings)
    try:
        rows = list_models(store, kind)
    except (ValueError, ObjectStoreError) as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2 if isinstance(exc, ValueError) else 1) from None
    if as_json:
        out.print_json(json.dumps({"count": len(rows), "data": rows}))
        return
    table = Table(title=f"{kind} models ({len(rows)})")
    for col in ("version", "latest", "trained", "accuracy", "macro F1", "train / test", "windows", "key"):
        table.add_column(col)
    for m in rows:
        metrics = m.get("metrics") or {}
        data = m.get("data") or {}
        table.add_row(
            m["version"], "yes" if m.get("latest") else "", str(m.get("trained_at", "-")),
            f"{metrics['accuracy']:.3f}" if "accuracy" in metrics else "-",
            f"{metrics['macro_f1']:.3f}" if "macro_f1" in metrics else "-",
            f"{metrics.get('n_train', '-')} / {metrics.get('n_test', '-')}",
            ", ".join(f"{k} {v}" for k, v in (data.get("windows_by_class") or {}).items()) or "-", m.get("key", "-"),
        )  # fmt: skip
    out.print(table)
