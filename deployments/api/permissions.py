"""Roles and what each may do: the one place the API's authorization rules live.

admin > supervisor > operator > viewer; each role has every permission of the roles below it.
Routes declare what they need with `deps.require(Permission.X)`.
"""

from __future__ import annotations

from enum import Enum

from storage.models import UserRole

__all__ = ["Permission", "ROLE_RANK", "ROLE_PERMISSIONS", "has_permission"]


class Permission(str, Enum):
    """An action a route may require."""

    READ = "read"  # events, jobs, cameras, alerts, clips
    CAMERA_CONTROL = "camera.control"  # start / stop a live camera
    JOB_SUBMIT = "job.submit"  # submit bulk jobs, upload videos
    ALERT_ACKNOWLEDGE = "alert.acknowledge"
    CAMERA_MANAGE = "camera.manage"  # cameras, zones and rules: create / update / delete
    JOB_CANCEL = "job.cancel"
    AUDIT_READ = "audit.read"
    USER_READ = "user.read"
    USER_MANAGE = "user.manage"  # create / update / delete users
    POS_OPERATE = "pos.operate"  # run POS sessions (start / scan / complete / void), import transactions
    POS_MANAGE = "pos.manage"  # edit the product catalog and the terminals' checkout links
    MODEL_TRAIN = "model.train"  # start behaviour-model training runs
    NOTIFY_MANAGE = "notify.manage"  # see and retry dead-lettered webhook deliveries
    LEGAL_HOLD = "legal.hold"  # place / release legal holds on alerts' evidence
    RETENTION_MANAGE = "retention.manage"  # set retention policies, run the purge


ROLE_RANK: dict[UserRole, int] = {UserRole.VIEWER: 0, UserRole.OPERATOR: 1, UserRole.SUPERVISOR: 2, UserRole.ADMIN: 3}

_ADDED_BY_ROLE: dict[UserRole, frozenset[Permission]] = {
    UserRole.VIEWER: frozenset({Permission.READ}),
    UserRole.OPERATOR: frozenset(
        {Permission.CAMERA_CONTROL, Permission.JOB_SUBMIT, Permission.ALERT_ACKNOWLEDGE, Permission.POS_OPERATE}
    ),
    UserRole.SUPERVISOR: frozenset(
        {Permission.CAMERA_MANAGE, Permission.JOB_CANCEL, Permission.AUDIT_READ, Permission.USER_READ,
         Permission.POS_MANAGE, Permission.MODEL_TRAIN, Permission.NOTIFY_MANAGE, Permission.LEGAL_HOLD}
    ),
    UserRole.ADMIN: frozenset(Permission),
}

ROLE_PERMISSIONS: dict[UserRole, frozenset[Permission]] = {
    role: frozenset().union(*(_ADDED_BY_ROLE[r] for r in ROLE_RANK if ROLE_RANK[r] <= ROLE_RANK[role]))
    for role in ROLE_RANK
}


def has_permission(role: UserRole, permission: Permission) -> bool:
    """Whether `role` grants `permission`.

    Example:
        >>> has_permission(UserRole.OPERATOR, Permission.JOB_CANCEL)
        False
    """
    return permission in ROLE_PERMISSIONS[role]
