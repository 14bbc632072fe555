"""The dashboard's admin actions: create a customer or a key, revoke a key, suspend or reactivate a
customer, set a budget, change a plan, grant a credit.

Every action is a call to the running gateway's admin API (the gateway owns the ledger), made with the
admin token and an ``x-verticals-actor`` header naming the dashboard user, so the gateway writes it into
the ledger's audit log (``verticals.ledger.audit``). Nothing here writes the ledger itself, and with no
gateway running there are no actions (``LedgerSource.admin_actions`` is None).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pandas as pd

from verticals.client import AdminClient, AdminError

ACTIVE, SUSPENDED = "active", "suspended"
AUDIT_COLUMNS = ["acted_at", "actor", "action", "subject", "status", "error", "detail"]


class ActionRefused(RuntimeError):
    """The gateway refused the action or could not be reached; the message is its own, naming the fix."""


def actor_name(name: str, signed_in_with: str) -> str:
    """Who the audit log names for a dashboard user: ``alice (dashboard, dashboard password)``, or
    ``dashboard user (dashboard, admin token)`` when no ``name`` is given. ``signed_in_with`` is the
    secret that unlocked the admin actions ("admin token" or "dashboard password")."""
    who = " ".join(name.split()) or "dashboard user"
    return f"{who} (dashboard, {signed_in_with})"


class AdminActions:
    """The admin actions through ``client`` (an ``AdminClient`` carrying the actor). Each change returns
    the gateway's answer (a dict) or raises ActionRefused with the gateway's message; money goes as decimal
    strings (USD), exactly as typed."""

    def __init__(self, client: AdminClient) -> None:
        self._client = client

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            return self._client.call(method, path, json_body=body)
        except AdminError as error:
            raise ActionRefused(str(error)) from None

    # what the forms offer

    def customers(self) -> list[dict[str, Any]]:
        """Every customer: ``{name, plan, budget_usd, status, created_at}``, by name."""
        rows: list[dict[str, Any]] = self._call("GET", "/admin/customers")
        return rows

    def plans(self) -> list[str]:
        """The plans' names, sorted."""
        return sorted(str(plan["name"]) for plan in self._call("GET", "/admin/plans"))

    def api_keys(self) -> list[dict[str, Any]]:
        """Every API key: ``{prefix, customer, rpm, tpm, created_at, revoked_at}`` (never the key)."""
        rows: list[dict[str, Any]] = self._call("GET", "/admin/keys")
        return rows

    # the changes

    def create_customer(self, name: str, plan: str, budget_usd: str | None = None) -> dict[str, Any]:
        """A new customer on ``plan`` with an optional monthly budget (USD, as typed; None or "": none)."""
        body: dict[str, Any] = {"name": name.strip(), "plan": plan}
        if budget_usd and budget_usd.strip():
            body["budget_usd"] = budget_usd.strip()
        created: dict[str, Any] = self._call("POST", "/admin/customers", body)
        return created

    def create_key(self, customer: str, rpm: int | None = None, tpm: int | None = None) -> dict[str, Any]:
        """A new key for ``customer`` with optional per-minute limits: ``{key, prefix, customer, rpm, tpm}``.
        ``key`` is the plaintext, which the gateway answers this once and never stores: show it once."""
        created: dict[str, Any] = self._call(
            "POST", "/admin/keys", {"customer": customer, "rpm": rpm, "tpm": tpm}
        )
        return created

    def revoke_key(self, prefix: str) -> dict[str, Any]:
        """Revoke the key whose display prefix is ``prefix``: its next request is refused."""
        revoked: dict[str, Any] = self._call("POST", f"/admin/keys/{prefix}/revoke")
        return revoked

    def set_status(self, customer: str, status: str) -> dict[str, Any]:
        """Suspend (``suspended``: its requests are refused) or reactivate (``active``) ``customer``."""
        return self._patch(customer, {"status": status})

    def set_budget(self, customer: str, budget_usd: str | None) -> dict[str, Any]:
        """Set ``customer``'s monthly budget (USD, as typed); None or "" removes it."""
        if budget_usd is None or not budget_usd.strip():
            return self._patch(customer, {"clear_budget": True})
        return self._patch(customer, {"budget_usd": budget_usd.strip()})

    def change_plan(self, customer: str, plan: str) -> dict[str, Any]:
        """Move ``customer`` to ``plan`` from now: a new subscription, ending the current one."""
        moved: dict[str, Any] = self._call(
            "POST", "/admin/subscriptions", {"customer": customer, "plan": plan}
        )
        return moved

    def grant_credit(
        self, customer: str, amount_usd: str, reason: str = "", expires_on: date | None = None
    ) -> dict[str, Any]:
        """Grant ``customer`` ``amount_usd`` (USD, as typed) of credit from now, for ``reason``, until the
        start of ``expires_on`` (UTC; None: no expiry)."""
        expires = None if expires_on is None else datetime.combine(expires_on, datetime.min.time(), UTC)
        body = {
            "customer": customer,
            "amount_usd": amount_usd.strip(),
            "reason": reason.strip(),
            "expires_at": None if expires is None else expires.isoformat(),
        }
        granted: dict[str, Any] = self._call("POST", "/admin/credits", body)
        return granted

    def _patch(self, customer: str, body: dict[str, Any]) -> dict[str, Any]:
        changed: dict[str, Any] = self._call("PATCH", f"/admin/customers/{customer}", body)
        return changed


def audit_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The audit log rows (``admin_audit``'s, newest first) as a table: acted_at (UTC datetime), actor,
    action, subject, status (the HTTP status), error ("" when it succeeded) and detail (the request's body
    as ``name=value`` pairs, secrets already masked by the ledger)."""
    df = pd.DataFrame(rows, columns=AUDIT_COLUMNS)
    df["acted_at"] = pd.to_datetime(df["acted_at"], utc=True)
    df["error"] = df["error"].fillna("")
    df["subject"] = df["subject"].fillna("")
    df["detail"] = [
        ", ".join(f"{name}={value}" for name, value in (detail or {}).items() if value is not None)
        for detail in df["detail"]
    ]
    return df


def key_label(key: dict[str, Any]) -> str:
    """How a key is offered for revoking: ``vk_ab12cd34 (acme)``."""
    return f"{key['prefix']} ({key['customer']})"
