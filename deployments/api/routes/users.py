"""`/users`: accounts (supervisors may read, admins manage)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status

from deployments.api.deps import CurrentUser, SessionDep, require
from deployments.api.permissions import Permission
from deployments.api.schemas import Page
from deployments.api.security import hash_password
from deployments.api.tags import Tags
from storage import crud
from storage.models import UserCreate, UserPublic, UsersPublic, UserUpdate

__all__ = ["router"]

router = APIRouter(prefix="/users", tags=[Tags.USERS])
_READ = [Depends(require(Permission.USER_READ))]
_MANAGE = [Depends(require(Permission.USER_MANAGE))]
_NOT_FOUND = "user not found"


@router.get("", dependencies=_READ)
def list_users(session: SessionDep, page: Annotated[Page, Depends()]) -> UsersPublic:
    """List users by username."""
    rows, count = crud.list_users(session, limit=page.limit, offset=page.offset)
    return UsersPublic(data=[UserPublic.model_validate(u) for u in rows], count=count)


@router.post("", dependencies=_MANAGE, status_code=status.HTTP_201_CREATED)
def create_user(session: SessionDep, body: UserCreate) -> UserPublic:
    """Create a user."""
    try:
        user = crud.create_user(session, data=body, password_hash=hash_password(body.password))
    except ValueError:
        raise HTTPException(status.HTTP_409_CONFLICT, "username already exists") from None
    return UserPublic.model_validate(user)


@router.get("/{user_id}", dependencies=_READ)
def get_user(session: SessionDep, user_id: str) -> UserPublic:
    """Get one user."""
    user = crud.get_user(session, user_id)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, _NOT_FOUND)
    return UserPublic.model_validate(user)


@router.patch("/{user_id}", dependencies=_MANAGE)
def update_user(session: SessionDep, me: CurrentUser, user_id: str, body: UserUpdate) -> UserPublic:
    """Change a user's role, camera groups, active flag or password."""
    if user_id == me.id and (body.role not in (None, me.role) or body.is_active is False):
        raise HTTPException(status.HTTP_409_CONFLICT, "cannot change your own role or status")
    password_hash = hash_password(body.password) if body.password else None
    try:
        user = crud.update_user(session, user_id, data=body, password_hash=password_hash)
    except crud.NotFoundError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, _NOT_FOUND) from None
    return UserPublic.model_validate(user)


@router.delete("/{user_id}", dependencies=_MANAGE, status_code=status.HTTP_204_NO_CONTENT)
def delete_user(session: SessionDep, me: CurrentUser, user_id: str) -> None:
    """Delete a user."""
    if user_id == me.id:
        raise HTTPException(status.HTTP_409_CONFLICT, "cannot delete yourself")
    try:
        crud.delete_user(session, user_id)
    except crud.NotFoundError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, _NOT_FOUND) from None
