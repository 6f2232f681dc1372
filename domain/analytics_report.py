"""Reports: typed tables of analytics figures, and the schedules that produce them.

A `Report` is what every report format renders: the site and range (its header) and named
`ReportTable`s whose columns carry a type, so spreadsheets get numbers and times as typed cells.
`ReportScheduleConfig` is the `reports:` section of a site file (and the API's schedule body);
`next_run` says when a daily or weekly schedule fires next, in the site's time zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "ColumnType",
    "Column",
    "ReportTable",
    "Report",
    "ReportFormat",
    "ReportPeriod",
    "ReportScheduleConfig",
    "next_run",
    "period_range",
    "site_zone",
]


class ColumnType(str, Enum):
    """Cell types: what spreadsheets store (numbers stay numbers, times stay times)."""

    TEXT = "text"
    INT = "int"
    FLOAT = "float"
    DATETIME = "datetime"


@dataclass(frozen=True)
class Column:
    """A report column: its key, its header and its type."""

    key: str
    title: str
    type: ColumnType = ColumnType.TEXT


@dataclass(frozen=True)
class ReportTable:
    """One table of a report: one sheet in Excel, one CSV file, one table in the PDF.

    Attributes:
        name: short key (sheet / file name), e.g. `"occupancy"`.
        title: heading.
        columns: the columns.
        rows: one tuple per row, values matching the columns' types (`None` for no value).

    Raises:
        ValueError: a row with the wrong number of values.
    """

    name: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Any, ...], ...] = ()

    def __post_init__(self) -> None:
        n = len(self.columns)
        for i, row in enumerate(self.rows):
            if len(row) != n:
                raise ValueError(f"table {self.name}: row {i} has {len(row)} values, but there are {n} columns")

    def __len__(self) -> int:
        return len(self.rows)

    def as_dicts(self) -> list[dict[str, Any]]:
        """The rows as `{column key: value}` (datetimes as ISO 8601 strings)."""
        return [
            {c.key: (v.isoformat() if isinstance(v, datetime) else v) for c, v in zip(self.columns, row)}
            for row in self.rows
        ]


@dataclass(frozen=True)
class Report:
    """An analytics report of one site over one range.

    Attributes:
        site: site name (key).
        site_title: the site's display name.
        t_from: range start (aware).
        t_to: range end (aware, exclusive).
        generated_at: when it was made (aware).
        timezone: the site's IANA time zone (hours of day are local).
        tables: the tables, in order.
        charts: data for the PDF charts: `{"occupancy": {zone: ([t...], [mean...])}, "hours": [...],
            "dwell": {zone: (edges, histogram)}}`.
        heatmaps: title (a camera id, or `floor plan (…)`) → PNG bytes of the heatmap, in drawing order.
        notes: plain-language remarks (e.g. what is not covered), printed under the header.
    """

    site: str
    site_title: str
    t_from: datetime
    t_to: datetime
    generated_at: datetime
    timezone: str
    tables: tuple[ReportTable, ...]
    charts: dict[str, Any] = field(default_factory=dict)
    heatmaps: dict[str, bytes] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def table(self, name: str) -> ReportTable:
        """The table called `name`.

        Raises:
            KeyError: no such table.
        """
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(name)

    @property
    def header(self) -> str:
        """`"Site title (site) — from → to (time zone)"`, the line every format starts with."""
        tz = site_zone(self.timezone)
        fmt = "%Y-%m-%d %H:%M"
        return (f"{self.site_title} ({self.site}) — {self.t_from.astimezone(tz).strftime(fmt)} → "
                f"{self.t_to.astimezone(tz).strftime(fmt)} ({self.timezone})")  # fmt: skip


class ReportFormat(str, Enum):
    """Report file formats."""

    PDF = "pdf"
    XLSX = "xlsx"
    CSV = "csv"  # a ZIP of one CSV file per table: a report's tables have different columns
    JSON = "json"


class ReportPeriod(str, Enum):
    """How often a scheduled report runs, and the range it covers (the period just ended)."""

    DAILY = "daily"
    WEEKLY = "weekly"


_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class ReportScheduleConfig(BaseModel):
    """A scheduled report: the `reports:` entries of a site file, and the API's schedule body.

    A daily report runs every day at `at` (site time) over the previous day; a weekly one runs on
    `weekday` at `at` over the previous seven days. It is delivered by email to `emails` and / or
    to `webhook_urls` (signed like alert webhooks), through the platform's notifier.
    """

    model_config = ConfigDict(extra="forbid")

    period: ReportPeriod = Field(ReportPeriod.DAILY, title="Period", description="daily or weekly")
    format: ReportFormat = Field(ReportFormat.PDF, title="Format", description="pdf, xlsx, csv (zip) or json")
    at: time = Field(time(6, 0), title="Time of day", description="When it runs, in the site's time zone (HH:MM)")
    weekday: str = Field("monday", title="Weekday", description="Weekly reports: the day they run")
    emails: list[str] = Field(default_factory=list, title="Email recipients")
    webhook_urls: list[str] = Field(default_factory=list, title="Webhook URLs (http/https)")
    enabled: bool = Field(True, title="Enabled")

    @field_validator("weekday")
    @classmethod
    def _weekday(cls, value: str) -> str:
        v = value.strip().lower()
        if v not in _WEEKDAYS:
            raise ValueError(f"weekday must be one of {', '.join(_WEEKDAYS)}, but got {value!r}")
        return v

    @field_validator("emails", "webhook_urls", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        bad = [e for e in value if "@" not in e or e.startswith("@") or e.endswith("@")]
        if bad:
            raise ValueError(f"not email addresses: {bad}")
        return value

    @field_validator("webhook_urls")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        bad = [u for u in value if not u.startswith(("http://", "https://"))]
        if bad:
            raise ValueError(f"webhook_urls must be http:// or https:// URLs, but got {bad}")
        return value


def site_zone(name: str) -> ZoneInfo:
    """The `ZoneInfo` of an IANA name, UTC for an unknown one.

    Example:
        >>> site_zone("Europe/Paris").key
        'Europe/Paris'
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def next_run(config: ReportScheduleConfig, *, after: datetime, tz: str) -> datetime:
    """The first run time of a schedule strictly after `after` (aware, returned in UTC).

    Example:
        >>> cfg = ReportScheduleConfig(period="daily", at="06:00")
        >>> next_run(cfg, after=datetime(2026, 3, 2, 7, 0, tzinfo=timezone.utc), tz="UTC").isoformat()
        '2026-03-03T06:00:00+00:00'
    """
    zone = site_zone(tz)
    local = after.astimezone(zone)
    candidate = datetime.combine(local.date(), config.at, tzinfo=zone)
    step = timedelta(days=1)
    if config.period is ReportPeriod.WEEKLY:
        candidate += timedelta(days=(_WEEKDAYS.index(config.weekday) - candidate.weekday()) % 7)
        step = timedelta(days=7)
    while candidate <= local:
        candidate = datetime.combine(candidate.date() + step, config.at, tzinfo=zone)
    return candidate.astimezone(timezone.utc)


def period_range(config: ReportScheduleConfig, *, run_at: datetime, tz: str) -> tuple[datetime, datetime]:
    """The range a run at `run_at` covers: the previous day (or 7 days), midnight to midnight site time.

    Example:
        >>> cfg = ReportScheduleConfig(period="daily")
        >>> a, b = period_range(cfg, run_at=datetime(2026, 3, 3, 6, 0, tzinfo=timezone.utc), tz="UTC")
        >>> a.isoformat(), b.isoformat()
        ('2026-03-02T00:00:00+00:00', '2026-03-03T00:00:00+00:00')
    """
    zone = site_zone(tz)
    end_local = datetime.combine(run_at.astimezone(zone).date(), time(0), tzinfo=zone)
    days = 7 if config.period is ReportPeriod.WEEKLY else 1
    start_local = datetime.combine(end_local.date() - timedelta(days=days), time(0), tzinfo=zone)
    return start_local.astimezone(timezone.utc), end_local.astimezone(timezone.utc)
