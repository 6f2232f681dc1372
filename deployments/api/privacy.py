"""Face masking at the API boundary: who gets masked frames, clips and crops, and the audited unmask.

Everything that leaves the platform — clips, case files, latest frames (raw or with overlays),
track crops — has faces masked (`domain.privacy`) unless masking is off (`PRIVACY__MASK_FACES`).
A user whose role is in `PRIVACY__UNMASK_ROLES` (default: admin) may ask for the original with
`?unmasked=true`; that request is refused (403) for other roles and, when allowed, written to the
audit log as `media.unmask` with what was unmasked.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session
from starlette.requests import HTTPConnection

from deployments.api.audit import client_ip
from storage import crud
from storage.models import AuditLogCreate, User, UserRole

__all__ = ["PrivacyPolicy", "get_privacy", "PrivacyDep", "wants_original", "UNMASK_ACTION"]

UNMASK_ACTION = "media.unmask"


class PrivacyPolicy(BaseModel):
    """The app's masking rules; mirrors `cluster.settings.PrivacySettings`."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    mask_faces: bool = Field(True, title="Mask faces in everything that leaves the platform")
    unmask_roles: list[UserRole] = Field(default_factory=lambda: [UserRole.ADMIN],
                                         title="Roles that may ask for unmasked originals (audited)")


def get_privacy(conn: HTTPConnection) -> PrivacyPolicy:
    """The policy given to `create_app(state={"privacy": ...})`; masking on, admins may unmask, when absent."""
    policy = getattr(conn.app.state, "privacy", None)
    return policy if isinstance(policy, PrivacyPolicy) else PrivacyPolicy.model_validate(policy or {})


PrivacyDep = Annotated[PrivacyPolicy, Depends(get_privacy)]


def wants_original(request: Request, session: Session, user: User, policy: PrivacyPolicy, unmasked: bool, *,
                   resource_type: str, resource_id: str) -> bool:  # fmt: skip
    """Whether to serve the unmasked original; an allowed unmask is audited first.

    Raises:
        HTTPException: 403 when `unmasked` is asked by a role outside `unmask_roles`.
    """
    if not policy.mask_faces:
        return True
    if not unmasked:
        return False
    if user.role not in policy.unmask_roles:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "unmasked media needs one of the roles: "
                            + ", ".join(r.value for r in policy.unmask_roles))  # fmt: skip
    crud.add_audit(session, AuditLogCreate(
        user_id=user.id, username=user.username, method=request.method, path=request.url.path[:1024],
        action=UNMASK_ACTION, resource_type=resource_type, resource_id=resource_id[:128], status_code=200,
        client_ip=client_ip(request.scope), user_agent=(request.headers.get("user-agent") or "")[:512] or None,
        detail={"unmasked": True},
    ))  # fmt: skip
    return True
