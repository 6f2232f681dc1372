"""Point-of-sale repository: the stored catalog, terminals, till sessions and transactions.

Every function takes an open `Session`, applies the rules of `domain.pos` (a product is
validated as a `Product`, a session moves only through a `PosSession`, files are read by
`parse_transactions_json` / `parse_transactions_csv`) and commits its own work; on any error
nothing is written. Times are epoch seconds (`_s`); money is `Decimal` with 2 places.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from domain.pos import (
    Catalog,
    LineItem,
    NoOpenSessionError,
    PaymentMethod,
    PosSession,
    Product,
    SessionStatus,
    Transaction,
    parse_transactions_csv,
    parse_transactions_json,
)
from domain.site import ZoneKind
from storage.crud import InUseError, NotFoundError
from storage.db import commit as _commit
from storage.scope import CameraScope
from storage.models import (
    CAMERA_ID_PATTERN,
    TERMINAL_ID_PATTERN,
    Camera,
    PosProduct,
    PosSessionRow,
    PosTerminal,
    PosTransaction,
    utcnow,
)

__all__ = [
    "DuplicateSkuError",
    "DuplicateTransactionError",
    "SessionAlreadyOpenError",
    "PosFormat",
    "load_catalog",
    "list_products",
    "get_product",
    "add_product",
    "update_product",
    "delete_product",
    "list_terminals",
    "get_terminal",
    "put_terminal",
    "delete_terminal",
    "get_open_session",
    "start_session",
    "scan_item",
    "complete_session",
    "void_session",
    "session_subtotal",
    "line_items",
    "to_transaction",
    "save_transactions",
    "import_transactions",
    "pos_format",
    "get_transaction",
    "list_transactions",
    "transactions_between",
]

PosFormat = Literal["json", "csv"]
_MAX_TOTAL = Decimal("99999999.99")  # Numeric(10, 2)
_LIMITS = {"id": 64, "terminal_id": 63, "camera_id": 128, "zone": 128}


class DuplicateSkuError(ValueError):
    """A product whose SKU is already in the catalog (API: 409)."""

    def __init__(self, sku: str) -> None:
        self.sku = sku
        super().__init__(f"SKU '{sku}' is already in the catalog")


class DuplicateTransactionError(ValueError):
    """Transactions whose ids are already stored (API: 409); `ids` lists them, sorted."""

    def __init__(self, ids: Iterable[str]) -> None:
        self.ids = sorted(set(ids))
        shown = ", ".join(f"'{i}'" for i in self.ids[:20]) + (" ..." if len(self.ids) > 20 else "")
        super().__init__(f"{len(self.ids)} transaction id(s) already stored: {shown}")


class SessionAlreadyOpenError(RuntimeError):
    """A start on a terminal that already has an open session (API: 409)."""

    def __init__(self, terminal_id: str) -> None:
        self.terminal_id = terminal_id
        super().__init__(f"terminal '{terminal_id}' already has an open session; complete or void it first")


def _validation_message(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors(include_input=False))


# ---------------------------------------------------------------------------------- catalog
def _product(row: PosProduct) -> Product:
    return Product(sku=row.sku, name=row.name, price=row.price)


def load_catalog(session: Session) -> Catalog:
    """The stored catalog (as edited through the API; seeded with `Catalog.default()`).

    Returns:
        A `domain.pos.Catalog` of every stored product.
    """
    rows = session.exec(select(PosProduct).order_by(col(PosProduct.sku))).all()
    return Catalog([_product(r) for r in rows])


def list_products(session: Session, *, limit: int = 100, offset: int = 0) -> tuple[list[PosProduct], int]:
    """A page of products by SKU, and the number of products in all."""
    total = session.exec(select(func.count()).select_from(PosProduct)).one()
    rows = session.exec(select(PosProduct).order_by(col(PosProduct.sku)).offset(offset).limit(limit)).all()
    return list(rows), total


def get_product(session: Session, sku: str) -> PosProduct | None:
    """The product with this SKU, or `None`."""
    return session.get(PosProduct, sku)


def add_product(session: Session, *, sku: str, name: str, price: Decimal | str) -> PosProduct:
    """Add a product to the catalog.

    Args:
        session: open session.
        sku: stock-keeping unit (`domain.pos.SKU_PATTERN`, e.g. `CHOC001`).
        name: display name (not empty).
        price: unit price, > 0, at most 2 decimal places.

    Returns:
        The stored product.

    Raises:
        ValueError: invalid SKU, name or price (the message names the field).
        DuplicateSkuError: (a `ValueError`) the SKU is already in the catalog.
    """
    try:
        product = Product(sku=sku, name=name, price=price)
    except ValidationError as exc:
        raise ValueError(_validation_message(exc)) from None
    if session.get(PosProduct, product.sku) is not None:
        raise DuplicateSkuError(product.sku)
    row = PosProduct(sku=product.sku, name=product.name, price=product.price)
    session.add(row)
    try:
        _commit(session, row)
    except IntegrityError:  # a concurrent add of the same SKU
        raise DuplicateSkuError(product.sku) from None
    return row


def update_product(session: Session, sku: str, *, name: str | None = None,
                   price: Decimal | str | None = None) -> PosProduct:  # fmt: skip
    """Change a product's name and/or price (`None` keeps the current value).

    Open sessions keep the prices they scanned at; later scans use the new price.

    Raises:
        NotFoundError: the SKU is not in the catalog.
        ValueError: empty name, or a price ≤ 0 or with more than 2 decimal places.
    """
    row = session.get(PosProduct, sku)
    if row is None:
        raise NotFoundError(f"product {sku!r} not found")
    try:
        product = Catalog([_product(row)]).update(sku, name=name, price=price)
    except ValidationError as exc:
        raise ValueError(_validation_message(exc)) from None
    row.name, row.price, row.updated_at = product.name, product.price, utcnow()
    session.add(row)
    _commit(session, row)
    return row


def delete_product(session: Session, sku: str) -> None:
    """Remove a product from the catalog (stored transactions and open sessions keep their lines).

    Raises:
        NotFoundError: the SKU is not in the catalog.
    """
    row = session.get(PosProduct, sku)
    if row is None:
        raise NotFoundError(f"product {sku!r} not found")
    session.delete(row)
    _commit(session)


# -------------------------------------------------------------------------------- terminals
def _check_terminal_id(terminal_id: str) -> None:
    if not re.fullmatch(TERMINAL_ID_PATTERN, terminal_id or ""):
        raise ValueError(f"terminal_id must be 1-63 of letters, digits, '_' and '-' (starting with a letter or "
                         f"digit), but got {terminal_id!r}")


def _check_link(session: Session, camera_id: str | None, zone: str | None) -> None:
    """A camera id must look like `site.camera`; a zone of a stored camera must be one of its checkout zones."""
    if camera_id is not None and not re.fullmatch(CAMERA_ID_PATTERN, camera_id):
        raise ValueError(f"camera_id must be '{{site}}.{{camera key}}', but got {camera_id!r}")
    if zone is not None and not zone.strip():
        raise ValueError("zone must not be blank")
    camera = session.get(Camera, camera_id) if camera_id is not None else None
    if camera is None or zone is None:
        return
    zones: dict[str, Any] = (camera.config or {}).get("zones") or {}
    if zone not in zones:
        raise ValueError(f"camera '{camera_id}' has no zone '{zone}' (zones: {', '.join(sorted(zones)) or 'none'})")
    kind = zones[zone].get("kind", ZoneKind.GENERIC.value)
    if kind != ZoneKind.CHECKOUT.value:
        raise ValueError(f"zone '{zone}' of camera '{camera_id}' is a {kind} zone, not a checkout zone")


def list_terminals(session: Session, *, limit: int = 100, offset: int = 0,
                   scope: CameraScope | None = None) -> tuple[list[PosTerminal], int]:  # fmt: skip
    """A page of terminals by id (those of cameras `scope` sees; `None`: all), and how many in all."""
    visible = sa.true() if scope is None else scope.camera_clause(PosTerminal.camera_id)
    total = session.exec(select(func.count()).select_from(PosTerminal).where(visible)).one()
    rows = session.exec(select(PosTerminal).where(visible).order_by(col(PosTerminal.id)).offset(offset).limit(limit)).all()
    return list(rows), total


def get_terminal(session: Session, terminal_id: str) -> PosTerminal | None:
    """The terminal with this id, or `None`."""
    return session.get(PosTerminal, terminal_id)


def put_terminal(session: Session, terminal_id: str, *, camera_id: str | None = None,
                 zone: str | None = None) -> tuple[PosTerminal, bool]:  # fmt: skip
    """Create a terminal or replace its checkout link.

    Args:
        session: open session.
        terminal_id: the till's id (`TERMINAL_ID_PATTERN`, e.g. `till-1`).
        camera_id: the camera watching it, `"{site}.{camera key}"` (need not be stored yet).
        zone: its checkout zone (site-file name); if the camera is stored, one of its checkout zones.

    Returns:
        `(terminal, created)`.

    Raises:
        ValueError: a malformed id, or a zone the stored camera does not have as a checkout zone.
    """
    _check_terminal_id(terminal_id)
    _check_link(session, camera_id, zone)
    row = session.get(PosTerminal, terminal_id)
    created = row is None
    if row is None:
        row = PosTerminal(id=terminal_id)
    row.camera_id, row.zone, row.updated_at = camera_id, zone, utcnow()
    session.add(row)
    _commit(session, row)
    return row, created


def delete_terminal(session: Session, terminal_id: str) -> None:
    """Delete a terminal (its sessions and transactions stay).

    Raises:
        NotFoundError: no such terminal.
        InUseError: (a `ValueError`) it has an open session.
    """
    row = session.get(PosTerminal, terminal_id)
    if row is None:
        raise NotFoundError(f"terminal {terminal_id!r} not found")
    if get_open_session(session, terminal_id) is not None:
        raise InUseError(f"terminal '{terminal_id}' has an open session; complete or void it first")
    session.delete(row)
    _commit(session)


# --------------------------------------------------------------------------------- sessions
def line_items(items: Sequence[dict[str, Any]]) -> tuple[LineItem, ...]:
    """Stored item dicts `{"sku", "quantity", "unit_price"}` as `LineItem`s."""
    return tuple(LineItem(str(i["sku"]), int(i["quantity"]), Decimal(str(i["unit_price"]))) for i in items)


def _items_json(items: Iterable[LineItem]) -> list[dict[str, Any]]:
    return [{"sku": i.sku, "quantity": i.quantity, "unit_price": str(i.unit_price)} for i in items]


def session_subtotal(row: PosSessionRow) -> Decimal:
    """Running total of a stored session's lines, 2 places."""
    return sum((i.unit_price * i.quantity for i in line_items(row.items)), Decimal("0")).quantize(Decimal("0.01"))


