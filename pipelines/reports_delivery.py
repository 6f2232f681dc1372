"""Delivering a scheduled report through the platform's notifier: email (the file attached) and webhooks.

`ReportNotifier` is the alert `actors.notifier.Notifier` with one more kind of message: it sends
with the same SMTP settings and signs webhook bodies with the same secret and headers
(`X-Witness-Signature`, `X-Witness-Delivery`; `X-Witness-Event: report`), retrying with the same
backoff. Webhooks get JSON (the report's site, range, file name, size and download path; receivers
fetch the file with a token); email gets the file attached when it is at most `max_attachment_mb`,
else the download link.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from actors.notifier import DELIVERY_HEADER, EVENT_HEADER, Notifier
from domain.notifications import SIGNATURE_HEADER, sign
from storage.analytics_models import ExportJob
from storage.models import new_id

__all__ = ["ReportNotifier", "DeliveryOutcome", "deliver_report", "report_message"]

log = logging.getLogger(__name__)


@dataclass
class DeliveryOutcome:
    """Where a report went: addresses and URLs reached, and those that failed (→ error)."""

    emailed: list[str] = field(default_factory=list)
    posted: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def report_message(job: ExportJob, public_url: str = "") -> dict[str, Any]:
    """The webhook body of a finished report job."""
    p = job.params or {}
    path = f"/api/v1/export/jobs/{job.id}/download"
    return {
        "kind": "report", "export_id": job.id, "site": p.get("site"), "title": p.get("title"),
        "from": p.get("from"), "to": p.get("to"), "format": job.format, "filename": job.filename,
        "size_bytes": job.size_bytes, "schedule_id": job.schedule_id,
        "download_path": path, "download_url": f"{public_url.rstrip('/')}{path}" if public_url else None,
    }  # fmt: skip


class ReportNotifier(Notifier):
    """A `Notifier` that also delivers reports (see the module docstring)."""

    max_attachment_mb: float = 10.0

    def post_report(self, url: str, message: dict[str, Any]) -> str | None:
        """POST the report message to `url`, retrying with the notifier's backoff; `None` when delivered, else the error."""
        body = json.dumps(message, separators=(",", ":"), sort_keys=True).encode()
        delivery_id = new_id()
        error: str | None = None
        for attempt in range(self.config.max_attempts):
            if attempt:
                time.sleep(self.delays_s[attempt - 1])
            headers = {"Content-Type": "application/json", DELIVERY_HEADER: delivery_id, EVENT_HEADER: "report",
                       SIGNATURE_HEADER: sign(self.config.webhook_secret, body, int(time.time()))}  # fmt: skip
            try:
                response = self._http.post(url, content=body, headers=headers)
                if response.is_success:
                    return None
                error = f"HTTP {response.status_code}: {response.text.strip()[:300]}"
            except Exception as exc:  # noqa: BLE001  (any transport error is retried, then reported)
                error = f"{type(exc).__name__}: {exc}"
        return error

    def email_report(self, addresses: list[str], subject: str, text: str, attachment: tuple[str, str, bytes] | None) -> dict[str, str]:
        """Email `addresses` (one message each); returns address → error for those not sent.

        Raises:
            RuntimeError: email is off (`smtp_host` empty).
        """
        c = self.config
        if not c.smtp_host:
            raise RuntimeError("email is off: set NOTIFY__SMTP_HOST to deliver reports by email")
        failed: dict[str, str] = {}
        with smtplib.SMTP(c.smtp_host, c.smtp_port, timeout=c.timeout_s) as smtp:
            if c.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if c.smtp_user:
                smtp.login(c.smtp_user, c.smtp_password or "")
            for address in addresses:
                message = EmailMessage()
                message["From"], message["To"], message["Subject"] = c.smtp_from, address, subject
                message.set_content(text)
                if attachment is not None:
                    name, content_type, data = attachment
                    main, _, sub = content_type.partition("/")
                    message.add_attachment(data, maintype=main, subtype=sub or "octet-stream", filename=name)
                try:
                    smtp.send_message(message)
                except smtplib.SMTPRecipientsRefused as exc:
                    failed[address] = f"refused: {exc.recipients}"
        return failed


def deliver_report(job: ExportJob, *, store: Any, engine: Any, redis: Any, notify: dict[str, Any], emails: list[str],
                   webhook_urls: list[str]) -> DeliveryOutcome:  # fmt: skip
    """Send a finished report to its schedule's recipients (errors are collected, never raised)."""
    outcome = DeliveryOutcome()
    config = dict(notify)
    if webhook_urls and len(config.get("webhook_secret") or "") < 16:
        for url in webhook_urls:
            outcome.failed[url] = "NOTIFY__WEBHOOK_SECRET (>= 16 characters) is needed to sign report webhooks"
        webhook_urls = []
    config["webhook_urls"] = []  # the notifier's own alert URLs are not report recipients
    notifier = ReportNotifier(engine, redis, config)
    try:
        message = report_message(job, notifier.config.public_url)
        for url in webhook_urls:
            error = notifier.post_report(url, message)
            if error is None:
                outcome.posted.append(url)
            else:
                outcome.failed[url] = error
        if emails:
            data = store.get_bytes(job.key) if job.key else b""
            small = 0 < len(data) <= ReportNotifier.max_attachment_mb * 1024 * 1024
            p = job.params or {}
            subject = f"[Digital Witness] {p.get('title') or p.get('site')} report {p.get('from', '')[:10]} → {p.get('to', '')[:10]}"
            link = message["download_url"] or message["download_path"]
            text = (f"The scheduled {job.format.upper()} report of {p.get('title') or p.get('site')} for "
                    f"{p.get('from')} to {p.get('to')} is ready.\n\n"
                    + ("It is attached.\n" if small else f"Download it (sign in first): {link}\n"))  # fmt: skip
            try:
                failed = notifier.email_report(emails, subject, text,
                                               (job.filename or "report", job.content_type or "application/octet-stream", data)
                                               if small else None)  # fmt: skip
            except (OSError, smtplib.SMTPException, RuntimeError) as exc:
                failed = {a: f"{type(exc).__name__}: {exc}" for a in emails}
            outcome.failed.update(failed)
            outcome.emailed += [a for a in emails if a not in failed]
    finally:
        notifier.close()
    for target, error in outcome.failed.items():
        log.warning("report %s not delivered to %s: %s", job.id, target, error)
    return outcome
