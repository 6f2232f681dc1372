"""POS storage: seeded catalog, edits, terminal links, till sessions (nothing half-applied), transactions and import."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from domain.pos import Catalog, LineItem, NoOpenSessionError, PaymentMethod, PosFileError, Transaction, UnknownSkuError
from domain.site import CameraConfig, ZoneConfig
from storage import crud, pos
from storage.crud import InUseError, NotFoundError
from storage.db import make_engine, migrate
from storage.models import CameraCreate, PosSessionRow, PosTransaction, SiteCreate
from tests.conftest import fresh_pg_schema

SQUARE = [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.1, 0.5]]
CSV = """transaction_id,terminal_id,time,sku,quantity,payment_method,unit_price,camera_id,zone
t-1,till-1,100,CHOC001,2,card,,,
t-1,till-1,130,SODA001,1,card,,,
t-2,till-2,200,SAND001,1,cash,5.00,shop.cam2,checkout-2
t-3,till-1,400,WTRL001,3,mobile,,,
"""


def seed_catalog(session: Session) -> None:
    """Test data: the default ten products (the PostgreSQL fixture empties every table)."""
    for product in Catalog.default():
        if pos.get_product(session, product.sku) is None:
            pos.add_product(session, sku=product.sku, name=product.name, price=product.price)


def create_checkout_camera(session: Session) -> str:
    """Test data: camera `shop.till-cam` with a checkout zone `checkout-1` and a shelf zone `shelf-a`."""
    site = crud.create_site(session, SiteCreate(name="shop"))
    config = CameraConfig(zones={"checkout-1": ZoneConfig(kind="checkout", polygon=SQUARE),
                                 "shelf-a": ZoneConfig(kind="shelf", polygon=SQUARE, skus=["CHOC001"])})  # fmt: skip
    return crud.create_camera(session, CameraCreate(site_id=site.id, key="till-cam", config=config)).id


def make_transaction(tx_id: str, t_start_s: float, t_end_s: float, **fields: object) -> Transaction:
    """A domain transaction of one chocolate bar."""
    values: dict = {"terminal_id": "till-9", "items": (LineItem("CHOC001", 1, Decimal("2.99")),),
                    "total": Decimal("2.99"), "payment_method": PaymentMethod.CASH} | fields  # fmt: skip
    return Transaction(tx_id, t_start_s=t_start_s, t_end_s=t_end_s, **values)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_seeds_default_catalog(backend: str, tmp_path) -> None:  # noqa: ANN001
    def check(engine: Engine) -> None:
        migrate(engine)
        with Session(engine) as s:
            catalog = pos.load_catalog(s)
            assert [(p.sku, p.name, p.price) for p in catalog] == sorted(
                (p.sku, p.name, p.price) for p in Catalog.default())
            assert catalog.get("CHOC001").price == Decimal("2.99")
            for product in list(catalog):
                pos.delete_product(s, product.sku)
        migrate(engine)  # already at head: an emptied catalog stays empty
        with Session(engine) as s:
            assert len(pos.load_catalog(s)) == 0
        engine.dispose()

    if backend == "sqlite":
        check(make_engine(f"sqlite:///{tmp_path / 'w.db'}"))
    else:
        with fresh_pg_schema() as url:
            check(make_engine(url))


def test_catalog_edits(db_engine: Engine) -> None:
    with Session(db_engine) as s:
        seed_catalog(s)
        row = pos.add_product(s, sku="GUM001", name="Gum", price="0.99")
        assert (row.sku, row.price) == ("GUM001", Decimal("0.99"))
        with pytest.raises(pos.DuplicateSkuError, match="GUM001"):
            pos.add_product(s, sku="GUM001", name="Other", price="1.00")
        with pytest.raises(ValueError, match="price"):
            pos.add_product(s, sku="BAD001", name="Bad", price="1.999")
        with pytest.raises(ValueError, match="sku"):
            pos.add_product(s, sku="x", name="Bad", price="1.00")
        assert pos.update_product(s, "GUM001", price="1.25").price == Decimal("1.25")
        with pytest.raises(ValueError, match="price"):
            pos.update_product(s, "GUM001", price="-1")
        with pytest.raises(ValueError, match="name"):
            pos.update_product(s, "GUM001", name="")
        assert pos.get_product(s, "GUM001").name == "Gum" and pos.get_product(s, "GUM001").price == Decimal("1.25")
        with pytest.raises(NotFoundError):
            pos.update_product(s, "NOPE001", name="x")
        rows, count = pos.list_products(s, limit=3, offset=1)
        assert count == 11 and [r.sku for r in rows] == ["CHIP001", "CHOC001", "COOK001"]
        pos.delete_product(s, "GUM001")
        with pytest.raises(NotFoundError):
            pos.delete_product(s, "GUM001")
        assert "GUM001" not in pos.load_catalog(s) and len(pos.load_catalog(s)) == 10


def test_terminal_links(db_engine: Engine) -> None:
    with Session(db_engine) as s:
        camera_id = create_checkout_camera(s)
        terminal, created = pos.put_terminal(s, "till-1", camera_id=camera_id, zone="checkout-1")
        assert created and (terminal.camera_id, terminal.zone) == ("shop.till-cam", "checkout-1")
        with pytest.raises(ValueError, match="has no zone 'nowhere'"):
            pos.put_terminal(s, "till-1", camera_id=camera_id, zone="nowhere")
        with pytest.raises(ValueError, match="shelf zone, not a checkout zone"):
            pos.put_terminal(s, "till-1", camera_id=camera_id, zone="shelf-a")
        with pytest.raises(ValueError, match="camera_id must be"):
            pos.put_terminal(s, "till-1", camera_id="no-dot")
        with pytest.raises(ValueError, match="terminal_id must be"):
            pos.put_terminal(s, "till 1")
        assert pos.get_terminal(s, "till-1").zone == "checkout-1"  # refused edits changed nothing
        _, created = pos.put_terminal(s, "till-2", camera_id="other.cam", zone="any-zone")  # camera not stored yet
        assert created
        _, created = pos.put_terminal(s, "till-2")  # unlink
        assert not created and pos.get_terminal(s, "till-2").camera_id is None
        assert [t.id for t in pos.list_terminals(s)[0]] == ["till-1", "till-2"]

        session_row = pos.start_session(s, "till-1", t_s=100.0)
        assert (session_row.camera_id, session_row.zone) == ("shop.till-cam", "checkout-1")  # inherited
        with pytest.raises(InUseError, match="open session"):
            pos.delete_terminal(s, "till-1")
        pos.void_session(s, "till-1")
        pos.delete_terminal(s, "till-1")
        assert pos.get_terminal(s, "till-1") is None
        with pytest.raises(NotFoundError):
            pos.delete_terminal(s, "till-1")


def test_session_flow_and_refusals(db_engine: Engine) -> None:
    with Session(db_engine) as s:
        seed_catalog(s)
        pos.put_terminal(s, "till-1", camera_id="shop.cam1", zone="checkout-1")
        with pytest.raises(NoOpenSessionError):
            pos.scan_item(s, "till-1", "CHOC001")
        opened = pos.start_session(s, "till-1", t_s=100.0)
        assert opened.t_start_s == 100.0 and opened.items == []
        with pytest.raises(pos.SessionAlreadyOpenError, match="till-1"):
            pos.start_session(s, "till-1", t_s=101.0)
        with pytest.raises(ValueError, match="cannot complete a session with no items"):
            pos.complete_session(s, "till-1", "card", t_s=110.0)
        pos.scan_item(s, "till-1", "CHOC001", 2)
        with pytest.raises(UnknownSkuError, match="NOPE001"):
            pos.scan_item(s, "till-1", "NOPE001")
        with pytest.raises(ValueError, match="quantity must be > 0"):
            pos.scan_item(s, "till-1", "SODA001", 0)
        pos.update_product(s, "CHOC001", price="3.50")  # later scans use the new price
        pos.scan_item(s, "till-1", "CHOC001", 1)
        row = pos.scan_item(s, "till-1", "CHOC001", 1)
        assert pos.line_items(row.items) == (LineItem("CHOC001", 2, Decimal("2.99")), LineItem("CHOC001", 2, Decimal("3.50")))
        assert pos.session_subtotal(row) == Decimal("12.98")
        with pytest.raises(ValueError, match="before the session start"):
            pos.complete_session(s, "till-1", "card", t_s=50.0)
        with pytest.raises(ValueError, match="'bitcoin' is not a valid PaymentMethod"):
            pos.complete_session(s, "till-1", "bitcoin", t_s=130.0)

        tx = pos.complete_session(s, "till-1", "card", t_s=130.0)
        assert (tx.total, tx.payment_method, tx.t_start_s, tx.t_end_s) == (Decimal("12.98"), PaymentMethod.CARD, 100.0, 130.0)
        assert (tx.terminal_id, tx.camera_id, tx.zone, tx.source) == ("till-1", "shop.cam1", "checkout-1", "session")
        done = s.get(PosSessionRow, opened.id)
        s.refresh(done)
        assert done.status.value == "completed" and done.transaction_id == tx.id and done.t_end_s == 130.0
        assert pos.get_open_session(s, "till-1") is None
        for call in (lambda: pos.scan_item(s, "till-1", "CHOC001"), lambda: pos.complete_session(s, "till-1", "cash"),
                     lambda: pos.void_session(s, "till-1")):  # fmt: skip
            with pytest.raises(NoOpenSessionError, match="no open session on terminal 'till-1'"):
                call()

        pos.start_session(s, "till-1", t_s=200.0)
        pos.scan_item(s, "till-1", "SAND001")
        voided = pos.void_session(s, "till-1", t_s=210.0)
        assert voided.status.value == "voided" and voided.items == []
        assert pos.list_transactions(s)[1] == 1  # a void bills nothing


def test_complete_with_duplicate_id_changes_nothing(db_engine: Engine) -> None:
    with Session(db_engine) as s:
        seed_catalog(s)
        pos.start_session(s, "till-1", t_s=100.0)
        pos.scan_item(s, "till-1", "CHOC001")
        first = pos.complete_session(s, "till-1", "cash", t_s=101.0)
        pos.start_session(s, "till-1", t_s=100.0)  # same terminal and start: the same transaction id
        pos.scan_item(s, "till-1", "SODA001")
        with pytest.raises(pos.DuplicateTransactionError, match=first.id):
            pos.complete_session(s, "till-1", "cash", t_s=102.0)
        still_open = pos.get_open_session(s, "till-1")
        assert still_open is not None and pos.line_items(still_open.items)[0].sku == "SODA001"
        assert pos.list_transactions(s)[1] == 1


def test_one_open_session_per_terminal_is_enforced_by_the_database(db_engine: Engine) -> None:
    with Session(db_engine) as s:
        s.add(PosSessionRow(terminal_id="till-1", t_start_s=1.0))
        s.commit()
        s.add(PosSessionRow(terminal_id="till-1", t_start_s=2.0, status="voided"))
        s.commit()  # closed sessions do not count
        s.add(PosSessionRow(terminal_id="till-1", t_start_s=3.0))
        with pytest.raises(IntegrityError):
            s.commit()


def test_import_save_and_query(db_engine: Engine) -> None:
    with Session(db_engine) as s:
        seed_catalog(s)
        pos.put_terminal(s, "till-1", camera_id="shop.cam1", zone="checkout-1")
        stored = pos.import_transactions(s, CSV, source="day.csv", fmt="csv")
        assert [t.id for t in stored] == ["t-1", "t-2", "t-3"]
        t1 = pos.get_transaction(s, "t-1")
        assert t1.total == Decimal("7.97") and (t1.t_start_s, t1.t_end_s) == (100.0, 130.0) and t1.source == "day.csv"
        assert (t1.camera_id, t1.zone) == ("shop.cam1", "checkout-1")  # from the terminal's link
        t2 = pos.get_transaction(s, "t-2")
        assert (t2.camera_id, t2.zone, t2.total) == ("shop.cam2", "checkout-2", Decimal("5.00"))  # the file's own

        # transactions_between: overlap of [t_start_s, t_end_s] with the window, as domain objects
        got = pos.transactions_between(s, 120.0, 200.0)
        assert [t.id for t in got] == ["t-1", "t-2"]
        assert got[0] == Transaction("t-1", "till-1", (LineItem("CHOC001", 2, Decimal("2.99")),
                                                       LineItem("SODA001", 1, Decimal("1.99"))),
                                     Decimal("7.97"), PaymentMethod.CARD, 100.0, 130.0, "shop.cam1", "checkout-1")  # fmt: skip
        assert [t.id for t in pos.transactions_between(s, 0.0, 1e9, camera_id="shop.cam1")] == ["t-1", "t-3"]
        assert [t.id for t in pos.transactions_between(s, 0.0, 1e9, zone="checkout-2")] == ["t-2"]
        assert pos.transactions_between(s, 131.0, 199.0) == []
        with pytest.raises(ValueError, match="t1_s"):
            pos.transactions_between(s, 2.0, 1.0)

        rows, count = pos.list_transactions(s, terminal_id="till-1")
        assert count == 2 and [r.id for r in rows] == ["t-3", "t-1"]  # newest first
        rows, count = pos.list_transactions(s, since_s=150.0, limit=1)
        assert count == 2 and [r.id for r in rows] == ["t-3"]
        assert pos.list_transactions(s, until_s=150.0)[1] == 1

        # duplicates with stored ids: refused whole, naming them
        again = CSV.replace("t-3", "t-4")
        with pytest.raises(pos.DuplicateTransactionError, match="'t-1', 't-2'") as info:
            pos.import_transactions(s, again, source="again.csv", fmt="csv")
        assert info.value.ids == ["t-1", "t-2"] and pos.get_transaction(s, "t-4") is None
        with pytest.raises(PosFileError, match=r"bad\.csv:2: unknown SKU 'NOPE001'"):
            pos.import_transactions(s, CSV.replace("t-1,till-1,100,CHOC001", "t-9,till-1,100,NOPE001"),
                                    source="bad.csv", fmt="csv")  # fmt: skip
        assert pos.list_transactions(s)[1] == 3


def test_save_transactions_all_or_nothing(db_engine: Engine) -> None:
    with Session(db_engine) as s:
        assert pos.save_transactions(s, [make_transaction("a", 1.0, 2.0)], source="api") == 1
        batch = [make_transaction("b", 3.0, 4.0), make_transaction("a", 5.0, 6.0)]
        with pytest.raises(pos.DuplicateTransactionError, match="'a'"):
            pos.save_transactions(s, batch, source="api")
        with pytest.raises(pos.DuplicateTransactionError, match="'c'"):
            pos.save_transactions(s, [make_transaction("c", 1.0, 2.0), make_transaction("c", 1.0, 2.0)], source="api")
        with pytest.raises(ValueError, match="terminal_id is longer than 63"):
            pos.save_transactions(s, [make_transaction("d", 1.0, 2.0), make_transaction("e", 1.0, 2.0, terminal_id="x" * 64)],
                                  source="api")  # fmt: skip
        assert pos.save_transactions(s, [], source="api") == 0
        with db_engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(PosTransaction)).scalar() == 1
