"""`/audit`: the audit trail of mutating requests (supervisors and admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from deployments.api.deps import SessionDep, require
from deployments.api.permissions import Permission
from deployments.api.schemas import AuditQuery
from deployments.api.tags import Tags
from storage import crud
from storage.models import AuditLogPublic, AuditLogsPublic

__all__ = ["router"]

router = APIRouter(prefix="/audit", tags=[Tags.AUDIT], dependencies=[Depends(require(Permission.AUDIT_READ))])


@router.get("")
def list_audit(session: SessionDep, query: Annotated[AuditQuery, Depends()]) -> AuditLogsPublic:
    """List audit rows matching the filters, newest first."""
    rows, count = crud.list_audit(session, **query.model_dump())
    return AuditLogsPublic(data=[AuditLogPublic.model_validate(r) for r in rows], count=count)
