"""ISO weeks: parsing ``2026-W47``, their UTC bounds, and the default week of the report."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from pipeline.errors import RippleError

_WEEK_RE = re.compile(r"^\s*(\d{4})-?W(\d{1,2})\s*$", re.IGNORECASE)


@dataclass(frozen=True, order=True)
class IsoWeek:
    year: int
    week: int

    @classmethod
    def parse(cls, text: str) -> IsoWeek:
        """``2026-W47`` (also ``2026W47``, ``2026-w7``); raises RippleError for anything else."""
        match = _WEEK_RE.match(text or "")
        if not match:
            raise RippleError(f"cannot read {text!r} as an ISO week (use YYYY-Www, e.g. 2026-W47)")
        year, week = int(match.group(1)), int(match.group(2))
        try:
            date.fromisocalendar(year, week, 1)
        except ValueError:
            raise RippleError(f"{text!r} is not a week of {year} (ISO years have 52 or 53 weeks)") from None
        return cls(year, week)

    @classmethod
    def of(cls, day: date | datetime) -> IsoWeek:
        if isinstance(day, datetime):
            day = day.astimezone(UTC).date() if day.tzinfo else day.date()
        year, week, _ = day.isocalendar()
        return cls(year, week)

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    @property
    def start(self) -> datetime:
        """Monday 00:00 UTC (inclusive)."""
        return datetime.combine(self.monday, time(0), tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The next Monday 00:00 UTC (exclusive)."""
        return self.start + timedelta(days=7)

    def shift(self, weeks: int) -> IsoWeek:
        return IsoWeek.of(self.monday + timedelta(weeks=weeks))

    def __str__(self) -> str:
        return self.label


def last_complete_week(now: datetime | None = None) -> IsoWeek:
    """The ISO week before the one containing ``now`` (UTC): the last complete calendar week. The report's
    default week is the last complete week of the data (``queries.last_complete_week``, from the mart), capped
    at this one (``render._default_week``)."""
    now = now or datetime.now(UTC)
    return IsoWeek.of(now).shift(-1)