def _restore(row: PosSessionRow, catalog: Catalog) -> PosSession:
    """The domain session of an open row: its lines replayed at their scanned prices, then `catalog`."""
    till = PosSession(Catalog())
    till.start(row.terminal_id, row.t_start_s, camera_id=row.camera_id, zone=row.zone)
    for item in line_items(row.items):
        till.catalog = Catalog([Product(sku=item.sku, name=item.sku, price=item.unit_price)])
        till.scan(item.sku, item.quantity)
    till.catalog = catalog
    return till


def get_open_session(session: Session, terminal_id: str, *, for_update: bool = False) -> PosSessionRow | None:
    """The terminal's open session, or `None` (`for_update` locks the row on PostgreSQL)."""
    stmt = select(PosSessionRow).where(col(PosSessionRow.terminal_id) == terminal_id,
                                       col(PosSessionRow.status) == SessionStatus.OPEN)  # fmt: skip
    if for_update:
        stmt = stmt.with_for_update()
    return session.exec(stmt).first()


def _require_open(session: Session, terminal_id: str, what: str) -> PosSessionRow:
    row = get_open_session(session, terminal_id, for_update=True)
    if row is None:
        raise NoOpenSessionError(f"cannot {what}: no open session on terminal '{terminal_id}'")
    return row


