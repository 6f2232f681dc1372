"""`witness pos ...`: the product catalog, POS-file import, stored transactions and a till simulator for demos.

Exit codes: 0 done, 1 refused (a conflict: duplicate ids, an open session), 2 bad input.
"""

from __future__ import annotations

import json
import random
import sys
import time
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from cluster.settings import Settings

__all__ = ["pos_app"]

pos_app = typer.Typer(help="Point of sale: catalog, transactions, import and a till simulator.", no_args_is_help=True)

out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def _engine():
    """The database of the settings in effect, migrated."""
    from cluster.runtime import open_database, prepare_environment

    settings = Settings()
    prepare_environment(settings)
    return open_database(settings)


def _fail(message: str, code: int) -> typer.Exit:
    err.print(f"[red]error:[/] {message}", markup=True, highlight=False)
    return typer.Exit(code)


def _epoch_s(value: str | None, option: str) -> float | None:
    """Epoch seconds from `value`: a number, or ISO 8601 (naive = UTC)."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _fail(f"{option} must be epoch seconds or ISO 8601 (e.g. 2025-03-01T12:00:00), got {value!r}",
                    2) from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp()


def _iso(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, timezone.utc).isoformat(timespec="seconds")


def _tx_dict(tx: Any) -> dict[str, Any]:
    """A stored or domain transaction as JSON-ready values (money as strings)."""
    items = tx.items if isinstance(tx.items, list) else [
        {"sku": i.sku, "quantity": i.quantity, "unit_price": str(i.unit_price)} for i in tx.items]
    return {"id": tx.id, "terminal_id": tx.terminal_id, "items": items, "total": str(tx.total),
            "payment_method": getattr(tx.payment_method, "value", tx.payment_method), "t_start_s": tx.t_start_s,
            "t_end_s": tx.t_end_s, "camera_id": tx.camera_id, "zone": tx.zone,
            **({"source": tx.source} if hasattr(tx, "source") else {})}  # fmt: skip


def _items_text(items: list[dict[str, Any]]) -> str:
    return ", ".join(f"{i['quantity']}×{i['sku']}" for i in items)


@pos_app.command("catalog")
def catalog_cmd(as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False) -> None:
    """List the product catalog."""
    from storage import pos
    from storage.db import session_scope

    with session_scope(_engine()) as s:
        products = list(pos.load_catalog(s))
    if as_json:
        out.print_json(json.dumps({"count": len(products), "data": [
            {"sku": p.sku, "name": p.name, "price": str(p.price)} for p in products]}))
        return
    table = Table(title=f"catalog ({len(products)} products)")
    for col in ("sku", "name", "price"):
        table.add_column(col)
    for p in products:
        table.add_row(p.sku, p.name, f"{p.price:.2f}")
    out.print(table)


@pos_app.command("import")
def import_cmd(
    file: Annotated[Path, typer.Argument(help="A POS file: .json or .csv.", metavar="FILE")],
    fmt: Annotated[Optional[str], typer.Option("--format", help="json | csv (default: from the extension)")] = None,
) -> None:
    """Import a POS file's transactions, all or nothing."""
    from domain.pos import PosFileError
    from storage import pos
    from storage.db import session_scope

    try:
        kind = pos.pos_format(f"x.{fmt.lower()}" if fmt else file.name)
    except ValueError as exc:
        raise _fail(f"--format must be json or csv, got {fmt!r}" if fmt else str(exc), 2) from None
    try:
        text = file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise _fail(f"{file}: {exc.strerror or exc}", 2) from None
    except UnicodeDecodeError as exc:
        raise _fail(f"{file}: not UTF-8 text (byte {exc.start})", 2) from None
    with session_scope(_engine()) as s:
        try:
            stored = pos.import_transactions(s, text, source=file.name, fmt=kind)
        except pos.DuplicateTransactionError as exc:
            raise _fail(str(exc), 1) from None
        except PosFileError as exc:
            raise _fail(str(exc), 2) from None
        except ValueError as exc:
            raise _fail(f"{file.name}: {exc}", 2) from None
    out.print(f"imported {len(stored)} transaction(s) from {file.name}", highlight=False)


