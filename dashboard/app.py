"""Entry point of the verticals dashboard (``verticals dashboard`` runs it with Streamlit).

Every run goes through here: the access gate, the choice of data source, the shared sidebar filters,
then the page the user picked. Pages never run on their own.

Streamlit runs this file as a script, wherever it is (the source tree's ``dashboard/`` or the copy a
wheel carries in ``verticals/dashboard/app/``), so it and the pages import only ``verticals.*``: the
installed package, never a sibling module.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from verticals.config import ConfigError, load_settings
from verticals.dashboard import access, ui
from verticals.dashboard.command import GATEWAY_URL_ENV, SOURCE_ENV
from verticals.dashboard.datasource import DataSourceError

# Not "pages/": Streamlit treats a pages/ folder beside the entry script as old-style pages and, on a
# process's first run (and on every AppTest rerun), runs the requested page file directly, which would
# skip the access gate and the shared filters above. st.navigation below is the only way in.
VIEWS_DIR = Path(__file__).resolve().parent / "views"

st.set_page_config(page_title="verticals", page_icon=":material/monitoring:", layout="wide")

try:
    settings = load_settings()
except ConfigError as error:
    st.error(f"The settings are not valid: {error}. Fix verticals.toml or the VERTICALS_* variables.")
    st.stop()


def sign_in() -> None:
    st.title("verticals")
    st.write("This dashboard is reachable from other machines, so it asks who you are first.")
    with st.form("sign-in"):
        secret = st.text_input("Admin token or dashboard password", type="password")
        if st.form_submit_button("Sign in"):
            kind = access.secret_kind(settings, secret)
            if kind is not None:
                st.session_state["signed_in"] = True
                st.session_state[access.SIGNED_IN_WITH] = kind  # the Admin page's actions need it too
                st.rerun()
            st.error(
                "That is neither the admin token nor the dashboard password. "
                "`verticals dashboard --set-password` sets a new password."
            )


def locked() -> None:
    st.title("verticals")
    st.error(
        "This dashboard is bound to an address other machines can reach, but no admin token or dashboard "
        "password is set, so it shows nothing. Run `verticals dashboard --set-password`, or bind it to "
        "127.0.0.1 (the default)."
    )


def gate_passed() -> bool:
    if access.is_loopback(st.get_option("server.address")) or st.session_state.get("signed_in"):
        return True
    # Hand st.navigation only the sign-in page: nothing else is reachable until the gate passes.
    st.navigation(
        [st.Page(sign_in if access.can_gate(settings) else locked, title="Sign in")], position="hidden"
    ).run()
    return False


if not gate_passed():
    st.stop()

home = str(settings.home.resolve())
kind, gateway_url, token = ui.resolve(
    os.environ.get(SOURCE_ENV, "auto"), home, os.environ.get(GATEWAY_URL_ENV), access.admin_token(settings)
)
try:
    source = ui.source_for(kind, home, gateway_url, token)
except DataSourceError as error:
    st.error(f"Cannot read the data: {error}")
    st.stop()

pages = [
    st.Page(VIEWS_DIR / "overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page(VIEWS_DIR / "customers.py", title="Customers", icon=":material/groups:"),
    st.Page(VIEWS_DIR / "models.py", title="Models and plugins", icon=":material/model_training:"),
    st.Page(VIEWS_DIR / "compute.py", title="Compute", icon=":material/memory:"),
    st.Page(VIEWS_DIR / "billing.py", title="Billing", icon=":material/receipt_long:"),
    st.Page(VIEWS_DIR / "pricing.py", title="Pricing lab", icon=":material/science:"),
    st.Page(VIEWS_DIR / "risk.py", title="Risk", icon=":material/warning:"),
    st.Page(VIEWS_DIR / "requests.py", title="Request log", icon=":material/list_alt:"),
    st.Page(VIEWS_DIR / "admin.py", title="Admin", icon=":material/admin_panel_settings:"),
]
page = st.navigation(pages)
filters = ui.sidebar_filters(source)
with st.sidebar:
    st.caption(f"Data: {source.describe()}")
ui.set_context(ui.Context(source, filters))
page.run()
