from contextlib import ExitStack as DoesNotRaise
from decimal import Decimal

import pytest
from pydantic import ValidationError

from domain.pos import (
    Catalog, NoOpenSessionError, PosFileError, PosSession, Product, SessionStatus, UnknownSkuError,
    parse_transactions_csv, parse_transactions_json,
)

HEADER = "transaction_id,terminal_id,time,sku,quantity,unit_price,payment_method\n"


def test_default_catalog() -> None:
    catalog = Catalog.default()
    assert len(catalog) == 10
    assert catalog.get("CHOC001") == Product(sku="CHOC001", name="Chocolate Bar", price=Decimal("2.99"))
    assert catalog.get("SAND001").price == Decimal("5.99")


@pytest.mark.parametrize(
    ("edit", "expected", "exception"),
    [
        (lambda c: c.update("CHOC001"), "2.99", DoesNotRaise()),  # empty edit keeps the product
        (lambda c: c.update("CHOC001", price="3.19"), "3.19", DoesNotRaise()),  # new price
        (lambda c: c.update("CHOC001", price="0"), "greater than 0", pytest.raises(ValidationError)),  # price 0
        (lambda c: c.update("CHOC001", price="-1.00"), "greater than 0", pytest.raises(ValidationError)),  # < 0
        (lambda c: c.update("CHOC001", price="2.999"), "decimal places", pytest.raises(ValidationError)),  # 3 dp
        (lambda c: c.update("CHOC001", name=""), "at least 1 character", pytest.raises(ValidationError)),  # name
        (lambda c: c.update("NOPE001", price="1.00"), "unknown SKU 'NOPE001'", pytest.raises(UnknownSkuError)),
        (lambda c: c.add(Product(sku="choc-1", name="x", price=1)), "should match pattern",
         pytest.raises(ValidationError)),  # lower-case SKU
        (lambda c: c.add(Product(sku="CHOC001", name="x", price=1)), "already in the catalog",
         pytest.raises(ValueError)),  # duplicate SKU
        (lambda c: c.remove("XXX999"), "unknown SKU 'XXX999'", pytest.raises(UnknownSkuError)),  # unknown remove
    ],
)
def test_catalog_edits(edit, expected, exception) -> None:
    catalog = Catalog.default()
    with exception as info:
        edit(catalog)
    if isinstance(exception, DoesNotRaise):
        assert str(catalog.get("CHOC001").price) == expected
    else:
        assert expected in str(info.value)
        assert catalog.get("CHOC001").price == Decimal("2.99") and len(catalog) == 10  # nothing half-applied


def test_catalog_add_remove() -> None:
    catalog = Catalog.default()
    catalog.add(Product(sku="GUM001", name="Gum", price=0.99))
    assert catalog.get("GUM001").price == Decimal("0.99")
    assert catalog.remove("GUM001").name == "Gum" and "GUM001" not in catalog


def _open(*scans: tuple[str, int]) -> PosSession:
    session = PosSession(Catalog.default())
    session.start("till-1", 100.0, zone="checkout")
    for sku, qty in scans:
        session.scan(sku, qty)
    return session


@pytest.mark.parametrize(
    ("sku", "quantity", "expected", "exception"),
    [
        ("CHOC001", 1, None, DoesNotRaise()),  # a valid scan
        ("", 1, "unknown SKU ''", pytest.raises(UnknownSkuError)),  # empty SKU
        ("XXX001", 1, "unknown SKU 'XXX001'", pytest.raises(UnknownSkuError)),  # unknown SKU
        ("CHOC001", 0, "quantity must be > 0, but got 0", pytest.raises(ValueError)),  # zero
        ("CHOC001", -2, "quantity must be > 0, but got -2", pytest.raises(ValueError)),  # negative
        ("CHOC001", 1.5, "quantity must be an int, but got float", pytest.raises(TypeError)),  # fractional
    ],
)
def test_scan_errors_leave_session_unchanged(sku, quantity, expected, exception) -> None:
    session = _open(("SODA001", 2))
    with exception as info:
        session.scan(sku, quantity)
    if expected is not None:
        assert str(info.value) == expected
        assert [tuple(i) for i in session.items] == [("SODA001", 2, Decimal("1.99"))]  # nothing half-applied
        assert session.subtotal == Decimal("3.98")


