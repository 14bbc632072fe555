"""The verticals dashboard: a Streamlit app that draws what the ledger's analytics compute.

The Streamlit scripts live in the repository's top-level ``dashboard/`` folder (``app.py``, the entry
point, and ``views/``, one script per page); the wheel carries that folder as ``verticals/dashboard/app/``.
What the scripts import lives here, so it resolves to the same modules in an editable install and
from the wheel:

- ``command``: ``verticals dashboard``, which starts Streamlit on ``app.py``;
- ``access``: who may open the dashboard (loopback, admin token, dashboard password);
- ``datasource``: reads the figures (the gateway's admin API or the ledger file);
- ``figures``, ``decisions``, ``frames``, ``filters``: the figures each page draws;
- ``ui``: the shared sidebar filters, tables and charts (imports Streamlit).

Importing this package imports nothing else, so the CLI can load ``command`` without Streamlit.
"""
