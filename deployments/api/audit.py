"""Audit trail: an ASGI middleware that writes one `AuditLog` row per mutating API request.

Every POST / PUT / PATCH / DELETE under the API prefix is recorded, refused ones included
(401, 403, 404, 409, 422, 429, 500), with who (from the auth dependency, or the attempted
username on login), what (`action`, derived from the route or set with `audit_as`), the
resource from the route's path parameters, the status code, the client IP and user agent.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import anyio
from redis.exceptions import RedisError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deployments.api.clientip import client_ip
from deployments.api.metrics import route_template
from deployments.api.ratelimit import hit
from storage import crud
from storage.models import AuditLogCreate

__all__ = ["MUTATING_METHODS", "AuditContext", "AuditMiddleware", "audit_context", "audit_as", "client_ip", "describe"]

log = logging.getLogger(__name__)

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_STATE_KEY = "witness_audit"
_MAX_ERROR_BODY = 2048
_METHOD_VERBS = {"POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}


@dataclass
class AuditContext:
    """What handlers and dependencies learned about a request, read back when writing its row."""

    user_id: str | None = None
    username: str | None = None
    action: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def audit_context(conn: HTTPConnection) -> AuditContext:
    """The request's audit context (a detached one when the request is not audited)."""
    ctx = conn.scope.get("state", {}).get(_STATE_KEY)
    return ctx if isinstance(ctx, AuditContext) else AuditContext()


def audit_as(action: str, *, resource_type: str | None = None, id_param: str | None = None):
    """A route dependency overriding the derived action, e.g. `Depends(audit_as("alert.acknowledge"))`.

    Args:
        action: the action to record.
        resource_type: the resource type to record (default: derived from the path).
        id_param: the path parameter holding the resource id (default: derived from the path).
    """

    def dependency(conn: HTTPConnection) -> None:
        ctx = audit_context(conn)
        ctx.action = action
        ctx.resource_type = resource_type or ctx.resource_type
        if id_param is not None and id_param in conn.path_params:
            ctx.resource_id = str(conn.path_params[id_param])

    return dependency


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _without_nul(entry: AuditLogCreate) -> AuditLogCreate:
    """The row with NUL characters (which PostgreSQL text cannot hold) shown as `\\0`, so it is still written."""
    changes = {name: value.replace("\x00", "\\0") for name, value in entry.model_dump().items()
               if isinstance(value, str) and "\x00" in value}  # fmt: skip
    detail = json.dumps(entry.detail)
    if "\\u0000" in detail:  # json.dumps writes NUL as \u0000
        changes["detail"] = json.loads(detail.replace("\\u0000", "\\\\0"))
    return entry.model_copy(update=changes) if changes else entry


def describe(template: str, path_params: dict[str, Any], method: str) -> tuple[str, str | None, str]:
    """`(resource_type, resource_id, action)` of a request from its route template.

    The first segment names the resource; a later plural segment names a nested resource
    (`/cameras/{id}/zones/{name}` → `zone`); a trailing singular segment is a verb
    (`/jobs/{id}/cancel` → `job.cancel`). Otherwise the method gives the verb.

    Example:
        >>> describe("/jobs/{job_id}/cancel", {"job_id": "j1"}, "POST")
        ('job', 'j1', 'job.cancel')
    """
    resource_type, resource_id, verb = "unknown", None, None
    for i, segment in enumerate(s for s in template.split("/") if s):
        if segment.startswith("{"):
            name = segment.strip("{}").split(":")[0]
            if verb is None and name in path_params:
                resource_id = str(path_params[name])
        elif i == 0 or segment.endswith("s"):
            resource_type, resource_id, verb = segment[:-1] if segment.endswith("s") else segment, None, None
        else:
            verb = segment
    return resource_type, resource_id, f"{resource_type}.{verb or _METHOD_VERBS.get(method, method.lower())}"


class AuditMiddleware:
    """ASGI middleware writing an audit row after each mutating request under `prefix`."""

    def __init__(self, app: ASGIApp, *, engine: Engine, prefix: str, redis: Any = None, key_prefix: str = "witness:",
                 anonymous_per_ip_per_min: int | None = None, dropped: Any = None) -> None:  # fmt: skip
        self.app = app
        self.engine = engine
        self.prefix = prefix.rstrip("/")
        self.redis, self.key_prefix = redis, key_prefix
        self.anonymous_per_ip_per_min = anonymous_per_ip_per_min
        self.dropped = dropped

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope["method"] not in MUTATING_METHODS
            or not (path == self.prefix or path.startswith(self.prefix + "/"))
        ):
            await self.app(scope, receive, send)
            return
        ctx = AuditContext()
        scope.setdefault("state", {})[_STATE_KEY] = ctx
        status, error_body = 500, bytearray()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and status >= 400 and len(error_body) < _MAX_ERROR_BODY:
                error_body.extend(message.get("body", b"")[: _MAX_ERROR_BODY - len(error_body)])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            entry = self._entry(scope, ctx, status, bytes(error_body))
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self._write_bounded, entry)

    def _entry(self, scope: Scope, ctx: AuditContext, status: int, error_body: bytes) -> AuditLogCreate:
        template = route_template(scope)
        template = scope["path"] if template == "unmatched" else template
        template = template[len(self.prefix) :] if template.startswith(self.prefix) else template
        path_params = dict(scope.get("path_params") or {})
        resource_type, resource_id, action = describe(template, path_params, scope["method"])
        detail = dict(ctx.detail)
        if path_params:
            detail["path_params"] = {k: str(v) for k, v in path_params.items()}
        if error_body:
            try:
                error = json.loads(error_body).get("detail")
            except (ValueError, AttributeError):
                error = None
            if isinstance(error, str):
                detail["error"] = error
            elif error is not None:
                detail["error"] = "validation error"
                detail["fields"] = [".".join(map(str, e.get("loc", []))) for e in error if isinstance(e, dict)]
        rid = ctx.resource_id or resource_id
        return _without_nul(AuditLogCreate(
            user_id=ctx.user_id,
            username=ctx.username,
            method=scope["method"],
            path=scope["path"][:1024],
            action=(ctx.action or action)[:64],
            resource_type=(ctx.resource_type or resource_type)[:64],
            resource_id=rid[:128] if rid else None,
            status_code=status,
            client_ip=client_ip(scope),
            user_agent=(_header(scope, b"user-agent") or "")[:512] or None,
            detail=detail,
        ))

    def _write_bounded(self, entry: AuditLogCreate) -> None:
        """Write the row, unless it is one too many from an anonymous client this minute.

        Requests with no valid token (failed logins, forged tokens, floods) get
        `anonymous_per_ip_per_min` rows per client IP per minute; the rest are counted in
        `witness_audit_dropped_total` only. A Redis failure writes the row (fail open).
        """
        if entry.user_id is None and self.redis is not None and self.anonymous_per_ip_per_min is not None:
            try:
                result = hit(self.redis, f"{self.key_prefix}rl:audit:{entry.client_ip}",
                             limit=self.anonymous_per_ip_per_min)  # fmt: skip
            except RedisError:
                result = None
            if result is not None and not result.allowed:
                if self.dropped is not None:
                    self.dropped.inc()
                return
        self._write(entry)

    def _write(self, entry: AuditLogCreate) -> None:
        try:
            with Session(self.engine) as session:
                crud.add_audit(session, entry)
        except SQLAlchemyError:
            log.exception("could not write the audit row for %s %s", entry.method, entry.path)