@pytest.mark.parametrize(
    ("before", "call", "expected"),
    [
        (None, lambda s: s.scan("CHOC001"), "cannot scan: no open session on terminal 'None' (status idle)"),
        (lambda s: s.void(), lambda s: s.scan("CHOC001"),
         "cannot scan: no open session on terminal 'till-1' (status voided)"),  # scan after void
        (lambda s: s.complete("cash"), lambda s: s.scan("CHOC001"),
         "cannot scan: no open session on terminal 'till-1' (status completed)"),  # scan after complete
        (lambda s: s.void(), lambda s: s.complete("cash"), "cannot complete"),  # complete after void
        (lambda s: s.void(), lambda s: s.void(), "cannot void"),  # void twice
    ],
)
def test_closed_sessions_refuse(before, call, expected) -> None:
    """`before=None`: a session never started (the first row)."""
    session = PosSession(Catalog.default()) if before is None else _open(("CHOC001", 1))
    if before is not None:
        before(session)
    with pytest.raises(NoOpenSessionError) as info:
        call(session)
    assert str(info.value).startswith(expected)
    assert session.items == ()


def test_session_complete_and_restart() -> None:
    session = _open(("CHOC001", 2), ("ENRG001", 1), ("CHOC001", 1))
    with pytest.raises(ValueError, match="before the session start"):
        session.complete("card", t_s=50.0)
    with pytest.raises(ValueError, match="'bitcoin' is not a valid PaymentMethod"):
        session.complete("bitcoin")
    assert session.status is SessionStatus.OPEN  # the failed completions changed nothing
    tx = session.complete("card", t_s=160.0)
    assert [tuple(i) for i in tx.items] == [("CHOC001", 3, Decimal("2.99")), ("ENRG001", 1, Decimal("3.49"))]
    assert (tx.total, tx.payment_method.value, tx.t_start_s, tx.t_end_s, tx.zone) == (
        Decimal("12.46"), "card", 100.0, 160.0, "checkout")
    session.start("till-1", 200.0)  # the terminal's next customer
    with pytest.raises(ValueError, match="no items; void it instead"):
        session.complete("cash")
    with pytest.raises(RuntimeError, match="already has an open session"):
        session.start("till-1", 210.0)


@pytest.mark.parametrize(
    ("rows", "expected", "exception"),
    [
        ("", [], DoesNotRaise()),  # empty input: header only
        ("T1,till-1,2024-01-01T10:00:00Z,CHOC001,2,,card\nT2,till-2,1704103300,SODA001,1,1.50,cash\n"
         "T1,till-1,2024-01-01T10:00:30Z,CHIP001,1,,card\n",
         [("T1", "8.47", 1704103200.0, 1704103230.0), ("T2", "1.50", 1704103300.0, 1704103300.0)],
         DoesNotRaise()),  # rows grouped by transaction id; catalog and explicit prices
        ("T1,till-1,100,CHOC001,1,,card\nT1,till-1,101,XXX001,1,,card\n",
         "pos.csv:3: unknown SKU 'XXX001'", pytest.raises(PosFileError)),  # unknown SKU, line 3
        ("T1,till-1,100,CHOC001,-1,,card\n", "pos.csv:2: negative quantity -1 for SKU 'CHOC001'",
         pytest.raises(PosFileError)),  # negative quantity
        ("T1,till-1,100,CHOC001,two,,card\n", "pos.csv:2: quantity must be a whole number, but got 'two'",
         pytest.raises(PosFileError)),  # not a number
        ("T1,till-1,yesterday,CHOC001,1,,card\n",
         "pos.csv:2: bad time 'yesterday': expected ISO 8601 or epoch seconds", pytest.raises(PosFileError)),
        ("T1,till-1,100,CHOC001,1,-2.00,card\n", "pos.csv:2: unit_price must be > 0",
         pytest.raises(PosFileError)),  # negative price
        ("T1,till-1,100,CHOC001,1,,barter\n", "pos.csv:2: bad payment_method 'barter'",
         pytest.raises(PosFileError)),  # unknown payment method
        ("T1,till-1,100,CHOC001,1,,card\nT1,till-2,100,CHOC001,1,,card\n",
         "pos.csv:3: transaction 'T1' has terminal_id 'till-2' here but 'till-1' on line 2",
         pytest.raises(PosFileError)),  # inconsistent rows in one transaction
        ("T1,till-1,100,CHOC001,1,card\n", "pos.csv:2: expected 7 fields", pytest.raises(PosFileError)),
    ],
)
def test_parse_csv(rows, expected, exception) -> None:
    with exception as info:
        txs = parse_transactions_csv(HEADER + rows, "pos.csv")
    if isinstance(exception, DoesNotRaise):
        assert [(t.id, str(t.total), t.t_start_s, t.t_end_s) for t in txs] == expected
    else:
        assert str(info.value).startswith(expected), str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "pos.csv:1: the file is empty"),  # empty file
        ("transaction_id,time,sku\nT1,1,CHOC001\n", "pos.csv:1: missing column(s): terminal_id, quantity, "
         "payment_method"),  # missing columns
    ],
)
def test_parse_csv_file_errors(text, expected) -> None:
    with pytest.raises(PosFileError) as info:
        parse_transactions_csv(text, "pos.csv")
    assert str(info.value) == expected


