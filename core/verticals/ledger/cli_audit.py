"""CLI changes to a shared (PostgreSQL) ledger, written to the admin audit log as the admin API writes them.

With DuckDB the CLI changes a ledger a gateway holds through that gateway's admin API, which records each
change (``verticals.serving.admin.audit``) as ``<login> (cli)``. With ``database_url`` the CLI writes to
PostgreSQL itself - there is no single writer to go through, and the gateways may run on other machines
- so ``audited`` records the same rows here: ``actor`` ``<login> (cli)``, ``action`` the ledger method
(``create_key``, the admin route's name too), ``method`` ``CLI``, ``path`` the command (``verticals keys
create``; its arguments are in ``detail``, as a route's body is), ``subject``
the customer, plan, key prefix or invoice it is about, ``detail`` its arguments (secrets masked by
``ledger.audit``), ``status`` 200, or 400 with the error when the ledger refused it.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any, cast

import click

from verticals.ledger.audit import AuditEntry
from verticals.ledger.errors import LedgerError
from verticals.ledger.ledger import Ledger

# Ledger methods that change control or billing data: those the admin API audits as routes.
AUDITED = frozenset(
    {
        "create_plan",
        "create_customer",
        "update_customer",
        "create_key",
        "revoke_key",
        "set_price",
        "set_cost",
        "set_allowance",
        "set_subscription",
        "cancel_subscription",
        "grant_credit",
        "store_invoice",
        "void_invoice",
        "record_evaluation",
    }
)
# Arguments that name what a call is about, first found first (the admin audit's subject).
_SUBJECTS = ("customer", "name", "prefix", "number", "plan", "device_class", "model")
MAX_PATH_CHARS = 300

log = logging.getLogger(__name__)


def audited(ledger: Ledger, actor: str, command: str | None = None) -> Ledger:
    """``ledger`` with each call of an ``AUDITED`` method recorded in its audit log as done by ``actor``
    through ``command`` (default: the click command running, e.g. ``verticals keys create``). Everything
    else passes through."""
    if command is None:
        context = click.get_current_context(silent=True)
        command = context.command_path if context is not None else "verticals"
    return cast(Ledger, _Audited(ledger, actor, command[:MAX_PATH_CHARS]))


class _Audited:
    def __init__(self, ledger: Ledger, actor: str, path: str) -> None:
        self._ledger = ledger
        self._actor = actor
        self._path = path

    def __enter__(self) -> Ledger:
        return cast(Ledger, self)

    def __exit__(self, *exc: object) -> None:
        self._ledger.close()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._ledger, name)
        return self._recorded(name, attribute) if name in AUDITED else attribute

    def _recorded(self, action: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            detail = _arguments(method, args, kwargs)
            try:
                result = method(*args, **kwargs)
            except LedgerError as refused:
                self._record(action, detail, 400, str(refused))
                raise
            self._record(action, {**detail, **_noted(result)}, 200, None)
            return result

        return call

    def _record(self, action: str, detail: dict[str, Any], status: int, error: str | None) -> None:
        subject = next((str(detail[n]) for n in _SUBJECTS if isinstance(detail.get(n), str | int)), None)
        entry = AuditEntry(self._actor, action, "CLI", self._path, status, subject, detail, error)
        try:
            self._ledger.record_admin_action(entry)
        except Exception:  # the change happened (or was refused) all the same: say so, loudly
            log.exception("could not write the admin audit row for %s", self._path)


def _arguments(method: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The call's arguments by name, JSON-shaped (an invoice by customer and month: the snapshot is the
    invoice's own row)."""
    try:
        bound = inspect.signature(method).bind(*args, **kwargs).arguments
    except TypeError:  # the call itself will say what is wrong
        return {}
    detail: dict[str, Any] = {}
    for name, value in bound.items():
        invoice_of = getattr(value, "month", None)
        if invoice_of is not None and hasattr(value, "customer"):
            detail.update(customer=value.customer, month=invoice_of)
        elif isinstance(value, dict):
            detail[name] = {str(k): str(v) for k, v in value.items()}
        elif isinstance(value, list | tuple):
            detail[name] = [str(v) for v in value]
        else:
            detail[name] = value if value is None or isinstance(value, bool | int | str) else str(value)
    return detail


def _noted(result: Any) -> dict[str, Any]:
    """What a call's result adds to its row: a new key's prefix (never the key), an invoice's number."""
    if isinstance(result, tuple) and len(result) == 2 and hasattr(result[1], "prefix"):
        return {"prefix": result[1].prefix}
    number = getattr(result, "number", None)
    return {"number": number} if isinstance(number, str) else {}
