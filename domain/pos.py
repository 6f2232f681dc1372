"""Point of sale: the product catalog, per-terminal sessions, transactions and POS-file import.

Money is `Decimal` with 2 places. Times are seconds (`_s`) on whatever clock the source uses
(epoch seconds for imported files, stream seconds for a simulator); the cross-check only needs
the POS clock and the camera clock to agree.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "SKU_PATTERN", "Product", "Catalog", "UnknownSkuError", "NoOpenSessionError", "PaymentMethod",
    "LineItem", "Transaction", "SessionStatus", "PosSession", "PosFileError",
    "parse_transactions_json", "parse_transactions_csv",
]

SKU_PATTERN = r"^[A-Z0-9][A-Z0-9_-]{2,31}$"  # upper-case letters, digits, '_' and '-'; 3–32 chars
CENT = Decimal("0.01")
_TX_NAMESPACE = uuid.UUID("2b0c7e4e-9a61-4d1f-8f0e-3c5a7d9e1b42")


class UnknownSkuError(ValueError):
    """A SKU that is not in the catalog (API: 404 / 422)."""

    def __init__(self, sku: str) -> None:
        self.sku = sku
        super().__init__(f"unknown SKU '{sku}'")


class NoOpenSessionError(RuntimeError):
    """A scan, completion or void on a terminal with no open session (API: 409)."""


class Product(BaseModel):
    """One product the store sells."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sku: str = Field(pattern=SKU_PATTERN, title="SKU", description="Stock-keeping unit, e.g. `CHOC001`.")
    name: str = Field(min_length=1, title="Name", description="Display name, used in explanations.")
    price: Decimal = Field(gt=0, decimal_places=2, title="Price", description="Unit price, > 0, 2 places.")


_DEFAULT_PRODUCTS = [
    ("CHOC001", "Chocolate Bar", "2.99"), ("ENRG001", "Energy Drink", "3.49"),
    ("CHIP001", "Potato Chips", "2.49"), ("SODA001", "Soda Can", "1.99"),
    ("CAND001", "Candy Pack", "1.49"), ("JRKY001", "Beef Jerky", "5.99"),
    ("WTRL001", "Water Bottle", "1.29"), ("COOK001", "Cookies", "3.99"),
    ("NUTS001", "Mixed Nuts", "4.49"), ("SAND001", "Sandwich", "5.99"),
]


class Catalog:
    """An editable set of products keyed by SKU; every edit is validated before it applies.

    Example:
        >>> Catalog.default().get("CHOC001").price
        Decimal('2.99')
    """

    def __init__(self, products: list[Product] | None = None) -> None:
        self._products: dict[str, Product] = {}
        for product in products or []:
            self.add(product)

    @classmethod
    def default(cls) -> Catalog:
        """The ten demo products (CHOC001 Chocolate Bar 2.99 ... SAND001 Sandwich 5.99)."""
        return cls([Product(sku=s, name=n, price=Decimal(p)) for s, n, p in _DEFAULT_PRODUCTS])

    def __len__(self) -> int:
        return len(self._products)

    def __contains__(self, sku: object) -> bool:
        return sku in self._products

    def __iter__(self) -> Iterator[Product]:
        return iter(self._products.values())

    def get(self, sku: str) -> Product:
        """The product for `sku`. Raises: UnknownSkuError: not in the catalog."""
        if sku not in self._products:
            raise UnknownSkuError(sku)
        return self._products[sku]

    def add(self, product: Product) -> None:
        """Add a product. Raises: ValueError: the SKU is already in the catalog."""
        if product.sku in self._products:
            raise ValueError(f"SKU '{product.sku}' is already in the catalog")
        self._products[product.sku] = product

    def update(self, sku: str, *, name: str | None = None, price: Decimal | str | None = None) -> Product:
        """Change a product's name and/or price; returns the new product.

        Raises:
            UnknownSkuError: `sku` is not in the catalog.
            pydantic.ValidationError: (a `ValueError`) empty name, price ≤ 0 or more than 2 places.
        """
        old = self.get(sku)
        new = Product(sku=sku, name=old.name if name is None else name, price=old.price if price is None else price)
        self._products[sku] = new
        return new

    def remove(self, sku: str) -> Product:
        """Remove and return a product. Raises: UnknownSkuError: not in the catalog."""
        product = self.get(sku)
        del self._products[sku]
        return product


class PaymentMethod(str, Enum):
    """How a transaction was paid."""

    CASH = "cash"
    CARD = "card"
    MOBILE = "mobile"
    OTHER = "other"


class LineItem(NamedTuple):
    """One billed line: `quantity` units of `sku` at `unit_price` each."""

    sku: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True)
