"""`witness pos catalog | import | transactions | simulate` against a SQLite file given as DATABASE_URL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from cluster.cli import app
from storage import pos
from storage.db import make_engine

runner = CliRunner()
CSV = """transaction_id,terminal_id,time,sku,quantity,payment_method
imp-1,till-9,2025-03-01T12:00:00,CHOC001,2,card
imp-1,till-9,2025-03-01T12:00:40,SODA001,1,card
imp-2,till-8,2025-03-01T13:00:00,SAND001,1,cash
"""


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'pos.db'}"
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def stored_transactions(url: str) -> list:
    engine = make_engine(url)
    with Session(engine) as s:
        rows = pos.list_transactions(s, limit=1000)[0]
    engine.dispose()
    return rows


def test_catalog(db_url: str) -> None:
    result = runner.invoke(app, ["pos", "catalog", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["count"] == 10 and {"sku": "CHOC001", "name": "Chocolate Bar", "price": "2.99"} in data["data"]
    table = runner.invoke(app, ["pos", "catalog"])
    assert table.exit_code == 0 and "catalog (10 products)" in table.output and "Beef Jerky" in table.output


def test_import_and_list(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "day.csv").write_text(CSV)
    result = runner.invoke(app, ["pos", "import", str(tmp_path / "day.csv")])
    assert result.exit_code == 0, result.output
    assert "imported 2 transaction(s) from day.csv" in result.output
    data = json.loads(runner.invoke(app, ["pos", "transactions", "--json"]).output)
    assert data["count"] == 2 and [t["id"] for t in data["data"]] == ["imp-2", "imp-1"]
    assert data["data"][1]["total"] == "7.97" and data["data"][1]["source"] == "day.csv"
    only = json.loads(runner.invoke(app, ["pos", "transactions", "--terminal", "till-9", "--json"]).output)
    assert [t["id"] for t in only["data"]] == ["imp-1"]
    late = json.loads(runner.invoke(app, ["pos", "transactions", "--since", "2025-03-01T12:30:00", "--json"]).output)
    assert [t["id"] for t in late["data"]] == ["imp-2"]
    table = runner.invoke(app, ["pos", "transactions"])
    assert table.exit_code == 0 and "transactions (2)" in table.output and "2×CHOC001" in table.output

    (tmp_path / "again.json").write_text(json.dumps([
        {"transaction_id": "imp-3", "terminal_id": "till-8", "time": 1, "payment_method": "cash",
         "items": [{"sku": "WTRL001", "quantity": 1}]},
        {"transaction_id": "imp-1", "terminal_id": "till-8", "time": 2, "payment_method": "cash",
         "items": [{"sku": "WTRL001", "quantity": 1}]}]))  # fmt: skip
    dup = runner.invoke(app, ["pos", "import", str(tmp_path / "again.json")])
    assert dup.exit_code == 1 and "already stored: 'imp-1'" in dup.output
    assert len(stored_transactions(db_url)) == 2  # all or nothing


def test_bad_input_exits_non_zero(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text(CSV.replace("SAND001", "NOPE001"))
    bad = runner.invoke(app, ["pos", "import", str(tmp_path / "bad.csv")])
    assert bad.exit_code == 2 and "bad.csv:4: unknown SKU 'NOPE001'" in bad.output
    (tmp_path / "notes.txt").write_text(CSV)
    assert runner.invoke(app, ["pos", "import", str(tmp_path / "notes.txt")]).exit_code == 2
    assert runner.invoke(app, ["pos", "import", str(tmp_path / "notes.txt"), "--format", "csv"]).exit_code == 0
    assert runner.invoke(app, ["pos", "import", str(tmp_path / "x.csv")]).exit_code == 2  # missing file
    assert runner.invoke(app, ["pos", "import", str(tmp_path / "bad.csv"), "--format", "xml"]).exit_code == 2
    since = runner.invoke(app, ["pos", "transactions", "--since", "yesterday"])
    assert since.exit_code == 2 and "--since must be epoch seconds or ISO 8601" in since.output
    assert runner.invoke(app, ["pos", "simulate", "--terminal", "till 1", "--count", "1"]).exit_code == 2
    assert runner.invoke(app, ["pos", "simulate", "--camera", "nodot", "--count", "1"]).exit_code == 2
    assert runner.invoke(app, ["pos", "simulate", "--count", "0"]).exit_code == 2
    assert runner.invoke(app, ["pos", "simulate", "--void-rate", "1.5"]).exit_code == 2


def test_simulate_writes_real_transactions(db_url: str) -> None:
    args = ["pos", "simulate", "--terminal", "till-3", "--camera", "shop.cam3", "--zone", "checkout-3", "--count", "6",
            "--interval", "0", "--seed", "7", "--void-rate", "0.3", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.splitlines() if line.strip()]
    assert len(records) == 6 and {r["status"] for r in records} == {"completed", "voided"}
    sales = [r for r in records if r["status"] == "completed"]
    stored = {t.id: t for t in stored_transactions(db_url)}
    assert sorted(stored) == sorted(r["id"] for r in sales)
    for r in sales:
        tx = stored[r["id"]]
        assert (tx.terminal_id, tx.camera_id, tx.zone) == ("till-3", "shop.cam3", "checkout-3")
        assert str(tx.total) == r["total"] and tx.t_end_s >= tx.t_start_s
        assert sum(int(i["quantity"]) * float(i["unit_price"]) for i in tx.items) == pytest.approx(float(tx.total))
    again = runner.invoke(app, args)  # same seed: the same baskets
    assert [r["items"] for r in map(json.loads, again.output.splitlines())] == [r["items"] for r in records]

    text = runner.invoke(app, ["pos", "simulate", "--terminal", "till-4", "--count", "2", "--interval", "0"])
    assert text.exit_code == 0 and "2 sale(s) totalling" in text.output and "sale " in text.output


def test_simulate_scan_interval_gives_sessions_a_duration(db_url: str) -> None:
    result = runner.invoke(app, ["pos", "simulate", "--terminal", "till-5", "--count", "1", "--interval", "0",
                                 "--scan-interval", "0.2", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    sale = json.loads(result.output)
    assert sale["t_end_s"] - sale["t_start_s"] >= 0.2 * len(sale["items"])
