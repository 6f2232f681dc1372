"""User management: create, read, update, delete; duplicates and bad input."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from storage.models import UserRole
from tests.deployments.conftest import bearer, login

API = "/api/v1/users"


def _name() -> str:
    return f"user-{uuid.uuid4().hex[:8]}"


def test_user_crud(client: TestClient, admin_headers: dict) -> None:
    name = _name()
    body = {"username": name, "password": "first-password", "role": "operator", "camera_groups": ["north"]}
    created = client.post(API, headers=admin_headers, json=body)
    assert created.status_code == 201, created.text
    user = created.json()
    assert {k: user[k] for k in ("username", "role", "camera_groups", "is_active")} == {
        "username": name, "role": "operator", "camera_groups": ["north"], "is_active": True,
    }  # fmt: skip
    assert "password" not in user and "password_hash" not in user
    assert client.get(f"{API}/{user['id']}", headers=admin_headers).json() == user
    listed = client.get(API, headers=admin_headers, params={"limit": 1000}).json()
    assert user in listed["data"] and listed["count"] >= 1

    updated = client.patch(f"{API}/{user['id']}", headers=admin_headers, json={"role": "supervisor", "password": "new-password"})
    assert updated.status_code == 200
    assert updated.json()["role"] == "supervisor"
    assert client.post("/api/v1/auth/login", json={"username": name, "password": "first-password"}).status_code == 401
    tokens = login(client, name, "new-password")
    assert client.get("/api/v1/auth/me", headers=bearer(tokens)).json()["role"] == "supervisor"

    assert client.delete(f"{API}/{user['id']}", headers=admin_headers).status_code == 204
    assert client.get(f"{API}/{user['id']}", headers=admin_headers).json() == {"detail": "user not found"}
    assert client.get("/api/v1/auth/me", headers=bearer(tokens)).status_code == 401  # its tokens die with it


def test_duplicate_username_is_409(client: TestClient, admin_headers: dict) -> None:
    body = {"username": _name(), "password": "long-enough"}
    assert client.post(API, headers=admin_headers, json=body).status_code == 201
    again = client.post(API, headers=admin_headers, json=body)
    assert again.status_code == 409
    assert again.json() == {"detail": "username already exists"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "boss"}, "role"),  # invalid role
        ({"password": "short"}, "password"),  # weak password
        ({"username": "a b"}, "username"),  # bad characters
        ({"camera_groups": "north"}, "camera_groups"),  # not a list
    ],
)
def test_bad_user_input_is_422(client: TestClient, admin_headers: dict, body: dict, field: str) -> None:
    response = client.post(API, headers=admin_headers, json={"username": _name(), "password": "long-enough"} | body)
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", field]]


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("PATCH", {"role": "viewer"}),  # demote yourself
        ("PATCH", {"is_active": False}),  # deactivate yourself
        ("DELETE", None),  # delete yourself
    ],
)
def test_admin_cannot_lock_themselves_out(client: TestClient, users: dict, admin_headers: dict, method: str, body) -> None:
    admin = users[UserRole.ADMIN]
    response = client.request(method, f"{API}/{admin.id}", headers=admin_headers, json=body)
    assert response.status_code == 409


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_unknown_user_is_404(client: TestClient, admin_headers: dict, method: str) -> None:
    response = client.request(method, f"{API}/{uuid.uuid4().hex}", headers=admin_headers, json={} if method == "PATCH" else None)
    assert response.status_code == 404
    assert response.json() == {"detail": "user not found"}