def start_session(session: Session, terminal_id: str, *, t_s: float | None = None, camera_id: str | None = None,
                  zone: str | None = None) -> PosSessionRow:  # fmt: skip
    """Open a session on a terminal.

    The camera and zone default to the terminal's link (if it is registered); `camera_id` /
    `zone` override them (the simulator does).

    Args:
        session: open session.
        terminal_id: the till (`TERMINAL_ID_PATTERN`; it need not be registered).
        t_s: start time, epoch seconds (default: now).
        camera_id: camera watching the till (default: the terminal's).
        zone: checkout zone (default: the terminal's).

    Returns:
        The stored open session.

    Raises:
        ValueError: a malformed terminal or camera id.
        SessionAlreadyOpenError: the terminal already has an open session.
    """
    _check_terminal_id(terminal_id)
    if camera_id is not None or zone is not None:
        _check_link(session, camera_id, zone)
    if get_open_session(session, terminal_id) is not None:
        raise SessionAlreadyOpenError(terminal_id)
    terminal = session.get(PosTerminal, terminal_id)
    if terminal is not None:
        camera_id = terminal.camera_id if camera_id is None else camera_id
        zone = terminal.zone if zone is None else zone
    till = PosSession(Catalog())
    till.start(terminal_id, time.time() if t_s is None else t_s, camera_id=camera_id, zone=zone)
    row = PosSessionRow(terminal_id=terminal_id, status=SessionStatus.OPEN, items=[], t_start_s=till.t_start_s,
                        camera_id=camera_id, zone=zone)  # fmt: skip
    session.add(row)
    try:
        _commit(session, row)
    except IntegrityError:  # a concurrent start won the unique open-session index
        raise SessionAlreadyOpenError(terminal_id) from None
    return row


