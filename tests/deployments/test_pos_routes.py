"""`/pos` through the API: role matrix, catalog and terminal edits, till sessions (409/422), transactions, import, audit."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis as redis_lib
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from deployments.api import create_app
from deployments.api.routes import pos as pos_routes
from domain.pos import Catalog
from storage import crud, pos
from storage.models import PosProduct, PosSessionRow, PosTerminal, PosTransaction, UserRole
from tests.deployments.conftest import make_config

API = "/api/v1/pos"
A, S, O, V = UserRole.ADMIN, UserRole.SUPERVISOR, UserRole.OPERATOR, UserRole.VIEWER
CSV = """transaction_id,terminal_id,time,sku,quantity,payment_method
imp-1,till-9,2025-03-01T12:00:00,CHOC001,2,card
imp-1,till-9,2025-03-01T12:00:40,SODA001,1,card
imp-2,till-8,2025-03-01T13:00:00,SAND001,1,cash
"""


def _reset(engine: Engine) -> None:
    """Empty the POS tables and put the default catalog back."""
    with engine.begin() as conn:
        for table in (PosTransaction, PosSessionRow, PosTerminal, PosProduct):
            conn.execute(sa.delete(table))
    with Session(engine) as s:
        for p in Catalog.default():
            pos.add_product(s, sku=p.sku, name=p.name, price=p.price)


@pytest.fixture(scope="module")
def app(pg_engine: Engine, redis_client: redis_lib.Redis, module_prefix: str) -> Iterator[FastAPI]:
    """The API with the POS router."""
    yield create_app(engine=pg_engine, redis=redis_client, config=make_config(module_prefix),
                     extra_routers=[pos_routes.router])  # fmt: skip
    _reset(pg_engine)


@pytest.fixture
def clean(pg_engine: Engine) -> None:
    _reset(pg_engine)


def upload(client: TestClient, headers: dict, name: str, text: str, content_type: str = "application/octet-stream"):
    """POST a POS file as multipart field `file`."""
    return client.post(f"{API}/transactions/import", files={"file": (name, text.encode(), content_type)},
                       headers=headers)  # fmt: skip


def test_role_matrix(client: TestClient, auth_headers: dict, clean: None) -> None:
    assert client.get(f"{API}/products").status_code == 401
    for role in (A, S, O, V):
        assert client.get(f"{API}/products", headers=auth_headers[role]).status_code == 200
        assert client.get(f"{API}/transactions", headers=auth_headers[role]).status_code == 200
    # viewer: read only
    refused = [
        client.post(f"{API}/products", json={"sku": "GUM001", "name": "Gum", "price": "0.99"}, headers=auth_headers[V]),
        client.patch(f"{API}/products/CHOC001", json={"price": "9.99"}, headers=auth_headers[V]),
        client.delete(f"{API}/products/CHOC001", headers=auth_headers[V]),
        client.put(f"{API}/terminals/till-1", json={}, headers=auth_headers[V]),
        client.post(f"{API}/terminals/till-1/session", headers=auth_headers[V]),
        upload(client, auth_headers[V], "day.csv", CSV),
    ]
    assert [r.status_code for r in refused] == [403] * 6
    # operator: runs sessions and imports, cannot edit the catalog or terminals
    assert client.post(f"{API}/products", json={"sku": "GUM001", "name": "Gum", "price": "0.99"},
                       headers=auth_headers[O]).status_code == 403  # fmt: skip
    assert client.put(f"{API}/terminals/till-1", json={}, headers=auth_headers[O]).status_code == 403
    assert client.post(f"{API}/terminals/till-1/session", headers=auth_headers[O]).status_code == 201
    assert client.post(f"{API}/terminals/till-1/session/void", headers=auth_headers[O]).status_code == 200
    assert upload(client, auth_headers[O], "day.csv", CSV).status_code == 201
    # supervisor: edits the catalog and terminals
    assert client.post(f"{API}/products", json={"sku": "GUM001", "name": "Gum", "price": "0.99"},
                       headers=auth_headers[S]).status_code == 201  # fmt: skip
    assert client.put(f"{API}/terminals/till-1", json={"camera_id": "shop.cam1", "zone": "checkout-1"},
                      headers=auth_headers[S]).status_code == 201  # fmt: skip
    assert client.get(f"{API}/products/CHOC001", headers=auth_headers[V]).json()["price"] == "2.99"  # unchanged


def test_catalog_crud_and_errors(client: TestClient, auth_headers: dict, pg_engine: Engine, clean: None) -> None:
    h = auth_headers[S]
    r = client.get(f"{API}/products", params={"limit": 2}, headers=h)
    assert r.json()["count"] == 10 and [p["sku"] for p in r.json()["data"]] == ["CAND001", "CHIP001"]
    assert client.get(f"{API}/products/NOPE001", headers=h).status_code == 404
    r = client.post(f"{API}/products", json={"sku": "GUM001", "name": "Gum", "price": "0.99"}, headers=h)
    assert r.status_code == 201 and r.json()["sku"] == "GUM001" and r.json()["price"] == "0.99"
    r = client.post(f"{API}/products", json={"sku": "GUM001", "name": "Other", "price": "1.00"}, headers=h)
    assert r.status_code == 409 and "GUM001" in r.json()["detail"]
    for bad in ({"sku": "gum", "name": "x", "price": "1"}, {"sku": "GUM002", "name": "x", "price": "0"},
                {"sku": "GUM002", "name": "x", "price": "1.999"}, {"sku": "GUM002", "name": "", "price": "1"}):
        assert client.post(f"{API}/products", json=bad, headers=h).status_code == 422, bad
    r = client.patch(f"{API}/products/GUM001", json={"price": "1.25"}, headers=h)
    assert r.status_code == 200 and (r.json()["name"], r.json()["price"]) == ("Gum", "1.25")
    assert client.patch(f"{API}/products/GUM001", json={"price": "-1"}, headers=h).status_code == 422
    assert client.patch(f"{API}/products/NOPE001", json={"name": "x"}, headers=h).status_code == 404
    assert client.delete(f"{API}/products/GUM001", headers=h).status_code == 204
    assert client.delete(f"{API}/products/GUM001", headers=h).status_code == 404
    with Session(pg_engine) as s:
        assert "GUM001" not in pos.load_catalog(s) and len(pos.load_catalog(s)) == 10
        rows, _ = crud.list_audit(s, action="pos.product.update", limit=10)
    assert {(r.resource_type, r.resource_id, r.status_code) for r in rows} >= {("pos_product", "GUM001", 200),
                                                                                ("pos_product", "GUM001", 422)}


def test_terminals(client: TestClient, auth_headers: dict, clean: None) -> None:
    h = auth_headers[S]
    r = client.put(f"{API}/terminals/till-1", json={"camera_id": "shop.cam1", "zone": "checkout-1"}, headers=h)
    assert r.status_code == 201 and (r.json()["camera_id"], r.json()["zone"]) == ("shop.cam1", "checkout-1")
    r = client.put(f"{API}/terminals/till-1", json={"camera_id": "shop.cam2", "zone": "checkout-2"}, headers=h)
    assert r.status_code == 200 and r.json()["camera_id"] == "shop.cam2"
    assert client.put(f"{API}/terminals/till-1", json={"camera_id": "nodot"}, headers=h).status_code == 422
    assert client.put(f"{API}/terminals/till%201", json={}, headers=h).status_code == 422
    assert client.get(f"{API}/terminals/till-1", headers=auth_headers[V]).json()["zone"] == "checkout-2"
    assert client.get(f"{API}/terminals", headers=auth_headers[V]).json()["count"] == 1
    assert client.get(f"{API}/terminals/till-7", headers=h).status_code == 404
    assert client.post(f"{API}/terminals/till-1/session", headers=auth_headers[O]).status_code == 201
    r = client.delete(f"{API}/terminals/till-1", headers=h)
    assert r.status_code == 409 and "open session" in r.json()["detail"]
    assert client.post(f"{API}/terminals/till-1/session/void", headers=auth_headers[O]).status_code == 200
    assert client.delete(f"{API}/terminals/till-1", headers=h).status_code == 204
    assert client.delete(f"{API}/terminals/till-1", headers=h).status_code == 404


def test_session_lifecycle(client: TestClient, auth_headers: dict, users: dict, pg_engine: Engine, clean: None) -> None:
    h, base = auth_headers[O], f"{API}/terminals/till-1/session"
    client.put(f"{API}/terminals/till-1", json={"camera_id": "shop.cam1", "zone": "checkout-1"}, headers=auth_headers[S])
    assert client.get(base, headers=h).status_code == 404
    assert client.post(f"{base}/scan", json={"sku": "CHOC001"}, headers=h).status_code == 409  # nothing open
    r = client.post(base, headers=h)
    assert r.status_code == 201, r.text
    opened = r.json()
    assert (opened["status"], opened["camera_id"], opened["zone"], opened["items"]) == ("open", "shop.cam1", "checkout-1", [])
    r = client.post(base, headers=h)
    assert r.status_code == 409 and "already has an open session" in r.json()["detail"]
    r = client.post(f"{base}/complete", json={"payment_method": "card"}, headers=h)
    assert r.status_code == 422 and "no items" in r.json()["detail"]

    assert client.post(f"{base}/scan", json={"sku": "CHOC001", "quantity": 2}, headers=h).status_code == 200
    r = client.post(f"{base}/scan", json={"sku": "NOPE001"}, headers=h)
    assert r.status_code == 422 and r.json()["detail"] == "unknown SKU 'NOPE001'"
    assert client.post(f"{base}/scan", json={"sku": "SODA001", "quantity": 0}, headers=h).status_code == 422
    r = client.post(f"{base}/scan", json={"sku": "SODA001"}, headers=h)
    assert r.status_code == 200 and r.json()["subtotal"] == "7.97"
    assert client.post(f"{base}/complete", json={"payment_method": "bitcoin"}, headers=h).status_code == 422
    shown = client.get(base, headers=auth_headers[V]).json()
    assert [(i["sku"], i["quantity"], i["unit_price"]) for i in shown["items"]] == [("CHOC001", 2, "2.99"), ("SODA001", 1, "1.99")]

    r = client.post(f"{base}/complete", json={"payment_method": "card"}, headers=h)
    assert r.status_code == 201, r.text
    tx = r.json()
    assert (tx["terminal_id"], tx["camera_id"], tx["zone"], tx["total"], tx["payment_method"]) == (
        "till-1", "shop.cam1", "checkout-1", "7.97", "card")
    assert tx["t_start_s"] == opened["t_start_s"] and tx["t_end_s"] >= tx["t_start_s"] > 1.7e9  # epoch seconds
    assert [(i["sku"], i["quantity"]) for i in tx["items"]] == [("CHOC001", 2), ("SODA001", 1)]
    for step, body in (("scan", {"sku": "CHOC001"}), ("complete", {"payment_method": "cash"}), ("void", None)):
        r = client.post(f"{base}/{step}", json=body, headers=h)
        assert r.status_code == 409 and "no open session on terminal 'till-1'" in r.json()["detail"], step
    assert client.get(f"{API}/transactions/{tx['id']}", headers=auth_headers[V]).json()["total"] == "7.97"

    assert client.post(base, headers=h).status_code == 201
    client.post(f"{base}/scan", json={"sku": "SAND001"}, headers=h)
    r = client.post(f"{base}/void", headers=h)
    assert r.status_code == 200 and r.json()["status"] == "voided" and r.json()["items"] == []
    assert client.get(f"{API}/transactions", headers=h).json()["count"] == 1  # the void billed nothing
    with Session(pg_engine) as s:
        rows, _ = crud.list_audit(s, resource_type="pos_session", limit=100)
    actions = {(row.action, row.resource_id, row.username, row.status_code) for row in rows}
    assert ("pos.session.start", "till-1", users[O].username, 201) in actions
    assert ("pos.session.complete", "till-1", users[O].username, 201) in actions
    assert ("pos.session.scan", "till-1", users[O].username, 422) in actions


def test_import_and_list_transactions(client: TestClient, auth_headers: dict, clean: None) -> None:
    h = auth_headers[O]
    client.put(f"{API}/terminals/till-9", json={"camera_id": "shop.cam9", "zone": "checkout-9"}, headers=auth_headers[S])
    r = upload(client, h, "day.csv", CSV)
    assert r.status_code == 201, r.text
    assert r.json() == {"source": "day.csv", "count": 2, "transaction_ids": ["imp-1", "imp-2"]}
    doc = json.dumps([{"transaction_id": "imp-3", "terminal_id": "till-8", "time": "2025-03-01T14:00:00",
                       "payment_method": "mobile", "items": [{"sku": "WTRL001", "quantity": 3}]}])  # fmt: skip
    r = upload(client, h, "export", doc, "application/json")  # format from the content type
    assert r.status_code == 201 and r.json()["count"] == 1

    r = client.get(f"{API}/transactions/imp-1", headers=auth_headers[V])
    assert r.status_code == 200
    t1 = r.json()
    assert (t1["total"], t1["t_end_s"] - t1["t_start_s"], t1["source"]) == ("7.97", 40.0, "day.csv")
    assert (t1["camera_id"], t1["zone"]) == ("shop.cam9", "checkout-9")  # from the terminal's link
    assert client.get(f"{API}/transactions/nope", headers=h).status_code == 404
    ids = lambda r: [t["id"] for t in r.json()["data"]]  # noqa: E731
    assert ids(client.get(f"{API}/transactions", headers=h)) == ["imp-3", "imp-2", "imp-1"]  # newest first
    assert ids(client.get(f"{API}/transactions", params={"terminal_id": "till-8"}, headers=h)) == ["imp-3", "imp-2"]
    assert ids(client.get(f"{API}/transactions", params={"camera_id": "shop.cam9"}, headers=h)) == ["imp-1"]
    assert ids(client.get(f"{API}/transactions", params={"zone": "checkout-9"}, headers=h)) == ["imp-1"]
    r = client.get(f"{API}/transactions", params={"since": "2025-03-01T12:30:00", "until": "2025-03-01T13:30:00"},
                   headers=h)  # fmt: skip
    assert ids(r) == ["imp-2"]
    r = client.get(f"{API}/transactions", params={"since": t1["t_end_s"], "limit": 1, "offset": 1}, headers=h)
    assert ids(r) == ["imp-2"] and r.json()["count"] == 3  # imp-1 ends exactly at `since`: it overlaps
    assert client.get(f"{API}/transactions", params={"since": "yesterday"}, headers=h).status_code == 422

    # refused imports store nothing
    r = upload(client, h, "again.csv", CSV.replace("imp-2", "imp-4"))
    assert r.status_code == 409 and "'imp-1'" in r.json()["detail"] and "imp-4" not in r.json()["detail"]
    r = upload(client, h, "bad.csv", CSV.replace("imp-2,till-8,2025-03-01T13:00:00,SAND001", "imp-5,till-8,x,SAND001"))
    assert r.status_code == 422 and r.json()["detail"].startswith("bad.csv:4: bad time 'x'")
    r = upload(client, h, "bad.json", '[{"transaction_id": "imp-6", "terminal_id": "t", "time": 1,\n'
                                      ' "payment_method": "cash", "items": [{"sku": "NOPE001", "quantity": 1}]}]')
    assert r.status_code == 422 and r.json()["detail"] == "bad.json:1: transaction 'imp-6': unknown SKU 'NOPE001'"
    assert upload(client, h, "notes.txt", CSV, "text/plain").status_code == 415
    r = client.post(f"{API}/transactions/import", files={"file": ("l.csv", b"\xff\xfe", "text/csv")}, headers=h)
    assert r.status_code == 422 and "not UTF-8" in r.json()["detail"]
    assert client.get(f"{API}/transactions", headers=h).json()["count"] == 3
