"""`/pos`: the product catalog, terminals and their checkout links, till sessions, transactions and POS-file import.

Reading needs `READ`; running sessions and importing files `POS_OPERATE` (operators); editing
the catalog and terminals `POS_MANAGE` (supervisors). The rules are `domain.pos`'s, applied by
`storage.pos`: a refused step is a 4xx and changes nothing.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, HTTPException, Path, Response, UploadFile, status
from pydantic import BaseModel, Field

from deployments.api.audit import audit_as
from deployments.api.deps import ConfigDep, SessionDep, require
from deployments.api.permissions import Permission
from deployments.api.schemas import Page
from deployments.api.tags import Tags
from domain.pos import NoOpenSessionError, PaymentMethod, UnknownSkuError
from storage import pos
from storage.crud import InUseError, NotFoundError
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
TerminalId = Annotated[str, Path(pattern=TERMINAL_ID_PATTERN, description="The till's id, e.g. `till-1`.")]


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
def list_terminals(session: SessionDep, page: Annotated[Page, Depends()]) -> PosTerminalsPublic:
    """List terminals by id."""
    rows, count = pos.list_terminals(session, limit=page.limit, offset=page.offset)
    return PosTerminalsPublic(data=[PosTerminalPublic.model_validate(r) for r in rows], count=count)


@router.get("/terminals/{terminal_id}")
def get_terminal(session: SessionDep, terminal_id: TerminalId) -> PosTerminalPublic:
    """One terminal with its checkout link."""
    row = pos.get_terminal(session, terminal_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "terminal not found")
    return PosTerminalPublic.model_validate(row)


@router.put("/terminals/{terminal_id}",
            dependencies=[_audit("terminal.update", "pos_terminal", "terminal_id"), _MANAGE])  # fmt: skip
def put_terminal(session: SessionDep, response: Response, terminal_id: TerminalId,
                 body: PosTerminalUpdate) -> PosTerminalPublic:  # fmt: skip
    """Create a terminal or replace its camera and checkout zone (201 when created)."""
    try:
        row, created = pos.put_terminal(session, terminal_id, camera_id=body.camera_id, zone=body.zone)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    if created:
        response.status_code = status.HTTP_201_CREATED
    return PosTerminalPublic.model_validate(row)


@router.delete("/terminals/{terminal_id}", status_code=status.HTTP_204_NO_CONTENT,
               dependencies=[_audit("terminal.delete", "pos_terminal", "terminal_id"), _MANAGE])  # fmt: skip
def delete_terminal(session: SessionDep, terminal_id: TerminalId) -> None:
    """Delete a terminal (refused while it has an open session)."""
    try:
        pos.delete_terminal(session, terminal_id)
    except NotFoundError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "terminal not found") from None
    except InUseError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


# --------------------------------------------------------------------------------- sessions
@router.get("/terminals/{terminal_id}/session")
def get_open_session(session: SessionDep, terminal_id: TerminalId) -> PosSessionPublic:
    """The terminal's open session with its lines and subtotal."""
    row = pos.get_open_session(session, terminal_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no open session")
    return _session_public(row)


@router.post("/terminals/{terminal_id}/session", status_code=status.HTTP_201_CREATED,
             dependencies=[_audit("session.start", "pos_session", "terminal_id"), _OPERATE])  # fmt: skip
def start_session(session: SessionDep, terminal_id: TerminalId) -> PosSessionPublic:
    """Open a session on the terminal (it takes the terminal's camera and zone)."""
    try:
        return _session_public(pos.start_session(session, terminal_id))
    except pos.SessionAlreadyOpenError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


@router.post("/terminals/{terminal_id}/session/scan",
             dependencies=[_audit("session.scan", "pos_session", "terminal_id"), _OPERATE])  # fmt: skip
def scan_item(session: SessionDep, terminal_id: TerminalId, body: ScanBody) -> PosSessionPublic:
    """Scan `quantity` units of a product into the open session."""
    try:
        return _session_public(pos.scan_item(session, terminal_id, body.sku, body.quantity))
    except NoOpenSessionError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except UnknownSkuError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


@router.post("/terminals/{terminal_id}/session/complete", status_code=status.HTTP_201_CREATED,
             dependencies=[_audit("session.complete", "pos_session", "terminal_id"), _OPERATE])  # fmt: skip
def complete_session(session: SessionDep, terminal_id: TerminalId, body: CompleteBody) -> PosTransactionPublic:
    """Close the open session as a sale; returns the stored transaction."""
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
def void_session(session: SessionDep, terminal_id: TerminalId) -> PosSessionPublic:
    """Cancel the open session; nothing is billed."""
    try:
        return _session_public(pos.void_session(session, terminal_id))
    except NoOpenSessionError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


# ----------------------------------------------------------------------------- transactions
@router.get("/transactions")
def list_transactions(session: SessionDep, query: Annotated[TransactionQuery, Depends()]) -> PosTransactionsPublic:
    """List transactions matching the filters, newest first."""
    rows, count = pos.list_transactions(
        session, terminal_id=query.terminal_id, camera_id=query.camera_id, zone=query.zone,
        since_s=_to_epoch_s(query.since), until_s=_to_epoch_s(query.until), limit=query.limit, offset=query.offset,
    )  # fmt: skip
    return PosTransactionsPublic(data=[PosTransactionPublic.model_validate(r) for r in rows], count=count)


@router.get("/transactions/{transaction_id}")
def get_transaction(session: SessionDep, transaction_id: str) -> PosTransactionPublic:
    """One transaction with its lines."""
    row = pos.get_transaction(session, transaction_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "transaction not found")
    return PosTransactionPublic.model_validate(row)


@router.post("/transactions/import", status_code=status.HTTP_201_CREATED,
             dependencies=[_audit("transaction.import", "pos_transaction"), _OPERATE])  # fmt: skip
def import_transactions(session: SessionDep, config: ConfigDep,
                        file: Annotated[UploadFile, File(description="A POS file: .json or .csv")],
                        ) -> PosImportPublic:  # fmt: skip
    """Import a POS file (JSON or CSV, by extension or content type), all or nothing."""
    source = (file.filename or "upload").replace("\\", "/").rsplit("/", 1)[-1] or "upload"
    try:
        fmt = pos.pos_format(file.filename, file.content_type)
    except ValueError as exc:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, str(exc)) from None
    limit = config.max_upload_mb * 2**20
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"upload too large (limit {config.max_upload_mb} MiB)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"{source}: not UTF-8 text (byte {exc.start})") from None  # fmt: skip
    try:
        stored = pos.import_transactions(session, text, source=source, fmt=fmt)
    except pos.DuplicateTransactionError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except ValueError as exc:  # PosFileError: "source:line: problem"
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return PosImportPublic(source=source, count=len(stored), transaction_ids=[t.id for t in stored])