def scan_item(session: Session, terminal_id: str, sku: str, quantity: int = 1) -> PosSessionRow:
    """Add `quantity` units of `sku` (at the catalog's current price) to the terminal's open session.

    Raises:
        NoOpenSessionError: the terminal has no open session.
        UnknownSkuError: (a `ValueError`) `sku` is not in the catalog.
        ValueError: `quantity` < 1. TypeError: `quantity` is not an int.
    """
    row = _require_open(session, terminal_id, "scan")
    product = session.get(PosProduct, sku)
    try:
        till = _restore(row, Catalog([_product(product)] if product is not None else []))
        till.scan(sku, quantity)
    except BaseException:
        session.rollback()  # release the row lock
        raise
    row.items = _items_json(till.items)
    session.add(row)
    _commit(session, row)
    return row


def _transaction_row(tx: Transaction, source: str) -> PosTransaction:
    return PosTransaction(id=tx.id, terminal_id=tx.terminal_id, items=_items_json(tx.items), total=tx.total,
                          payment_method=tx.payment_method, t_start_s=tx.t_start_s, t_end_s=tx.t_end_s,
                          camera_id=tx.camera_id, zone=tx.zone, source=source[:255])  # fmt: skip


def complete_session(session: Session, terminal_id: str, payment_method: PaymentMethod | str, *,
                     t_s: float | None = None) -> PosTransaction:  # fmt: skip
    """Close the terminal's open session as a sale and store its transaction (both or neither).

    Args:
        session: open session.
        terminal_id: the till.
        payment_method: `cash`, `card`, `mobile` or `other`.
        t_s: completion time, epoch seconds (default: now, never before the start).

    Returns:
        The stored transaction (items, total, payment method, times, terminal, camera, zone).

    Raises:
        NoOpenSessionError: the terminal has no open session.
        ValueError: no items scanned, an unknown payment method, or `t_s` before the start.
        DuplicateTransactionError: (a `ValueError`) the transaction id is already stored.
    """
    row = _require_open(session, terminal_id, "complete")
    try:
        till = _restore(row, Catalog())
        t_end_s = max(time.time(), row.t_start_s) if t_s is None else t_s
        tx = till.complete(payment_method, t_s=t_end_s)
        if session.get(PosTransaction, tx.id) is not None:
            raise DuplicateTransactionError([tx.id])
    except BaseException:
        session.rollback()
        raise
    stored = _transaction_row(tx, "session")
    row.status, row.t_end_s, row.transaction_id = SessionStatus.COMPLETED, tx.t_end_s, tx.id
    session.add_all([row, stored])
    try:
        _commit(session, stored)
    except IntegrityError:
        raise DuplicateTransactionError([tx.id]) from None
    return stored


