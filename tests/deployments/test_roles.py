"""The role matrix: every role against every mutating (and role-restricted read) endpoint."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from deployments.api.deps import user_can_see_camera
from deployments.api.permissions import ROLE_PERMISSIONS, Permission, has_permission
from storage import crud
from storage.models import User, UserRole
from tests.deployments.conftest import bearer, create_random_user, login

API = "/api/v1"
A, S, O, V = UserRole.ADMIN, UserRole.SUPERVISOR, UserRole.OPERATOR, UserRole.VIEWER


def _pending_job(engine: Engine) -> str:
    with Session(engine) as session:
        return crud.create_job(session, params={}, inputs=["a.mp4"]).id


def _target_user(engine: Engine) -> str:
    return create_random_user(engine, UserRole.VIEWER).id


# (name, method, path with {id}, body, builds the resource id, expected status when allowed, roles allowed)
CASES: list[tuple[str, str, str, dict | None, Callable[[Engine], str] | None, int, set[UserRole]]] = [
    ("create user", "POST", "/users", {"username": None, "password": "long-enough-pw"}, None, 201, {A}),
    ("update user", "PATCH", "/users/{id}", {"camera_groups": ["north"]}, _target_user, 200, {A}),
    ("delete user", "DELETE", "/users/{id}", None, _target_user, 204, {A}),
    ("cancel job", "POST", "/jobs/{id}/cancel", None, _pending_job, 200, {A, S}),
    ("list users", "GET", "/users", None, None, 200, {A, S}),
    ("read audit", "GET", "/audit", None, None, 200, {A, S}),
    ("list events", "GET", "/events", None, None, 200, {A, S, O, V}),
    ("list jobs", "GET", "/jobs", None, None, 200, {A, S, O, V}),
]


@pytest.mark.parametrize("role", [A, S, O, V], ids=lambda r: r.value)
@pytest.mark.parametrize(("name", "method", "path", "body", "make_id", "ok", "allowed"), CASES, ids=[c[0] for c in CASES])
def test_role_matrix(
    client: TestClient, pg_engine: Engine, auth_headers: dict, role: UserRole,
    name: str, method: str, path: str, body: dict | None, make_id, ok: int, allowed: set[UserRole],
) -> None:  # fmt: skip
    if make_id is not None:
        path = path.format(id=make_id(pg_engine))
    if body is not None and "username" in body:
        body = {**body, "username": f"new-{uuid.uuid4().hex[:8]}"}
    response = client.request(method, API + path, headers=auth_headers[role], json=body)
    expected = ok if role in allowed else 403
    assert response.status_code == expected, response.text
    if expected == 403:
        assert response.json() == {"detail": "insufficient permissions"}


@pytest.mark.parametrize("role", [A, S, O, V], ids=lambda r: r.value)
def test_every_role_may_log_out(client: TestClient, pg_engine: Engine, role: UserRole) -> None:
    user = create_random_user(pg_engine, role)
    assert client.post(f"{API}/auth/logout", headers=bearer(login(client, user.username))).status_code == 204


def test_permissions_are_cumulative() -> None:
    assert ROLE_PERMISSIONS[V] < ROLE_PERMISSIONS[O] < ROLE_PERMISSIONS[S] < ROLE_PERMISSIONS[A]
    assert ROLE_PERMISSIONS[A] == frozenset(Permission)
    assert has_permission(O, Permission.CAMERA_CONTROL) and has_permission(O, Permission.JOB_SUBMIT)
    assert not has_permission(O, Permission.CAMERA_MANAGE) and has_permission(S, Permission.CAMERA_MANAGE)
    assert not has_permission(S, Permission.USER_MANAGE)
    assert ROLE_PERMISSIONS[V] == {Permission.READ}


@pytest.mark.parametrize(
    ("role", "groups", "all_cameras", "camera_group", "expected"),
    [
        (A, ["north"], False, "south", True),  # admin sees all
        (A, [], False, None, True),  # admin sees ungrouped cameras too
        (V, [], False, "south", False),  # no groups and no flag: no camera (empty is not "everything")
        (V, [], False, None, False),  # ... not even ungrouped ones
        (V, [], True, "south", True),  # the explicit all-cameras flag
        (V, ["north"], True, None, True),  # the flag wins over the groups
        (O, ["north", "door"], False, "door", True),  # one of theirs
        (O, ["north"], False, "south", False),  # not theirs
        (S, ["north"], False, None, False),  # restricted users do not see ungrouped cameras
    ],
)
def test_user_can_see_camera(role: UserRole, groups: list[str], all_cameras: bool, camera_group: str | None,
                             expected: bool) -> None:  # fmt: skip
    user = User(username="u-x", role=role, camera_groups=groups, all_cameras=all_cameras, password_hash="x")
    assert user_can_see_camera(user, camera_group) is expected