def _tx(tx_id: str, items: str, time: str = "100") -> str:
    return f'{{"transaction_id": "{tx_id}", "terminal_id": "till-1", "time": {time}, ' \
           f'"payment_method": "cash", "items": [{items}]}}'


GOOD = '{"sku": "CHOC001", "quantity": 2}'
BAD_SKU = '{"sku": "XXX001", "quantity": 1}'
NEGATIVE = '{"sku": "CHOC001", "quantity": -3}'
SOON = '"soon"'
ISO = '"2024-01-01T10:00:00+00:00"'


@pytest.mark.parametrize(
    ("text", "expected", "exception"),
    [
        ("[]", [], DoesNotRaise()),  # empty input: no transactions
        (f"[\n  {_tx('T1', GOOD)},\n  {_tx('T2', GOOD, ISO)}\n]",
         [("T1", "5.98", 100.0), ("T2", "5.98", 1704103200.0)], DoesNotRaise()),  # list form, ISO time
        (f'{{"transactions": [\n{_tx("T1", GOOD)}]}}', [("T1", "5.98", 100.0)], DoesNotRaise()),  # object form
        ("", "pos.json:1: the file is empty", pytest.raises(PosFileError)),  # empty file
        ('[\n{"transaction_id": "T1",\n', "pos.json:3: invalid JSON", pytest.raises(PosFileError)),  # truncated
        ('{"a": 1}', "pos.json:1: expected a JSON list", pytest.raises(PosFileError)),  # wrong shape
        (f"[\n{_tx('T1', GOOD)},\n\n{_tx('T2', BAD_SKU)}\n]",
         "pos.json:4: transaction 'T2': unknown SKU 'XXX001'", pytest.raises(PosFileError)),  # unknown SKU
        (f"[\n{_tx('T1', NEGATIVE)}\n]",
         "pos.json:2: transaction 'T1': negative quantity -3", pytest.raises(PosFileError)),
        (f"[\n{_tx('T1', GOOD, SOON)}\n]", "pos.json:2: transaction 'T1': bad time 'soon'",
         pytest.raises(PosFileError)),  # bad time
        (f"[\n{_tx('T1', '')}\n]", "pos.json:2: transaction 'T1' must have a non-empty list of items",
         pytest.raises(PosFileError)),  # no items
        (f"[\n{_tx('T1', GOOD)},\n{_tx('T1', GOOD)}\n]", "pos.json:3: duplicate transaction_id 'T1'",
         pytest.raises(PosFileError)),  # duplicate id: the whole file is rejected
    ],
)
def test_parse_json(text, expected, exception) -> None:
    with exception as info:
        txs = parse_transactions_json(text, "pos.json")
    if isinstance(exception, DoesNotRaise):
        assert [(t.id, str(t.total), t.t_start_s) for t in txs] == expected
    else:
        assert str(info.value).startswith(expected), str(info.value)
        assert info.value.source == "pos.json"
