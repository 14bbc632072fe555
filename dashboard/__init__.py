"""The verticals dashboard: a Streamlit app that draws what the ledger's analytics compute.

Run it with ``verticals dashboard``; ``app.py`` is the entry point, ``views/`` holds one script per
page, ``datasource.py`` reads the figures (admin API or ledger file), ``ui.py`` holds the shared
filters, tables and charts.
"""
