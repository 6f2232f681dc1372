"""Request, query and response models of the API that are not storage schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

__all__ = ["inline_refs", "Page", "LoginRequest", "RefreshRequest", "LogoutRequest", "TokenPair", "EventQuery", "AuditQuery", "Health"]


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema with its `#/$defs/...` references replaced by the definitions themselves.

    For `openapi_extra` request bodies: pydantic's `$defs` do not exist in an OpenAPI document, so
    a `$ref` to them cannot be resolved there (models referenced recursively are not supported).
    """
    defs = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve({**defs[ref.removeprefix("#/$defs/")], **{k: v for k, v in node.items() if k != "$ref"}})
            return {k: resolve(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)


class Page(BaseModel):
    """Pagination query parameters."""

    limit: int = Field(100, ge=1, le=1000, description="Page size")
    offset: int = Field(0, ge=0, le=10**9, description="Rows to skip")


class LoginRequest(BaseModel):
    """Credentials, as JSON or as an OAuth2 password form."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=128)


class RefreshRequest(BaseModel):
    refresh_token: str


class LogoutRequest(BaseModel):
    refresh_token: str | None = Field(None, description="Also revoke this refresh token")


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Access-token lifetime (s)")


class EventQuery(Page):
    """Event filters; times are seconds from the start of the video (or the live session)."""

    job_id: str | None = None
    video_id: str | None = None
    camera_id: str | None = None
    type: str | None = Field(None, description="Event type, e.g. zone_enter, dwell")
    zone: str | None = None
    t_from: float | None = Field(None, description="Only events starting at or after (s)")
    t_to: float | None = Field(None, description="Only events starting before (s)")


class AuditQuery(Page):
    """Audit-log filters."""

    user_id: str | None = None
    username: str | None = None
    action: str | None = Field(None, description="e.g. job.cancel")
    resource_type: str | None = Field(None, description="e.g. job, user, camera")
    resource_id: str | None = None
    since: datetime | None = Field(None, description="Only rows at or after (ISO 8601)")


class Health(BaseModel):
    status: str = Field(description="ok, or degraded when a dependency is down")
    db: str
    redis: str
