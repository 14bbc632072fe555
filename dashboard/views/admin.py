"""Admin: create customers and keys, revoke keys, suspend and reactivate customers, set budgets, change
plans, grant credits; and the audit log of every change made through the admin API.

The actions go through the running gateway's admin API (``verticals.dashboard.admin_actions``), which
writes each one into the ledger's audit log with the dashboard user's name. They unlock with the admin
token or the dashboard password, even on a loopback dashboard: reading is open there, changing is not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from verticals.config import load_settings
from verticals.dashboard import access, ui
from verticals.dashboard.admin_actions import (
    ACTIVE,
    SUSPENDED,
    ActionRefused,
    AdminActions,
    actor_name,
    audit_frame,
    key_label,
)
from verticals.dashboard.datasource import DataSourceError, MissingAnalytics

FLASH = "admin_flash"  # the last action's outcome, shown once after the rerun that follows it

ctx = ui.page_header("Admin", "Change customers, keys, budgets, plans and credits; see who changed what.")


def unlock() -> str | None:
    """Which secret unlocked the actions in this browser session, asking for one when none has."""
    signed_in_with: str | None = st.session_state.get(access.SIGNED_IN_WITH)
    if signed_in_with:
        return signed_in_with
    st.warning(
        "Admin actions change the business: enter the admin token or the dashboard password to unlock them.",
        icon=":material/lock:",
    )
    with st.form("admin-unlock"):
        secret = st.text_input("Admin token or dashboard password", type="password", key="admin_secret")
        if st.form_submit_button("Unlock admin actions"):
            kind = access.secret_kind(load_settings(), secret)
            if kind is None:
                st.error(
                    "That is neither the admin token nor the dashboard password. "
                    "`verticals dashboard --set-password` sets a new password."
                )
            else:
                st.session_state[access.SIGNED_IN_WITH] = kind
                st.rerun()
    return None


def act(done: Callable[[Any], str], action: Callable[[], Any], key: bool = False) -> None:
    """Run ``action``; on success keep ``done(answer)`` (and the new key, if ``key``) for the next run and
    rerun so every list shows the change; on a refusal show the gateway's message here."""
    try:
        answer = action()
    except ActionRefused as refused:
        st.error(f"The gateway refused: {refused}", icon=":material/block:")
        return
    st.session_state[FLASH] = (done(answer), answer.get("key") if key else None)
    st.rerun()


def show_flash() -> None:
    """The last action's outcome; a new key's plaintext is shown here this once and then forgotten."""
    flash = st.session_state.pop(FLASH, None)
    if flash is None:
        return
    message, plaintext = flash
    st.success(message, icon=":material/check_circle:")
    if plaintext:
        st.warning(
            "Copy this key now: it is shown only this once. The gateway stores its hash, not the key, so "
            "nobody can show it again; a lost key is revoked and replaced.",
            icon=":material/key:",
        )
        st.code(plaintext, language=None)


