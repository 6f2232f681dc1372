"""`/pos`: the product catalog, terminals and their checkout links, till sessions, transactions and POS-file import.

Reading needs `READ`; running sessions and importing files `POS_OPERATE` (operators); editing
the catalog and terminals `POS_MANAGE` (supervisors). The rules are `domain.pos`'s, applied by
`storage.pos`: a refused step is a 4xx and changes nothing.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from deployments.api.audit import audit_as
from deployments.api.deps import ConfigDep, ScopeDep, SessionDep, not_found, require
from deployments.api.permissions import Permission
from deployments.api.schemas import Page
from deployments.api.tags import Tags
from deployments.api.uploads import UploadError, UploadTooLargeError, receive_upload
from domain.pos import NoOpenSessionError, PaymentMethod, UnknownSkuError
from storage import pos
from storage.crud import InUseError, NotFoundError
from storage.scope import CameraScope
from storage.models import (
    TERMINAL_ID_PATTERN,
    PosProductCreate,
    PosProductPublic,
    PosProductsPublic,
    PosProductUpdate,
    PosSessionPublic,
    PosSessionRow,
    PosTerminalPublic,
    PosTerminalsPublic,
    PosTerminalUpdate,
    PosTransactionPublic,
    PosTransactionsPublic,
)

__all__ = ["router", "TransactionQuery", "ScanBody", "CompleteBody", "PosImportPublic"]

router = APIRouter(prefix="/pos", tags=[Tags.POS], dependencies=[Depends(require(Permission.READ))])
_MANAGE = Depends(require(Permission.POS_MANAGE))
_OPERATE = Depends(require(Permission.POS_OPERATE))
TerminalId = Annotated[str, PathParam(pattern=TERMINAL_ID_PATTERN, description="The till's id, e.g. `till-1`.")]


def _audit(action: str, resource_type: str, id_param: str | None = None) -> Any:
    """Record the request as `pos.{action}` on the path's resource."""
    return Depends(audit_as(f"pos.{action}", resource_type=resource_type, id_param=id_param))


def _to_epoch_s(value: float | datetime | None) -> float | None:
    """Epoch seconds of a query time (a naive datetime is UTC)."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    return value


class TransactionQuery(Page):
    """Transaction filters; `since` / `until` are epoch seconds or ISO 8601 (naive = UTC)."""

    terminal_id: str | None = None
    camera_id: str | None = None
    zone: str | None = None
    since: float | datetime | None = Field(None, description="Only transactions ending at or after this time")
    until: float | datetime | None = Field(None, description="Only transactions starting at or before this time")


class ScanBody(BaseModel):
    """One scan: `quantity` units of `sku`."""

    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(1, ge=1, le=10_000)


class CompleteBody(BaseModel):
    """How the sale was paid."""

    payment_method: PaymentMethod


class PosImportPublic(BaseModel):
    """What an import stored."""

    source: str
    count: int
    transaction_ids: list[str]


def _check_terminal(session: SessionDep, scope: CameraScope, terminal_id: str) -> None:
    """404 for a terminal outside the user's cameras (one of a camera they cannot see, or of none
    for users limited to camera groups; an unregistered till counts as one of no camera)."""
    if scope.all_cameras:
        return
    row = pos.get_terminal(session, terminal_id)
    if row is None or not scope.sees_camera(session, row.camera_id):
        raise not_found("terminal")


def _session_public(row: PosSessionRow) -> PosSessionPublic:
    return PosSessionPublic.model_validate({**row.model_dump(), "subtotal": pos.session_subtotal(row)})


# ---------------------------------------------------------------------------------- catalog
@router.get("/products")
def list_products(session: SessionDep, page: Annotated[Page, Depends()]) -> PosProductsPublic:
    """List the catalog's products by SKU."""
    rows, count = pos.list_products(session, limit=page.limit, offset=page.offset)
    return PosProductsPublic(data=[PosProductPublic.model_validate(r) for r in rows], count=count)


@router.get("/products/{sku}")
def get_product(session: SessionDep, sku: str) -> PosProductPublic:
    """One product."""
    row = pos.get_product(session, sku)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "product not found")
    return PosProductPublic.model_validate(row)


@router.post("/products", status_code=status.HTTP_201_CREATED,
             dependencies=[_audit("product.create", "pos_product"), _MANAGE])  # fmt: skip
def add_product(session: SessionDep, body: PosProductCreate) -> PosProductPublic:
    """Add a product to the catalog."""
    try:
        return PosProductPublic.model_validate(pos.add_product(session, sku=body.sku, name=body.name, price=body.price))
    except pos.DuplicateSkuError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


