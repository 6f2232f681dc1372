"""An alert's case file as one ZIP: `case.json` (alert, notes, history, evidence) and its evidence clips.

Layout of the archive:

    case.json              the case (JSON, UTF-8): `{"alert", "notes", "history", "events", "clips", "exported_at",
                           "custody"}`: each clip with its `sha256` and the `sha256_recorded` when it was
                           written (chain-of-custody entry `custody_seq`), and the custody chain's head
    clips/<event_id>.mp4   one H.264 clip per evidence clip still in the object store

A clip listed in the alert but missing from the object store (deleted, expired) is recorded in
`case.json` under `clips` with `"missing": true` instead of failing the export. By default the
archive holds each clip's face-masked copy (`domain.privacy.masked_key`); `masked=False` (an
audited unmask) holds the originals. `case.json` says which under `clips[].masked`.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import PurePosixPath
from typing import IO, Any

from sqlmodel import Session

from domain.custody import sha256_hex
from domain.privacy import masked_key
from storage import crud, custody
from storage.models import AlertHistoryPublic, AlertNotePublic, AlertPublic, EventPublic, utcnow
from storage.objectstore import ObjectNotFoundError, ObjectStore

__all__ = ["case_file", "write_case_file", "export_case_file"]


def case_file(session: Session, alert_id: str) -> dict[str, Any]:
    """The case of one alert as JSON-ready data.

    Raises:
        LookupError: no such alert.
    """
    alert = crud.get_alert(session, alert_id)
    if alert is None:
        raise LookupError(f"no alert {alert_id!r}")
    evidence = alert.evidence or {}
    events = [e for e in (crud.get_event(session, i) for i in evidence.get("event_ids", [])) if e is not None]
    return {
        "alert": AlertPublic.model_validate(alert).model_dump(mode="json"),
        "notes": [AlertNotePublic.model_validate(n).model_dump(mode="json") for n in crud.list_notes(session, alert_id)],
        "history": [AlertHistoryPublic.model_validate(h).model_dump(mode="json")
                    for h in crud.list_history(session, alert_id)],
        "events": [EventPublic.model_validate(e).model_dump(mode="json") for e in events],
        "clips": [{"key": k} for k in evidence.get("clip_keys", [])],
        "exported_at": utcnow().isoformat(),
    }


def write_case_file(session: Session, alert_id: str, store: ObjectStore, out: IO[bytes], *,
                    masked: bool = True) -> dict[str, Any]:  # fmt: skip
    """Write the alert's case-file ZIP to `out` (a binary file object) and return the case data.

    Args:
        session: open session.
        alert_id: the alert.
        store: the object store holding the clips.
        out: where the archive goes (a file, `io.BytesIO`, a spooled temporary file...).
        masked: put the clips' face-masked copies in the archive (the originals when False).

    Raises:
        LookupError: no such alert (nothing is written).
    """
    case = case_file(session, alert_id)
    seq, head_hash = custody.head(session)
    case["custody"] = {"head_seq": seq, "head_hash": head_hash}  # the chain's head when the file was made
    stored = [masked_key(c["key"]) if masked else c["key"] for c in case["clips"]]
    recorded = custody.last_writes(session, stored)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for clip, key in zip(case["clips"], stored):
            name = f"clips/{PurePosixPath(clip['key']).name}"
            clip["masked"] = masked
            entry = recorded.get(key)
            clip["sha256_recorded"] = entry.sha256 if entry is not None and entry.action == "write" else None
            clip["custody_seq"] = entry.seq if entry is not None else None
            try:
                data = store.get_bytes(key)
            except ObjectNotFoundError:
                clip["missing"] = True
                continue
            clip["sha256"] = sha256_hex(data)
            zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data, compress_type=zipfile.ZIP_STORED)
            clip["file"], clip["size_bytes"] = name, len(data)
        zf.writestr("case.json", json.dumps(case, indent=2, ensure_ascii=False))
    return case


def export_case_file(session: Session, alert_id: str, store: ObjectStore, out: IO[bytes], *, actor: str,
                     masked: bool = True) -> dict[str, Any]:  # fmt: skip
    """`write_case_file`, kept and recorded: a copy goes to `cases/<alert>/<time>.zip` (sealed and its hash
    logged when the store is an `EvidenceStore`) and an `export` custody entry names who exported it.

    Returns:
        The case data plus `"sha256"` of the archive and its `"key"`.

    Raises:
        LookupError: no such alert (nothing is written or recorded).
    """
    buffer = io.BytesIO()
    case = write_case_file(session, alert_id, store, buffer, masked=masked)
    data = buffer.getvalue()
    key = f"cases/{alert_id}/{utcnow():%Y%m%dT%H%M%S%f}.zip"
    from storage.evidence_store import EvidenceStore

    if isinstance(store, EvidenceStore):  # sealed, and its hash logged as written by `actor`
        store.put_bytes(key, data, "application/zip", actor=actor, alert_id=alert_id)
    else:
        store.put_bytes(key, data, "application/zip")
    digest = sha256_hex(data)
    custody.append(session, actor=actor, action="export", object_key=key, sha256=digest, size_bytes=len(data),
                   alert_id=alert_id, detail={"masked": masked, "clips": len(case["clips"])})
    out.write(data)
    return {**case, "sha256": digest, "key": key}