class Transaction:
    """A completed sale.

    Attributes:
        id: transaction id (unique per source).
        terminal_id: the till it was rung up on.
        items: billed lines, one per SKU.
        total: sum of quantity × unit price, 2 places.
        payment_method: how it was paid.
        t_start_s: seconds (POS clock) of the first scan / session start.
        t_end_s: seconds of completion (≥ `t_start_s`).
        camera_id: camera watching the till, if known.
        zone: the checkout zone (site-file name) of the till, if known.
    """

    id: str
    terminal_id: str
    items: tuple[LineItem, ...]
    total: Decimal
    payment_method: PaymentMethod
    t_start_s: float
    t_end_s: float
    camera_id: str | None = None
    zone: str | None = None


def _total(items: list[LineItem] | tuple[LineItem, ...]) -> Decimal:
    return sum((i.unit_price * i.quantity for i in items), Decimal("0")).quantize(CENT)


def _merge(items: list[LineItem], item: LineItem) -> list[LineItem]:
    """`items` plus `item`, summing the quantity into an existing line for the same SKU and price."""
    for k, old in enumerate(items):
        if old.sku == item.sku and old.unit_price == item.unit_price:
            return [*items[:k], old._replace(quantity=old.quantity + item.quantity), *items[k + 1:]]
    return [*items, item]


class SessionStatus(str, Enum):
    """Where a terminal's session is."""

    IDLE = "idle"  # nothing started yet
    OPEN = "open"
    COMPLETED = "completed"
    VOIDED = "voided"


class PosSession:
    """One terminal's till: `start` → `scan`* → `complete` | `void`, then `start` again.

    Every method validates before it changes anything, so a failed call leaves the session as
    it was. Scans use the catalog's price at scan time.

    Example:
        >>> s = PosSession(Catalog.default())
        >>> s.start("till-1", 100.0)
        >>> s.scan("CHOC001", 2).unit_price
        Decimal('2.99')
        >>> s.complete("card", t_s=130.0).total
        Decimal('5.98')
    """

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.status = SessionStatus.IDLE
        self.terminal_id: str | None = None
        self.t_start_s: float | None = None
        self.camera_id: str | None = None
        self.zone: str | None = None
        self._items: list[LineItem] = []

    @property
    def items(self) -> tuple[LineItem, ...]:
        """Lines scanned so far in the open session."""
        return tuple(self._items)

    @property
    def subtotal(self) -> Decimal:
        """Running total of the open session, 2 places."""
        return _total(self._items)

    def _require_open(self, what: str) -> None:
        if self.status is not SessionStatus.OPEN:
            raise NoOpenSessionError(f"cannot {what}: no open session on terminal '{self.terminal_id}' "
                                     f"(status {self.status.value})")

    def start(self, terminal_id: str, t_s: float, *, camera_id: str | None = None, zone: str | None = None) -> None:
        """Open a session at `t_s` seconds.

        Raises:
            RuntimeError: a session is already open (complete or void it first).
            ValueError: empty `terminal_id`.
        """
        if self.status is SessionStatus.OPEN:
            raise RuntimeError(f"terminal '{self.terminal_id}' already has an open session")
        if not terminal_id:
            raise ValueError("terminal_id must not be empty")
        self.terminal_id, self.t_start_s, self.camera_id, self.zone = terminal_id, float(t_s), camera_id, zone
        self._items = []
        self.status = SessionStatus.OPEN

    def scan(self, sku: str, quantity: int = 1) -> LineItem:
        """Add `quantity` units of `sku`; returns the scanned line.

        Raises:
            NoOpenSessionError: no open session (never started, completed or voided).
            UnknownSkuError: `sku` is not in the catalog.
            ValueError: `quantity` ≤ 0. TypeError: `quantity` is not an int.
        """
        self._require_open("scan")
        if not isinstance(quantity, int) or isinstance(quantity, bool):
            raise TypeError(f"quantity must be an int, but got {type(quantity).__name__}")
        if quantity <= 0:
            raise ValueError(f"quantity must be > 0, but got {quantity}")
        item = LineItem(sku, quantity, self.catalog.get(sku).price)
        self._items = _merge(self._items, item)
        return item

    def complete(self, payment_method: PaymentMethod | str, *, t_s: float | None = None) -> Transaction:
        """Close the session as a sale paid by `payment_method` at `t_s` (default: the start time).

        Raises:
            NoOpenSessionError: no open session.
            ValueError: no items scanned, unknown payment method, or `t_s` before the start.
        """
        self._require_open("complete")
        assert self.terminal_id is not None and self.t_start_s is not None
        if not self._items:
            raise ValueError("cannot complete a session with no items; void it instead")
        method = PaymentMethod(payment_method)
        t_end_s = self.t_start_s if t_s is None else float(t_s)
        if t_end_s < self.t_start_s:
            raise ValueError(f"t_s ({t_end_s}) is before the session start ({self.t_start_s})")
        tx_id = str(uuid.uuid5(_TX_NAMESPACE, f"{self.terminal_id}|{self.t_start_s!r}"))
        tx = Transaction(tx_id, self.terminal_id, tuple(self._items), self.subtotal, method,
                         self.t_start_s, t_end_s, self.camera_id, self.zone)
        self.status, self._items = SessionStatus.COMPLETED, []
        return tx

    def void(self) -> None:
        """Cancel the open session; nothing is billed. Raises: NoOpenSessionError: none open."""
        self._require_open("void")
        self.status, self._items = SessionStatus.VOIDED, []