@router.patch("/products/{sku}", dependencies=[_audit("product.update", "pos_product", "sku"), _MANAGE])
def update_product(session: SessionDep, sku: str, body: PosProductUpdate) -> PosProductPublic:
    """Change a product's name and/or price."""
    try:
        return PosProductPublic.model_validate(pos.update_product(session, sku, name=body.name, price=body.price))
    except NotFoundError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "product not found") from None
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


@router.delete("/products/{sku}", status_code=status.HTTP_204_NO_CONTENT,
               dependencies=[_audit("product.delete", "pos_product", "sku"), _MANAGE])  # fmt: skip
def delete_product(session: SessionDep, sku: str) -> None:
    """Remove a product from the catalog."""
    try:
        pos.delete_product(session, sku)
    except NotFoundError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "product not found") from None


# -------------------------------------------------------------------------------- terminals
@router.get("/terminals")
def list_terminals(session: SessionDep, scope: ScopeDep, page: Annotated[Page, Depends()]) -> PosTerminalsPublic:
    """List terminals by id."""
    rows, count = pos.list_terminals(session, limit=page.limit, offset=page.offset, scope=scope)
    return PosTerminalsPublic(data=[PosTerminalPublic.model_validate(r) for r in rows], count=count)


@router.get("/terminals/{terminal_id}")
def get_terminal(session: SessionDep, scope: ScopeDep, terminal_id: TerminalId) -> PosTerminalPublic:
    """One terminal with its checkout link."""
    _check_terminal(session, scope, terminal_id)
    row = pos.get_terminal(session, terminal_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "terminal not found")
    return PosTerminalPublic.model_validate(row)


@router.put("/terminals/{terminal_id}",
            dependencies=[_audit("terminal.update", "pos_terminal", "terminal_id"), _MANAGE])  # fmt: skip
def put_terminal(session: SessionDep, scope: ScopeDep, response: Response, terminal_id: TerminalId,
                 body: PosTerminalUpdate) -> PosTerminalPublic:  # fmt: skip
    """Create a terminal or replace its camera and checkout zone (201 when created)."""
    if not scope.all_cameras:
        if pos.get_terminal(session, terminal_id) is not None:
            _check_terminal(session, scope, terminal_id)
        if not scope.sees_camera(session, body.camera_id):
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                f"camera_id must name one of your cameras, but got {body.camera_id!r}")
    try:
        row, created = pos.put_terminal(session, terminal_id, camera_id=body.camera_id, zone=body.zone)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    if created:
        response.status_code = status.HTTP_201_CREATED
    return PosTerminalPublic.model_validate(row)


@router.delete("/terminals/{terminal_id}", status_code=status.HTTP_204_NO_CONTENT,
               dependencies=[_audit("terminal.delete", "pos_terminal", "terminal_id"), _MANAGE])  # fmt: skip
def delete_terminal(session: SessionDep, scope: ScopeDep, terminal_id: TerminalId) -> None:
    """Delete a terminal (refused while it has an open session)."""
    _check_terminal(session, scope, terminal_id)
    try:
        pos.delete_terminal(session, terminal_id)
    except NotFoundError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "terminal not found") from None
    except InUseError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