def forms(actions: AdminActions) -> None:
    """One form per action, fed by the gateway's current customers, plans and keys."""
    customers = actions.customers()
    names = [c["name"] for c in customers]
    plans = actions.plans()
    all_keys = actions.api_keys()
    live_keys = [k for k in all_keys if not k.get("revoked_at")]

    left, right = st.columns(2)
    with left.form("admin-create-customer", clear_on_submit=True):
        st.markdown("**Create a customer**")
        name = st.text_input("Customer name", key="admin_new_name", placeholder="acme")
        plan = st.selectbox("Plan", plans, index=None, key="admin_new_plan", placeholder="Choose a plan")
        budget = st.text_input("Monthly budget (USD, optional)", key="admin_new_budget", placeholder="100")
        if st.form_submit_button("Create customer"):
            act(
                lambda c: f"Created customer {c['name']} on plan {c['plan']}.",
                lambda: actions.create_customer(name, plan or "", budget),
            )
    with right.form("admin-create-key", clear_on_submit=True):
        st.markdown("**Create a key**")
        owner = st.selectbox("Customer", names, index=None, key="admin_key_customer", placeholder="Choose")
        c = st.columns(2)
        rpm = c[0].number_input("Requests per minute (optional)", 1, None, None, 1, key="admin_key_rpm")
        tpm = c[1].number_input("Tokens per minute (optional)", 1, None, None, 1, key="admin_key_tpm")
        if st.form_submit_button("Create key"):
            act(
                lambda k: f"Created key {k['prefix']} for {k['customer']}.",
                lambda: actions.create_key(owner or "", rpm, tpm),
                key=True,
            )

    left, right = st.columns(2)
    with left.form("admin-revoke-key"):
        st.markdown("**Revoke a key**")
        labels = {key_label(k): k["prefix"] for k in live_keys}
        chosen = st.selectbox("Key", list(labels), index=None, key="admin_revoke", placeholder="Choose a key")
        if st.form_submit_button("Revoke key"):
            prefix = labels.get(chosen or "", "")
            act(
                lambda _: f"Revoked key {prefix}: its next request is refused.",
                lambda: actions.revoke_key(prefix),
            )
    with right.form("admin-status"):
        st.markdown("**Suspend or reactivate a customer**")
        who = st.selectbox("Customer", names, index=None, key="admin_status_customer", placeholder="Choose")
        st.caption("A suspended customer's requests are refused until it is reactivated.")
        c = st.columns(2)
        if c[0].form_submit_button("Suspend"):
            act(lambda x: f"Suspended {x['name']}.", lambda: actions.set_status(who or "", SUSPENDED))
        if c[1].form_submit_button("Reactivate"):
            act(lambda x: f"Reactivated {x['name']}.", lambda: actions.set_status(who or "", ACTIVE))

    left, right = st.columns(2)
    with left.form("admin-budget"):
        st.markdown("**Set a monthly budget**")
        who = st.selectbox("Customer", names, index=None, key="admin_budget_customer", placeholder="Choose")
        amount = st.text_input("Budget (USD; empty: no budget)", key="admin_budget_amount", placeholder="250")
        if st.form_submit_button("Set budget"):
            act(
                lambda x: (
                    f"{x['name']}'s budget is now "
                    + (f"${x['budget_usd']}" if x.get("budget_usd") is not None else "none")
                    + "."
                ),
                lambda: actions.set_budget(who or "", amount),
            )
    with right.form("admin-plan"):
        st.markdown("**Change a plan**")
        who = st.selectbox("Customer", names, index=None, key="admin_plan_customer", placeholder="Choose")
        plan = st.selectbox("New plan", plans, index=None, key="admin_plan_plan", placeholder="Choose a plan")
        st.caption("A new subscription from now; the current one ends now.")
        if st.form_submit_button("Change plan"):
            act(
                lambda s: f"{s['customer']} is on plan {s['plan']} from {str(s['starts_at'])[:19]} UTC.",
                lambda: actions.change_plan(who or "", plan or ""),
            )

    with st.form("admin-credit", clear_on_submit=True):
        st.markdown("**Grant a credit**")
        cell = st.columns([2, 1, 2, 1])
        who = cell[0].selectbox("Customer", names, None, key="admin_credit_customer", placeholder="Choose")
        amount = cell[1].text_input("Amount (USD)", key="admin_credit_amount", placeholder="50")
        reason = cell[2].text_input("Reason", key="admin_credit_reason", placeholder="service credit for ...")
        expires = cell[3].date_input("Expires (UTC, optional)", value=None, key="admin_credit_expires")
        if st.form_submit_button("Grant credit"):
            act(
                lambda g: f"Granted ${g['amount_usd']} of credit to {g['customer']}.",
                lambda: actions.grant_credit(who or "", amount, reason, expires),
            )

    st.subheader("Customers and keys")
    c = st.columns(2)
    with c[0]:
        ui.table(pd.DataFrame(customers, columns=["name", "plan", "status", "budget_usd"]), "admin-customers")
    with c[1]:
        key_rows = pd.DataFrame(all_keys, columns=["prefix", "customer", "rpm", "tpm", "revoked_at"])
        labels = {"prefix": "Key prefix", "rpm": "Requests/min", "tpm": "Tokens/min", "revoked_at": "Revoked"}
        ui.table(key_rows, "admin-keys", labels)


actions: AdminActions | None = None
if ctx.source.admin_actions("") is None:
    st.info(
        "Admin actions go through a running gateway's admin API, and none is running for this data "
        "directory: start `verticals serve` (or pass `verticals dashboard --gateway-url`). "
        "The audit log below is read from the ledger file.",
        icon=":material/info:",
    )
else:
    signed_in_with = unlock()
    if signed_in_with is not None:
        name = st.text_input(
            "Your name, for the audit log",
            key="admin_actor",
            placeholder="dashboard user",
            help="The audit log names you with it, beside the secret that unlocked the actions. It grants "
            "nothing.",
        )
        actions = ctx.source.admin_actions(actor_name(name, signed_in_with))

if actions is not None:
    show_flash()
    try:
        forms(actions)
    except ActionRefused as error:
        st.error(f"Could not read the gateway's customers, plans and keys: {error}")

st.subheader("Audit log")
st.caption(
    "Every change made through the admin API, by the dashboard, the CLI or a script, newest first: who "
    "(the name the caller gave, and how it signed in), what and when. Reads are not listed."
)
try:
    audit_rows = ctx.source.analytics(
        "admin_audit",
        since=ctx.filters.since,
        until=ctx.filters.until,
        **({"subject": ctx.filters.customer} if ctx.filters.customer else {}),
        limit=500,
    )
except MissingAnalytics as error:
    st.warning(f"The audit log cannot be shown: {error}.", icon=":material/update:")
    audit_rows = None
except DataSourceError as error:
    st.error(f"Could not read the audit log: {error}")
    audit_rows = None
if audit_rows is not None and not audit_rows:
    st.info(
        "The audit log is empty for these dates: nothing has been changed through the admin API yet.",
        icon=":material/history:",
    )
elif audit_rows:
    ui.table(
        audit_frame(audit_rows),
        "admin-audit-log",
        {
            "acted_at": st.column_config.DatetimeColumn("When (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            "actor": "Who",
            "action": "What",
            "subject": "About",
            "status": st.column_config.NumberColumn("HTTP status", format="%d"),
            "error": "Refused because",
            "detail": "Details",
        },
    )