@pos_app.command("transactions")
def transactions_cmd(
    terminal: Annotated[Optional[str], typer.Option("--terminal", help="Only this terminal's.")] = None,
    camera: Annotated[Optional[str], typer.Option("--camera", help="Only this camera's (site.camera).")] = None,
    zone: Annotated[Optional[str], typer.Option("--zone", help="Only this checkout zone's.")] = None,
    since: Annotated[Optional[str], typer.Option("--since", help="Only those ending at or after (epoch s or ISO 8601).")] = None,
    until: Annotated[Optional[str], typer.Option("--until", help="Only those starting at or before (epoch s or ISO 8601).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 100,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """List stored transactions, newest first."""
    since_s, until_s = _epoch_s(since, "--since"), _epoch_s(until, "--until")
    from storage import pos
    from storage.db import session_scope

    with session_scope(_engine()) as s:
        rows, count = pos.list_transactions(s, terminal_id=terminal, camera_id=camera, zone=zone, since_s=since_s,
                                            until_s=until_s, limit=limit, offset=offset)  # fmt: skip
    if as_json:
        out.print_json(json.dumps({"count": count, "data": [_tx_dict(r) for r in rows]}))
        return
    table = Table(title=f"transactions ({count})")
    for col in ("id", "terminal", "start (UTC)", "duration", "items", "total", "paid", "camera", "zone"):
        table.add_column(col)
    for r in rows:
        table.add_row(r.id, r.terminal_id, _iso(r.t_start_s), f"{r.t_end_s - r.t_start_s:.0f} s", _items_text(r.items),
                      f"{r.total:.2f}", getattr(r.payment_method, "value", str(r.payment_method)), r.camera_id or "-",
                      r.zone or "-")  # fmt: skip
    out.print(table)


@pos_app.command("simulate")
def simulate_cmd(
    terminal: Annotated[str, typer.Option("--terminal", help="The till to ring sales up on.")] = "till-1",
    zone: Annotated[Optional[str], typer.Option("--zone", help="Checkout zone (default: the terminal's).")] = None,
    camera: Annotated[Optional[str], typer.Option("--camera", help="Camera id site.camera (default: the terminal's).")] = None,
    count: Annotated[int, typer.Option("--count", min=1, max=100_000, help="Sessions to run.")] = 5,
    interval: Annotated[float, typer.Option("--interval", min=0.0, help="Seconds between sessions.")] = 1.0,
    scan_interval: Annotated[float, typer.Option("--scan-interval", min=0.0, help="Seconds between scans (session length).")] = 0.0,
    void_rate: Annotated[float, typer.Option("--void-rate", min=0.0, max=1.0, help="Share of sessions voided (0-1).")] = 0.0,
    max_items: Annotated[int, typer.Option("--max-items", min=1, max=50, help="Most distinct products per sale.")] = 4,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Random seed (repeatable baskets).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per session.")] = False,
) -> None:
    """Run demo sessions on a terminal: start, scan random catalog items, complete (or void); real transactions."""
    from domain.pos import PaymentMethod
    from storage import pos
    from storage.db import session_scope

    rng = random.Random(seed)
    methods = list(PaymentMethod)
    engine = _engine()
    with session_scope(engine) as s:
        products = [p.sku for p in pos.load_catalog(s)]
        if not products:
            raise _fail("the catalog is empty: add products first (API: POST /api/v1/pos/products)", 1)
        if pos.get_open_session(s, terminal) is not None:
            raise _fail(f"terminal '{terminal}' already has an open session; complete or void it first", 1)
    completed = voided = 0
    total = Decimal("0.00")
    for n in range(count):
        if n and interval:
            time.sleep(interval)
        with session_scope(engine) as s:
            try:
                opened = pos.start_session(s, terminal, camera_id=camera, zone=zone)
            except pos.SessionAlreadyOpenError as exc:
                raise _fail(str(exc), 1) from None
            except ValueError as exc:
                raise _fail(str(exc), 2) from None
            scanned = opened
            for sku in rng.sample(products, rng.randint(1, min(max_items, len(products)))):
                time.sleep(scan_interval)
                scanned = pos.scan_item(s, terminal, sku, rng.choices([1, 2, 3], weights=[6, 3, 1])[0])
            if rng.random() < void_rate:
                items = list(scanned.items)
                row = pos.void_session(s, terminal)
                voided += 1
                record = {"session_id": row.id, "status": "voided", "terminal_id": terminal, "items": items,
                          "t_start_s": row.t_start_s, "t_end_s": row.t_end_s}  # fmt: skip
                line = f"[yellow]voided[/] session {row.id} on {terminal}: {_items_text(items)} (nothing billed)"
            else:
                tx = pos.complete_session(s, terminal, rng.choice(methods))
                completed += 1
                total += tx.total
                record = {"session_id": opened.id, "status": "completed", **_tx_dict(tx)}
                line = (f"[green]sale[/] {tx.id} on {terminal}: {_items_text(tx.items)} = {tx.total:.2f} "
                        f"{tx.payment_method.value} (camera {tx.camera_id or '-'}, zone {tx.zone or '-'})")
        if as_json:
            out.print(json.dumps(record), markup=False, highlight=False, soft_wrap=True)
        else:
            out.print(line, highlight=False)
    if not as_json:
        out.print(f"{completed} sale(s) totalling {total:.2f}, {voided} voided", highlight=False)