# --------------------------------------------------------------------------------- sessions
@router.get("/terminals/{terminal_id}/session")
def get_open_session(session: SessionDep, scope: ScopeDep, terminal_id: TerminalId) -> PosSessionPublic:
    """The terminal's open session with its lines and subtotal."""
    _check_terminal(session, scope, terminal_id)
    row = pos.get_open_session(session, terminal_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no open session")
    return _session_public(row)


@router.post("/terminals/{terminal_id}/session", status_code=status.HTTP_201_CREATED,
             dependencies=[_audit("session.start", "pos_session", "terminal_id"), _OPERATE])  # fmt: skip
def start_session(session: SessionDep, scope: ScopeDep, terminal_id: TerminalId) -> PosSessionPublic:
    """Open a session on the terminal (it takes the terminal's camera and zone)."""
    _check_terminal(session, scope, terminal_id)
    try:
        return _session_public(pos.start_session(session, terminal_id))
    except pos.SessionAlreadyOpenError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


@router.post("/terminals/{terminal_id}/session/scan",
             dependencies=[_audit("session.scan", "pos_session", "terminal_id"), _OPERATE])  # fmt: skip
def scan_item(session: SessionDep, scope: ScopeDep, terminal_id: TerminalId, body: ScanBody) -> PosSessionPublic:
    """Scan `quantity` units of a product into the open session."""
    _check_terminal(session, scope, terminal_id)
    try:
        return _session_public(pos.scan_item(session, terminal_id, body.sku, body.quantity))
    except NoOpenSessionError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except UnknownSkuError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


@router.post("/terminals/{terminal_id}/session/complete", status_code=status.HTTP_201_CREATED,
             dependencies=[_audit("session.complete", "pos_session", "terminal_id"), _OPERATE])  # fmt: skip
def complete_session(session: SessionDep, scope: ScopeDep, terminal_id: TerminalId,
                     body: CompleteBody) -> PosTransactionPublic:  # fmt: skip
    """Close the open session as a sale; returns the stored transaction."""
    _check_terminal(session, scope, terminal_id)
    try:
        return PosTransactionPublic.model_validate(pos.complete_session(session, terminal_id, body.payment_method))
    except NoOpenSessionError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except pos.DuplicateTransactionError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except ValueError as exc:  # no items scanned
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


@router.post("/terminals/{terminal_id}/session/void",
             dependencies=[_audit("session.void", "pos_session", "terminal_id"), _OPERATE])  # fmt: skip
def void_session(session: SessionDep, scope: ScopeDep, terminal_id: TerminalId) -> PosSessionPublic:
    """Cancel the open session; nothing is billed."""
    _check_terminal(session, scope, terminal_id)
    try:
        return _session_public(pos.void_session(session, terminal_id))
    except NoOpenSessionError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


# ----------------------------------------------------------------------------- transactions
@router.get("/transactions")
def list_transactions(session: SessionDep, scope: ScopeDep,
                      query: Annotated[TransactionQuery, Depends()]) -> PosTransactionsPublic:  # fmt: skip
    """List transactions matching the filters, newest first."""
    rows, count = pos.list_transactions(
        session, terminal_id=query.terminal_id, camera_id=query.camera_id, zone=query.zone,
        since_s=_to_epoch_s(query.since), until_s=_to_epoch_s(query.until), limit=query.limit, offset=query.offset,
        scope=scope,
    )  # fmt: skip
    return PosTransactionsPublic(data=[PosTransactionPublic.model_validate(r) for r in rows], count=count)


@router.get("/transactions/{transaction_id}")
def get_transaction(session: SessionDep, scope: ScopeDep, transaction_id: str) -> PosTransactionPublic:
    """One transaction with its lines."""
    row = pos.get_transaction(session, transaction_id)
    if row is None or not scope.sees_camera(session, row.camera_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "transaction not found")
    return PosTransactionPublic.model_validate(row)


_IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary", "description": "A POS file: .json or .csv"}},
        }}},
    }
}  # fmt: skip


@router.post("/transactions/import", status_code=status.HTTP_201_CREATED, openapi_extra=_IMPORT_BODY,
             responses={400: {}, 413: {}, 415: {}},
             dependencies=[_audit("transaction.import", "pos_transaction"), _OPERATE])  # fmt: skip
async def import_transactions(request: Request, session: SessionDep, scope: ScopeDep,
                              config: ConfigDep) -> PosImportPublic:  # fmt: skip
    """Import a POS file (JSON or CSV, by extension or content type), all or nothing."""
    limit = config.max_import_mb * 2**20
    try:
        upload = await receive_upload(request, upload_dir=Path(tempfile.gettempdir()), limit_bytes=limit + 64 * 1024,
                                      in_memory=frozenset({"file"}), field_limit_bytes=limit,
                                      max_parts=config.max_form_parts)  # fmt: skip
    except UploadTooLargeError:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"upload too large (limit {config.max_import_mb} MiB)") from None
    except UploadError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    upload.discard()  # only the in-memory `file` part is used
    if "file" not in upload.filenames:
        raise RequestValidationError([{"type": "missing", "loc": ("body", "file"), "msg": "Field required (a file)"}])
    filename = upload.filenames["file"]
    source = filename.replace("\\", "/").rsplit("/", 1)[-1] or "upload"
    try:
        fmt = pos.pos_format(filename, upload.content_types.get("file"))
    except ValueError as exc:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, str(exc)) from None
    try:
        text = upload.fields["file"].decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"{source}: not UTF-8 text (byte {exc.start})") from None  # fmt: skip
    try:
        stored = await run_in_threadpool(
            lambda: pos.import_transactions(session, text, source=source, fmt=fmt, scope=None if scope.all_cameras else scope))
    except pos.DuplicateTransactionError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except ValueError as exc:  # PosFileError: "source:line: problem"
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return PosImportPublic(source=source, count=len(stored), transaction_ids=[t.id for t in stored])