def void_session(session: Session, terminal_id: str, *, t_s: float | None = None) -> PosSessionRow:
    """Cancel the terminal's open session; nothing is billed.

    Raises:
        NoOpenSessionError: the terminal has no open session.
    """
    row = _require_open(session, terminal_id, "void")
    till = _restore(row, Catalog())
    till.void()
    row.status, row.items = SessionStatus.VOIDED, []
    row.t_end_s = max(time.time(), row.t_start_s) if t_s is None else float(t_s)
    session.add(row)
    _commit(session, row)
    return row


# ----------------------------------------------------------------------------- transactions
def to_transaction(row: PosTransaction) -> Transaction:
    """A stored transaction as a `domain.pos.Transaction`."""
    return Transaction(id=row.id, terminal_id=row.terminal_id, items=line_items(row.items),
                       total=Decimal(row.total).quantize(Decimal("0.01")),
                       payment_method=PaymentMethod(row.payment_method), t_start_s=row.t_start_s,
                       t_end_s=row.t_end_s, camera_id=row.camera_id, zone=row.zone)  # fmt: skip


def _check_fits(tx: Transaction) -> None:
    for name, limit in _LIMITS.items():
        value = getattr(tx, name)
        if value is not None and len(value) > limit:
            raise ValueError(f"transaction '{tx.id[:80]}': {name} is longer than {limit} characters")
    if tx.total > _MAX_TOTAL:
        raise ValueError(f"transaction '{tx.id}': total {tx.total} is over {_MAX_TOTAL}")


def save_transactions(session: Session, transactions: list[Transaction], *, source: str) -> int:
    """Store transactions, all or nothing.

    A transaction without a camera or zone, rung up at a registered terminal, takes the
    terminal's link.

    Args:
        session: open session.
        transactions: domain transactions (e.g. from `parse_transactions_csv`).
        source: where they came from (the file name), kept with each row.

    Returns:
        The number stored.

    Raises:
        DuplicateTransactionError: (a `ValueError`) ids already stored, or repeated in `transactions`;
            `.ids` names them.
        ValueError: an id, terminal, camera or zone too long to store, or a total over 99,999,999.99.
    """
    ids = [tx.id for tx in transactions]
    repeated = {i for i in ids if ids.count(i) > 1}
    if repeated:
        raise DuplicateTransactionError(repeated)
    for tx in transactions:
        _check_fits(tx)
    stored: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        stored.update(session.exec(select(PosTransaction.id).where(col(PosTransaction.id).in_(chunk))).all())
    if stored:
        raise DuplicateTransactionError(stored)
    terminal_ids = sorted({tx.terminal_id for tx in transactions})
    links = {t.id: t for t in session.exec(select(PosTerminal).where(col(PosTerminal.id).in_(terminal_ids))).all()}
    for tx in transactions:
        link = links.get(tx.terminal_id)
        row = _transaction_row(tx, source)
        if link is not None:
            row.camera_id = row.camera_id or link.camera_id
            row.zone = row.zone or link.zone
        session.add(row)
    try:
        _commit(session)
    except IntegrityError:  # a concurrent import stored some of them first
        found = session.exec(select(PosTransaction.id).where(col(PosTransaction.id).in_(ids))).all()
        raise DuplicateTransactionError(found or ids) from None
    return len(transactions)


def pos_format(filename: str | None, content_type: str | None = None) -> PosFormat:
    """`"json"` or `"csv"` from a file name's extension, else from its content type.

    Raises:
        ValueError: neither says JSON or CSV.
    """
    name = (filename or "").lower()
    if name.endswith(".json"):
        return "json"
    if name.endswith(".csv"):
        return "csv"
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in ("application/json", "text/json"):
        return "json"
    if kind in ("text/csv", "application/csv"):
        return "csv"
    raise ValueError(f"cannot tell the format of {filename or 'the file'!r}: expected a .json or .csv file "
                     f"(or content type application/json or text/csv), got {kind or 'no content type'}")


