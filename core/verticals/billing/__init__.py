"""Billing: plans with fees and allowances, charge models, subscriptions, credits and invoices.

The records (``model``) are plain dataclasses shared by the engine that computes an invoice from the
ledger, its exports (JSON, CSV, PDF) and the CLI and admin API. Billing reads and writes the ledger
only through the ``Ledger`` interface, never with SQL of its own, so that it runs unchanged on any
ledger engine.
"""
