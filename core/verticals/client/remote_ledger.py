"""``RemoteLedger``: the ledger's control and book methods, carried out by a running gateway.

While ``verticals serve`` runs it holds DuckDB's write lock, so CLI commands cannot open the ledger.
``open_remote_ledger(settings)`` returns this stand-in when a server runs (else None); it answers
the same calls with the same dataclasses through the admin API, and raises ``LedgerError`` with the
server's message, so a command written against ``Ledger`` works unchanged::

    remote = open_remote_ledger(settings)
    ledger = remote if remote is not None else Ledger.open(settings.home)

Analytics run inside the server: ``remote.analytics("usage_summary", by=["customer"])``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, TypeVar

from verticals.client.admin import AdminClient, AdminError, running_server
from verticals.client.remote_billing import RemoteBilling
from verticals.client.remote_billing import build_record as _build
from verticals.config import Settings

T = TypeVar("T")


def open_remote_ledger(settings: Settings) -> RemoteLedger | None:
    """A RemoteLedger over the gateway serving ``settings.home`` (found by ``running_server``: its server.json
    names a live pid and an admin token is readable), or None when none runs.
    """
    client = running_server(settings)
    return RemoteLedger(client) if client is not None else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class RemoteLedger(RemoteBilling):
    """``Ledger``'s control, book and billing-data methods carried out through ``client`` (a running
    gateway's admin API), answering the same dataclasses; money comes back as Decimal, times as aware
    datetimes. Prices with charge models, allowances, subscriptions and credits are ``RemoteBilling``'s.
    """

    def __init__(self, client: AdminClient) -> None:
        self.client = client

    def _call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        from verticals.ledger import LedgerError

        try:
            return self.client.call(method, path, json_body=body, params=params)
        except AdminError as error:
            raise LedgerError(str(error)) from None

    # control data

    def list_customers(self) -> list[Any]:
        """Every customer, as ``Customer`` rows (``GET /admin/customers``). Raises LedgerError with the
        server's message when it refuses the call or cannot be reached.
        """
        from verticals.ledger import Customer

        return [_build(Customer, row) for row in self._call("GET", "/admin/customers")]

    def get_customer(self, name: str) -> Any:
        """The customer ``name``; raises LedgerError when there is none, or when the server refuses the call
        or cannot be reached.
        """
        from verticals.ledger import LedgerError
        from verticals.suggest import unknown_customer

        customers = self.list_customers()
        found = [c for c in customers if c.name == name]
        if not found:
            raise LedgerError(unknown_customer(name, (c.name for c in customers)))
        return found[0]

    def create_customer(self, name: str, plan: str, budget_usd: Decimal | str | int | None = None) -> Any:
        """Create a customer on ``plan`` with an optional monthly budget (USD, sent as a decimal string so no
        cent is lost). Raises LedgerError with the server's message when it refuses the call or cannot be
        reached.
        """
        from verticals.ledger import Customer

        body = {"name": name, "plan": plan, "budget_usd": None if budget_usd is None else str(budget_usd)}
        return _build(Customer, self._call("POST", "/admin/customers", body))

    def update_customer(
        self,
        name: str,
        *,
        plan: str | None = None,
        budget_usd: Decimal | str | int | None = None,
        clear_budget: bool = False,
        status: str | None = None,
    ) -> Any:
        """Change a customer's plan, budget (USD, sent as a decimal string), or status; None keeps a field,
        ``clear_budget`` removes the budget. Raises LedgerError with the server's message when it refuses
        the call or cannot be reached.
        """
        from verticals.ledger import Customer

        body = {
            "plan": plan,
            "budget_usd": None if budget_usd is None else str(budget_usd),
            "clear_budget": clear_budget,
            "status": status,
        }
        return _build(Customer, self._call("PATCH", f"/admin/customers/{name}", body))

    def list_plans(self) -> list[Any]:
        """Every plan, as ``Plan`` rows. Raises LedgerError with the server's message when it refuses the call
        or cannot be reached.
        """
        from verticals.ledger import Plan

        return [_build(Plan, row) for row in self._call("GET", "/admin/plans")]

    def create_plan(
        self,
        name: str,
        monthly_fee_usd: Decimal | str | int = 0,
        included_units: float = 0,
        description: str = "",
    ) -> Any:
        """Create a plan with ``monthly_fee_usd`` (USD, sent as a decimal string) and ``included_units``.
        Raises LedgerError with the server's message when it refuses the call or cannot be reached.
        """
        from verticals.ledger import Plan

        body = {
            "name": name,
            "monthly_fee_usd": str(monthly_fee_usd),
            "included_units": included_units,
            "description": description,
        }
        return _build(Plan, self._call("POST", "/admin/plans", body))

    def create_key(self, customer: str, rpm: int | None = None, tpm: int | None = None) -> tuple[str, Any]:
        """Create a key for ``customer`` with optional ``rpm`` / ``tpm`` limits (requests / tokens per
        minute); returns ``(plaintext, ApiKey)``, the plaintext shown only this once. Raises LedgerError
        with the server's message when it refuses the call or cannot be reached.
        """
        created = self._call("POST", "/admin/keys", {"customer": customer, "rpm": rpm, "tpm": tpm})
        key = next(k for k in self.list_keys(customer) if k.prefix == created["prefix"])
        return str(created["key"]), key

    def list_keys(self, customer: str | None = None) -> list[Any]:
        """Every key, or only ``customer``'s, as ``ApiKey`` rows. Raises LedgerError with the server's message
        when it refuses the call or cannot be reached.
        """
        from verticals.ledger import ApiKey

        return [_build(ApiKey, row) for row in self._call("GET", "/admin/keys", customer=customer)]

    def revoke_key(self, prefix: str) -> None:
        """Revoke the key with display prefix ``prefix``. Raises LedgerError with the server's message when it
        refuses the call or cannot be reached.
        """
        self._call("POST", f"/admin/keys/{prefix}/revoke")

    # books

    def list_prices(self, plan: str | None = None) -> list[Any]:
        """The price book, or ``plan``'s rows only, as ``PriceRow``s. Raises LedgerError with the server's
        message when it refuses the call or cannot be reached.
        """
        from verticals.ledger import PriceRow

        return [_build(PriceRow, row) for row in self._call("GET", "/admin/prices", plan=plan)]

    def set_cost(
        self,
        device_class: str,
        usd_per_hour: Decimal | str | int,
        *,
        effective_from: datetime | None = None,
        note: str = "",
    ) -> Any:
        """Append a cost rate of ``usd_per_hour`` (USD per device-hour, sent as a decimal string) for
        ``device_class`` from ``effective_from`` (None: now) on; returns the new ``CostRow``. Raises
        LedgerError with the server's message when it refuses the call or cannot be reached.
        """
        from verticals.ledger import CostRow

        body = {
            "device_class": device_class,
            "usd_per_hour": str(usd_per_hour),
            "effective_from": _iso(effective_from),
            "note": note,
        }
        return _build(CostRow, self._call("POST", "/admin/costs", body))

    def list_costs(self) -> list[Any]:
        """The cost book as ``CostRow``s. Raises LedgerError with the server's message when it refuses the
        call or cannot be reached.
        """
        from verticals.ledger import CostRow

        return [_build(CostRow, row) for row in self._call("GET", "/admin/costs")]

    # facts

    def record_evaluation(
        self,
        model: str,
        version: str,
        suite: str,
        metrics: dict[str, float],
        thresholds: dict[str, dict[str, float | None]],
        passed: bool,
    ) -> str:
        """Store one evaluation run (``metrics``: name to value; ``thresholds``: name to ``{"min", "max"}``)
        through ``POST /admin/evaluations``, timed by the server's clock; returns its run id. Raises
        LedgerError with the server's message when it refuses the call or cannot be reached (a gateway
        older than this route answers 404).
        """
        body = {
            "model": model,
            "version": version,
            "suite": suite,
            "metrics": metrics,
            "thresholds": thresholds,
            "passed": passed,
        }
        return str(self._call("POST", "/admin/evaluations", body)["run_id"])

    # usage

    def flush(self) -> None:
        """Have the server commit every usage event it has recorded so far, so later reads include them.
        Raises LedgerError with the server's message when it refuses the call or cannot be reached.
        """
        self._call("POST", "/admin/flush")

    def analytics(self, name: str, **kwargs: Any) -> Any:
        """Run ``verticals.ledger.analytics.<name>`` in the server; lists become comma lists, times ISO."""
        params = {}
        for key, value in kwargs.items():
            if value is None:
                continue
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, list | tuple):
                value = ",".join(str(v) for v in value)
            params[key] = value
        return self._call("GET", f"/admin/analytics/{name}", **params)

    def close(self) -> None:
        """Nothing to close: the server keeps the ledger."""

    def __enter__(self) -> RemoteLedger:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
