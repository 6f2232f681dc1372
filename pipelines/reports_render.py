"""Report files: PDF (reportlab tables + matplotlib charts + heatmaps), Excel (openpyxl, one sheet per
table, typed cells), CSV (a ZIP of one file per table) and JSON.

Every writer writes to the path it is given and nothing else; callers write to a temporary name
and move it into place once complete, so a failed render never leaves a readable half file.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from domain.analytics_report import ColumnType, Report, ReportFormat, ReportTable, site_zone

__all__ = ["render_report", "CONTENT_TYPES", "EXTENSIONS", "write_json", "write_csv_zip", "write_xlsx", "write_pdf"]

CONTENT_TYPES = {
    ReportFormat.PDF: "application/pdf",
    ReportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ReportFormat.CSV: "application/zip",
    ReportFormat.JSON: "application/json",
}
EXTENSIONS = {ReportFormat.PDF: "pdf", ReportFormat.XLSX: "xlsx", ReportFormat.CSV: "zip", ReportFormat.JSON: "json"}
_PDF_MAX_ROWS = 60  # per table in the PDF; the full tables are in the Excel / CSV / JSON files


def _cell(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


# ------------------------------------------------------------------------------------------ JSON
def write_json(report: Report, path: Path) -> None:
    """`{"site", "title", "from", "to", "timezone", "generated_at", "header", "notes", "tables": {name:
    {"title", "columns": [{"key", "title", "type"}], "rows": [{key: value}]}}}`."""
    doc = {
        "site": report.site, "title": report.site_title, "from": report.t_from.isoformat(), "to": report.t_to.isoformat(),
        "timezone": report.timezone, "generated_at": report.generated_at.isoformat(), "header": report.header,
        "notes": list(report.notes),
        "tables": {t.name: {"title": t.title, "columns": [{"key": c.key, "title": c.title, "type": c.type.value}
                                                         for c in t.columns], "rows": t.as_dicts()}
                   for t in report.tables},
    }  # fmt: skip
    path.write_text(json.dumps(doc, indent=1, default=str))


# ------------------------------------------------------------------------------------------- CSV
def write_csv_zip(report: Report, path: Path) -> None:
    """A ZIP with `{table}.csv` per table (header row of column keys) and `report.txt` (site, range, notes)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("report.txt", "\n".join([report.header, f"generated {report.generated_at.isoformat()}",
                                             *report.notes]) + "\n")  # fmt: skip
        for table in report.tables:
            buf = io.StringIO()
            w = csv.writer(buf)
            w.writerow([c.key for c in table.columns])
            for row in table.rows:
                w.writerow(["" if v is None else _cell(v) for v in row])
            zf.writestr(f"{table.name}.csv", buf.getvalue())


