"""The shared filters every page applies: a date range and optional customer, plugin and model sets."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta


@dataclass(frozen=True)
class Filters:
    """Dates are UTC calendar days, both ends included; None means every customer, plugin or model.

    One value per dimension, because the ledger's analytics filter on exact matches.
    """

    start: date
    end: date
    customer: str | None = None
    plugin: str | None = None
    model: str | None = None

    @property
    def days(self) -> int:
        """How many calendar days the range covers, both ends included (1 for a single day)."""
        return (self.end - self.start).days + 1

    @property
    def since(self) -> datetime:
        """First instant in the range (UTC)."""
        return datetime.combine(self.start, time.min, tzinfo=UTC)

    @property
    def until(self) -> datetime:
        """First instant after the range (UTC): the range is [since, until)."""
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=UTC)

    def previous(self) -> Filters:
        """The period of the same length just before this one, for deltas."""
        return replace(self, start=self.start - timedelta(days=self.days), end=self.start - timedelta(days=1))

    def key(self) -> tuple[object, ...]:
        """The filters as a hashable tuple (dates as ISO strings), for Streamlit's caches."""
        return (self.start.isoformat(), self.end.isoformat(), self.customer, self.plugin, self.model)

    def params(self) -> dict[str, object]:
        """The keyword arguments the ledger's analytics functions take for these filters."""
        chosen = {"customer": self.customer, "plugin": self.plugin, "model": self.model}
        return {
            "since": self.since,
            "until": self.until,
            **{k: v for k, v in chosen.items() if v is not None},
        }

    def describe(self) -> str:
        """The filters in words for a caption, e.g. ``01 Nov 2026 to 30 Nov 2026 (UTC), customer acme``."""
        parts = [f"{self.start:%d %b %Y} to {self.end:%d %b %Y} (UTC)"]
        for label, value in (("customer", self.customer), ("plugin", self.plugin), ("model", self.model)):
            if value is not None:
                parts.append(f"{label} {value}")
        return ", ".join(parts)
