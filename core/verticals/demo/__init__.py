"""The demo: customers on different plans, live traffic through a running gateway, synthetic history.

``customers`` (the demo customers and the rhythm of their day) and ``plans`` (the price list: one plan
per business model) are imported by ``traffic`` (requests through the gateway's public API) and
``backfill`` (history written straight into the ledger, with invoices of its closed months);
``commands`` holds the ``verticals demo`` command and imports the others only when it runs.
"""

from __future__ import annotations

from verticals.demo.traffic import call, served_targets

__all__ = ["call", "served_targets"]
