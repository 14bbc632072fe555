"""A report filtered by a name nobody knows is an error, not an empty report.

``usage report --customer nosuch`` used to print "no usage" and exit 0, so a typo looked like a quiet
customer. When a filtered report has no requests, ``check_report_filters`` asks whether the names exist
(a customer in the ledger, a model or plugin some installed plugin registers) and refuses the unknown
ones with the closest known names. A report with requests needs no check: the name is in the usage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from verticals.ledger.errors import LedgerError
from verticals.models import ModelSpec
from verticals.suggest import unknown


class HasCustomers(Protocol):
    """What the check needs of a ledger (``Ledger`` or ``RemoteLedger``)."""

    def get_customer(self, name: str) -> Any: ...


def check_report_filters(
    ledger: HasCustomers,
    models: Iterable[ModelSpec],
    rows: Sequence[Mapping[str, Any]],
    *,
    customer: str | None = None,
    model: str | None = None,
    plugin: str | None = None,
) -> None:
    """Raise LedgerError ("unknown customer 'nosuch'", with suggestions) when ``rows`` (a report's rows,
    each with ``requests``) hold no request and ``customer`` is not in the ledger, or ``model`` / ``plugin``
    is not among ``models`` (the registered ones). Returns quietly otherwise: a known name without
    requests in the period is an empty report."""
    if any(row.get("requests") for row in rows):
        return
    if customer is not None:
        ledger.get_customer(customer)  # raises LedgerError with the suggestions
    specs = list(models)
    if model is not None and model not in {spec.name for spec in specs}:
        names = [spec.name for spec in specs]
        raise LedgerError(
            unknown("model", model, names, "no usage recorded for it; see `verticals models list`")
        )
    if plugin is not None and plugin not in {spec.plugin for spec in specs}:
        plugins = [spec.plugin for spec in specs]
        raise LedgerError(
            unknown("plugin", plugin, plugins, "no usage recorded for it; see `verticals plugins list`")
        )