def import_transactions(session: Session, text: str, *, source: str, fmt: PosFormat,
                        scope: CameraScope | None = None) -> list[Transaction]:  # fmt: skip
    """Parse a POS file against the stored catalog and store its transactions, all or nothing.

    Args:
        session: open session.
        text: the file's contents (see `domain.pos.parse_transactions_json` / `_csv` for the formats).
        source: the file name (in error messages and on each row).
        fmt: `"json"` or `"csv"`.
        scope: every transaction's camera must be one this scope sees (`None`: any camera).

    Returns:
        The stored transactions, in file order.

    Raises:
        PosFileError: (a `ValueError`) the file is invalid; `str()` is `source:line: problem`.
        DuplicateTransactionError: ids already stored.
        ValueError: an unknown `fmt`, or a value too long to store.
    """
    parsers = {"json": parse_transactions_json, "csv": parse_transactions_csv}
    if fmt not in parsers:
        raise ValueError(f"fmt must be 'json' or 'csv', but got {fmt!r}")
    transactions = parsers[fmt](text, source, load_catalog(session))
    if scope is not None:
        for tx in transactions:
            if not scope.sees_camera(session, tx.camera_id):
                raise ValueError(f"{source}: transaction {tx.id!r}: camera {tx.camera_id!r} is not one of your cameras")
    save_transactions(session, transactions, source=source)
    return transactions


def get_transaction(session: Session, transaction_id: str) -> PosTransaction | None:
    """The stored transaction with this id, or `None`."""
    return session.get(PosTransaction, transaction_id)


def _filters(terminal_id: str | None, camera_id: str | None, zone: str | None, since_s: float | None,
             until_s: float | None) -> list[Any]:  # fmt: skip
    conditions = []
    if terminal_id is not None:
        conditions.append(col(PosTransaction.terminal_id) == terminal_id)
    if camera_id is not None:
        conditions.append(col(PosTransaction.camera_id) == camera_id)
    if zone is not None:
        conditions.append(col(PosTransaction.zone) == zone)
    if since_s is not None:
        conditions.append(col(PosTransaction.t_end_s) >= since_s)
    if until_s is not None:
        conditions.append(col(PosTransaction.t_start_s) <= until_s)
    return conditions


def list_transactions(
    session: Session,
    *,
    terminal_id: str | None = None,
    camera_id: str | None = None,
    zone: str | None = None,
    since_s: float | None = None,
    until_s: float | None = None,
    limit: int = 100,
    offset: int = 0,
    scope: CameraScope | None = None,
) -> tuple[list[PosTransaction], int]:
    """Stored transactions matching every given filter, newest start first.

    Args:
        session: open session.
        terminal_id: only this till's.
        camera_id: only those watched by this camera.
        zone: only those in this checkout zone.
        since_s: only those ending at or after this time (epoch seconds).
        until_s: only those starting at or before this time (epoch seconds).
        limit: page size.
        offset: rows to skip.
        scope: only those of cameras this scope sees (`None`: all).

    Returns:
        `(transactions, total)`: the page and the number matching in all.
    """
    conditions = _filters(terminal_id, camera_id, zone, since_s, until_s)
    if scope is not None:
        conditions.append(scope.camera_clause(PosTransaction.camera_id))
    total = session.exec(select(func.count()).select_from(PosTransaction).where(*conditions)).one()
    stmt = (select(PosTransaction).where(*conditions)
            .order_by(col(PosTransaction.t_start_s).desc(), col(PosTransaction.id).desc()).offset(offset).limit(limit))
    return list(session.exec(stmt).all()), total


def transactions_between(session: Session, t0_s: float, t1_s: float, *, camera_id: str | None = None,
                         zone: str | None = None) -> list[Transaction]:  # fmt: skip
    """Stored transactions whose `[t_start_s, t_end_s]` overlaps `[t0_s, t1_s]`, oldest first.

    Args:
        session: open session.
        t0_s: window start, epoch seconds.
        t1_s: window end, epoch seconds (≥ `t0_s`).
        camera_id: only those watched by this camera.
        zone: only those in this checkout zone.

    Returns:
        Domain transactions, with `camera_id` and `zone` as stored.

    Raises:
        ValueError: `t1_s` < `t0_s`.
    """
    if t1_s < t0_s:
        raise ValueError(f"t1_s ({t1_s}) must be >= t0_s ({t0_s})")
    conditions = _filters(None, camera_id, zone, t0_s, t1_s)
    stmt = select(PosTransaction).where(*conditions).order_by(col(PosTransaction.t_start_s), col(PosTransaction.id))
    return [to_transaction(r) for r in session.exec(stmt).all()]