# ----------------------------------------------------------------------------------------- Excel
def write_xlsx(report: Report, path: Path) -> None:
    """One sheet per table (header row bold and frozen; numbers and times as typed cells), after an
    `about` sheet with the site, the range and the notes."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    about = wb.active
    about.title = "about"
    tz = site_zone(report.timezone)
    for row in (("Site", report.site_title), ("Site key", report.site),
                ("From", report.t_from.astimezone(tz).replace(tzinfo=None)),
                ("To", report.t_to.astimezone(tz).replace(tzinfo=None)), ("Time zone", report.timezone),
                ("Generated (UTC)", report.generated_at.replace(tzinfo=None))):  # fmt: skip
        about.append(row)
    about.append(())
    for note in report.notes:
        about.append(("Note", note))
    about.column_dimensions["A"].width, about.column_dimensions["B"].width = 18, 60
    for row in about.iter_rows(min_row=3, max_row=6, min_col=2, max_col=2):
        for cell in row:
            if isinstance(cell.value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm"
    for table in report.tables:
        ws = wb.create_sheet(table.name[:31])
        ws.append([c.title for c in table.columns])
        for cell in ws[1]:
            cell.font = Font(bold=True)
        ws.freeze_panes = "A2"
        for row in table.rows:
            ws.append([_xlsx_value(c.type, v) for c, v in zip(table.columns, row)])
        for i, c in enumerate(table.columns, start=1):
            letter = ws.cell(row=1, column=i).column_letter
            ws.column_dimensions[letter].width = max(10, min(40, len(c.title) + 2))
            if c.type is ColumnType.DATETIME:
                for (cell,) in ws.iter_rows(min_row=2, min_col=i, max_col=i):
                    cell.number_format = "yyyy-mm-dd hh:mm"
    wb.save(path)


def _xlsx_value(kind: ColumnType, value: Any) -> Any:
    if value is None:
        return None
    if kind is ColumnType.DATETIME and isinstance(value, datetime):
        return value.replace(tzinfo=None)  # Excel has no time zones: UTC, as the column title says
    if kind is ColumnType.INT:
        return int(value)
    if kind is ColumnType.FLOAT:
        return float(value)
    return str(value)


# ------------------------------------------------------------------------------------------- PDF
def _charts(report: Report) -> list[tuple[str, bytes]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    out: list[tuple[str, bytes]] = []

    def save(fig: Any, title: str) -> None:
        buf = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=110)
        plt.close(fig)
        out.append((title, buf.getvalue()))

    occupancy = report.charts.get("occupancy", {})
    if occupancy:
        fig, ax = plt.subplots(figsize=(7.5, 3.0))
        for label, (t, mean, _peak) in sorted(occupancy.items()):
            ax.plot(t, mean, label=label, linewidth=1.4)
        ax.set_ylabel("people (mean)")
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(mdates.AutoDateLocator()))
        ax.legend(fontsize=7, loc="upper right")
        ax.grid(alpha=0.3)
        save(fig, "Occupancy over time")
    hours = report.charts.get("hours") or []
    if any(hours):
        fig, ax = plt.subplots(figsize=(7.5, 2.4))
        ax.bar(range(24), hours, color="#3b6fb6")
        ax.set_xticks(range(0, 24, 2))
        ax.set_xlabel(f"hour of day ({report.timezone})")
        ax.set_ylabel("entries")
        save(fig, "Entries per hour of day")
    dwell = {k: v for k, v in report.charts.get("dwell", {}).items() if sum(v[1])}
    if dwell:
        fig, ax = plt.subplots(figsize=(7.5, 2.8))
        first_edges = next(iter(dwell.values()))[0]
        labels = [f"{a:g}-{b:g}" for a, b in zip(first_edges, first_edges[1:])]
        labels[-1] = f"≥{first_edges[-2]:g}"
        width = 0.8 / len(dwell)
        for i, (label, (_edges, hist)) in enumerate(sorted(dwell.items())):
            ax.bar([x + i * width for x in range(len(hist))], hist, width=width, label=label)
        ax.set_xticks([x + 0.4 - width / 2 for x in range(len(labels))], labels, fontsize=7)
        ax.set_xlabel("dwell (s)")
        ax.set_ylabel("visits")
        ax.legend(fontsize=7)
        save(fig, "Dwell distribution per zone")
    return out


def write_pdf(report: Report, path: Path) -> None:
    """A PDF: the site and range in every page's header, notes, charts, heatmaps and the tables."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import cm
    from reportlab.platypus import Image, LongTable, Paragraph, SimpleDocTemplate, Spacer, TableStyle

    styles = getSampleStyleSheet()
    doc = SimpleDocTemplate(str(path), pagesize=A4, leftMargin=1.5 * cm, rightMargin=1.5 * cm, topMargin=2.2 * cm,
                            bottomMargin=1.6 * cm, title=f"Store report — {report.site_title}",
                            author="Digital Witness")  # fmt: skip
    width = A4[0] - 3 * cm

    def header(canvas: Any, _doc: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica-Bold", 9)
        canvas.drawString(1.5 * cm, A4[1] - 1.2 * cm, report.header)
        canvas.setFont("Helvetica", 8)
        canvas.drawRightString(A4[0] - 1.5 * cm, 1.0 * cm, f"page {canvas.getPageNumber()}")
        canvas.drawString(1.5 * cm, 1.0 * cm, f"generated {report.generated_at.strftime('%Y-%m-%d %H:%M UTC')}")
        canvas.restoreState()

    story: list[Any] = [Paragraph(f"Store report: {report.site_title}", styles["Title"]),
                        Paragraph(report.header, styles["Normal"]), Spacer(1, 6)]  # fmt: skip
    for note in report.notes:
        story.append(Paragraph(f"• {note}", styles["Italic"]))
    story.append(Spacer(1, 8))
    story += _table_flowables(report.table("summary"), styles, width, LongTable, TableStyle, colors, Paragraph)
    for title, png in _charts(report):
        story += [Paragraph(title, styles["Heading3"]), Image(io.BytesIO(png), width=width, height=width * 0.38,
                                                             kind="proportional")]  # fmt: skip
    for camera_id, png in report.heatmaps.items():  # the floor plan first, then cameras in order
        story += [Paragraph(f"Heatmap: {camera_id} (person-seconds, red = most)", styles["Heading3"]),
                  Image(io.BytesIO(png), width=width * 0.8, height=width * 0.6, kind="proportional")]  # fmt: skip
    for table in report.tables:
        if table.name != "summary":
            story += _table_flowables(table, styles, width, LongTable, TableStyle, colors, Paragraph)
    doc.build(story, onFirstPage=header, onLaterPages=header)


def _fmt(kind: ColumnType, value: Any) -> str:
    if value is None:
        return "—"
    if kind is ColumnType.FLOAT:
        return f"{float(value):,.2f}"
    if kind is ColumnType.INT:
        return f"{int(value):,}"
    if kind is ColumnType.DATETIME and isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def _table_flowables(table: ReportTable, styles: Any, width: float, LongTable: Any, TableStyle: Any, colors: Any,
                     Paragraph: Any) -> list[Any]:  # noqa: N803  (reportlab class names)
    head = [Paragraph(table.title, styles["Heading3"])]
    if not table.rows:
        return head + [Paragraph("No data in this range.", styles["Normal"])]
    from reportlab.lib.styles import ParagraphStyle

    small = ParagraphStyle("th", parent=styles["Normal"], fontName="Helvetica-Bold", fontSize=7, leading=8)
    rows = table.rows[:_PDF_MAX_ROWS]
    data = [[Paragraph(c.title, small) for c in table.columns]]
    data += [[_fmt(c.type, v) for c, v in zip(table.columns, r)] for r in rows]
    t = LongTable(data, repeatRows=1, colWidths=[width / len(table.columns)] * len(table.columns))
    t.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, -1), "Helvetica", 7),
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 7),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dfe7f3")),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("ALIGN", (1, 1), (-1, -1), "RIGHT"),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ]))  # fmt: skip
    out = head + [t]
    if len(table.rows) > len(rows):
        out.append(Paragraph(f"First {len(rows)} of {len(table.rows)} rows; the Excel, CSV and JSON reports hold "
                             "them all.", styles["Italic"]))  # fmt: skip
    return out


# ------------------------------------------------------------------------------------- dispatch
_WRITERS: dict[ReportFormat, Callable[[Report, Path], None]] = {
    ReportFormat.PDF: write_pdf, ReportFormat.XLSX: write_xlsx, ReportFormat.CSV: write_csv_zip,
    ReportFormat.JSON: write_json,
}  # fmt: skip


def render_report(report: Report, fmt: ReportFormat, path: Path) -> Path:
    """Write `report` as `fmt` to `path` (created or replaced); returns `path`."""
    _WRITERS[ReportFormat(fmt)](report, path)
    return path
