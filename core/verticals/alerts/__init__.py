"""Alerts: budget thresholds, cost anomalies, backends down and failing evaluations, sent once per event
to the operator's webhook (``[alerts]`` in ``verticals.toml``) and kept in the ledger for the Risk page.

``start_alerts(gateway)`` starts the loop inside the gateway (``verticals.serving.app``'s lifespan).
"""

from verticals.alerts.service import AlertService, start_alerts

__all__ = ["AlertService", "start_alerts"]