class PosFileError(ValueError):
    """A POS file that cannot be imported; `str()` is `source:line: problem`.

    Attributes:
        source: file name (for messages). line: 1-based line of the problem. problem: what is wrong.
    """

    def __init__(self, source: str, line: int, problem: str) -> None:
        self.source, self.line, self.problem = source, line, problem
        super().__init__(f"{source}:{line}: {problem}")


def _time_s(value: Any) -> float:
    """Seconds from epoch seconds (number or numeric string) or ISO 8601 (naive = UTC)."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"bad time {value!r}: expected ISO 8601 or epoch seconds")
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(f"bad time {value!r}: expected ISO 8601 or epoch seconds") from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp()


def _line_item(sku: Any, quantity: Any, unit_price: Any, catalog: Catalog) -> LineItem:
    """A validated line; `unit_price` `None`/"" means the catalog price. Raises: ValueError."""
    product = catalog.get(str(sku))  # UnknownSkuError is a ValueError
    try:
        qty = int(str(quantity).strip()) if not isinstance(quantity, bool) else None
    except ValueError:
        qty = None
    if qty is None or (isinstance(quantity, float) and quantity != qty):
        raise ValueError(f"quantity must be a whole number, but got {quantity!r}")
    if qty < 0:
        raise ValueError(f"negative quantity {qty} for SKU '{sku}'")
    if qty == 0:
        raise ValueError(f"quantity must be > 0 for SKU '{sku}'")
    if unit_price is None or unit_price == "":
        return LineItem(product.sku, qty, product.price)
    try:
        price = Decimal(str(unit_price).strip())
    except InvalidOperation:
        raise ValueError(f"bad unit_price {unit_price!r}") from None
    if not price.is_finite() or price <= 0 or price != price.quantize(CENT):
        raise ValueError(f"unit_price must be > 0 with at most 2 decimal places, but got {unit_price!r}")
    return LineItem(product.sku, qty, price.quantize(CENT))


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _json_array_elements(text: str, start: int) -> list[tuple[Any, int]]:
    """Each element of the JSON array whose `[` is at `start`, with its 1-based start line."""
    decoder, out, pos = json.JSONDecoder(), [], start + 1
    ws = re.compile(r"[\s,]*")
    while True:
        pos = ws.match(text, pos).end()
        if text[pos] == "]":
            return out
        value, end = decoder.raw_decode(text, pos)
        out.append((value, _line_of(text, pos)))
        pos = end


def _method(row: dict[str, Any]) -> PaymentMethod:
    value = str(row.get("payment_method") or "").strip().lower()
    if value not in {m.value for m in PaymentMethod}:
        raise ValueError(f"bad payment_method {row.get('payment_method')!r}: expected one of "
                         + ", ".join(m.value for m in PaymentMethod))
    return PaymentMethod(value)


def _build(rows: list[tuple[int, dict[str, Any]]], tx_id: str, catalog: Catalog, source: str) -> Transaction:
    """One transaction from its item rows `(line, row)`; the first row carries the header fields."""
    first_line, first = rows[0]
    if not first.get("terminal_id"):
        raise PosFileError(source, first_line, f"transaction '{tx_id}' has no terminal_id")
    try:
        _method(first)
    except ValueError as err:
        raise PosFileError(source, first_line, str(err)) from None
    times, items = [], []
    for line, row in rows:
        try:
            for key in ("terminal_id", "payment_method"):
                if row.get(key) != first.get(key):
                    raise ValueError(f"transaction '{tx_id}' has {key} {row.get(key)!r} here but "
                                     f"{first.get(key)!r} on line {first_line}")
            times.append(_time_s(row.get("time")))
            items = _merge(items, _line_item(row.get("sku"), row.get("quantity"), row.get("unit_price"), catalog))
        except ValueError as err:
            raise PosFileError(source, line, str(err)) from None
    return Transaction(tx_id, str(first["terminal_id"]), tuple(items), _total(items), _method(first), min(times),
                       max(times), first.get("camera_id") or None, first.get("zone") or None)


def parse_transactions_json(text: str, source: str = "<pos>", catalog: Catalog | None = None) -> list[Transaction]:
    """Transactions from JSON: a list (or `{"transactions": [...]}`) of objects.

    Each object: `transaction_id`, `terminal_id`, `time` (ISO 8601 or epoch seconds; or
    `t_start` / `t_end`), `payment_method`, optional `camera_id` / `zone`, and `items`: a list of
    `{sku, quantity, unit_price?}` (a missing `unit_price` takes the catalog price). Item problems
    are reported on the line where their transaction begins.

    Args:
        text: file contents. source: file name for messages. catalog: default `Catalog.default()`.

    Returns:
        The transactions in file order; all or nothing.

    Raises:
        PosFileError: invalid JSON, wrong shape, duplicate id, unknown SKU, bad quantity, price or time.
    """
    catalog = catalog or Catalog.default()
    if not text.strip():
        raise PosFileError(source, 1, "the file is empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise PosFileError(source, err.lineno, f"invalid JSON: {err.msg}") from None
    if isinstance(data, dict) and isinstance(data.get("transactions"), list):
        key = re.search(r'"transactions"\s*:\s*\[', text)
        start = key.end() - 1 if key else text.index("[")
    elif isinstance(data, list):
        start = text.index("[")
    else:
        raise PosFileError(source, 1, 'expected a JSON list of transactions or {"transactions": [...]}')
    out: list[Transaction] = []
    for obj, line in _json_array_elements(text, start):
        if not isinstance(obj, dict) or not obj.get("transaction_id"):
            raise PosFileError(source, line, "each transaction must be an object with a transaction_id")
        tx_id = str(obj["transaction_id"])
        items = obj.get("items")
        if not isinstance(items, list) or not items:
            raise PosFileError(source, line, f"transaction '{tx_id}' must have a non-empty list of items")
        head = {k: obj.get(k) for k in ("terminal_id", "payment_method", "camera_id", "zone")}
        if not all(isinstance(item, dict) for item in items):
            raise PosFileError(source, line, f"transaction '{tx_id}': each item must be an object")
        try:
            t0, t1 = _time_s(obj.get("t_start", obj.get("time"))), _time_s(obj.get("t_end", obj.get("time")))
            tx = _build([(line, {**head, "time": t0, **item}) for item in items], tx_id, catalog, source)
        except (PosFileError, ValueError) as err:
            problem = err.problem if isinstance(err, PosFileError) else str(err)
            raise PosFileError(source, line, f"transaction '{tx_id}': {problem}") from None
        tx = Transaction(**{**tx.__dict__, "t_start_s": t0, "t_end_s": t1})
        if tx.t_end_s < tx.t_start_s:
            raise PosFileError(source, line, f"transaction '{tx_id}': t_end is before t_start")
        if any(t.id == tx_id for t in out):
            raise PosFileError(source, line, f"duplicate transaction_id '{tx_id}'")
        out.append(tx)
    return out


CSV_COLUMNS = ("transaction_id", "terminal_id", "time", "sku", "quantity", "payment_method")


def parse_transactions_csv(text: str, source: str = "<pos>", catalog: Catalog | None = None) -> list[Transaction]:
    """Transactions from CSV, one row per item, rows grouped by `transaction_id`.

    Columns: `transaction_id, terminal_id, time, sku, quantity, payment_method` (required),
    `unit_price` (optional; empty = catalog price), `camera_id`, `zone` (optional). `time` is
    ISO 8601 (naive = UTC) or epoch seconds; a transaction spans its rows' earliest to latest time.

    Args:
        text: file contents. source: file name for messages. catalog: default `Catalog.default()`.

    Returns:
        The transactions in order of first appearance; all or nothing.

    Raises:
        PosFileError: empty file, missing column, unknown SKU, bad quantity, price, time or
            payment method, or rows of one transaction that disagree (line = the CSV line).
    """
    catalog = catalog or Catalog.default()
    if not text.strip():
        raise PosFileError(source, 1, "the file is empty")
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise PosFileError(source, 1, f"missing column(s): {', '.join(missing)}")
    groups: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for row in reader:
        if None in row or any(v is None for v in row.values()):
            raise PosFileError(source, reader.line_num, f"expected {len(reader.fieldnames or [])} fields")
        row = {k: v.strip() for k, v in row.items()}
        if not row["transaction_id"]:
            raise PosFileError(source, reader.line_num, "empty transaction_id")
        groups.setdefault(row["transaction_id"], []).append((reader.line_num, row))
    return [_build(rows, tx_id, catalog, source) for tx_id, rows in groups.items()]
