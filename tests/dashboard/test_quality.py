"""Quality beside cost: the Models page shows each model's latest evaluation scores next to its cost per
1k units and names a command that exists; the Risk page says whether evaluations passed, failed or none
ran, and does not call a few cents against a $0.00 median an anomaly."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

Run = Callable[..., Any]


@pytest.fixture(scope="module")
def quality_home(tmp_path_factory: pytest.TempPathFactory, seed_now: datetime) -> Path:
    """acme uses nlp/embed for free ($0.00 compute) for six days, then one day costs $0.03; nlp/embed's
    similarity suite passed 3 days ago (spearman 0.86, pearson 0.88, and the count of pairs, which has
    no threshold) after failing 5 days ago."""
    from verticals.ledger import Ledger, UsageEvent

    home = tmp_path_factory.mktemp("quality-home")
    with Ledger.open(home, fsync_ms=0, clock=lambda: seed_now - timedelta(days=10)) as ledger:
        ledger.create_customer("acme", "pro")
        for day in range(1, 8):
            ledger.record(
                UsageEvent(
                    request_id=f"q-{day}",
                    ts=seed_now - timedelta(days=day, hours=1),
                    customer="acme",
                    key_prefix=None,
                    plugin="nlp",
                    model="nlp/embed",
                    model_version="1",
                    endpoint="/v2/models/nlp/embed/infer",
                    status=200,
                    latency_ms=20.0,
                    units_in=1000,
                    units_out=0,
                    unit="texts",
                    compute_seconds=0.0,
                    device_class="cpu",
                    revenue_usd=Decimal("0.10"),
                    cost_usd=Decimal("0.03") if day == 1 else Decimal(0),
                )
            )
        ledger.flush()
        bounds = {"spearman": {"min": 0.8, "max": None}, "pearson": {"min": 0.85, "max": None}}
        for days_ago, values, passed in (
            (5, {"spearman": 0.7, "pearson": 0.8}, False),
            (3, {"spearman": 0.86, "pearson": 0.88, "pairs": 60.0}, True),  # pairs: no threshold
        ):
            ledger.record_evaluation(
                "nlp/embed", "1", "nlp/sentence-similarity", values, bounds, passed,
                at=seed_now - timedelta(days=days_ago),
            )  # fmt: skip
    return home


def texts(at: Any, kind: str) -> list[str]:
    return [element.value for element in getattr(at, kind)]


def test_models_table_shows_latest_scores_beside_cost(app_test: Run, quality_home: Path) -> None:
    at = app_test(quality_home, "models")
    table = next(d.value for d in at.dataframe if "cost_per_1k_units_usd" in d.value.columns)
    columns = list(table.columns)
    assert columns.index("evaluation") == columns.index("cost_per_1k_units_usd") + 1
    row = table[table["model"] == "nlp/embed"].iloc[0]
    # the gated metrics only: a count of pairs (or vision's 100 confusion cells) is no score
    assert row["evaluation"] == "nlp/sentence-similarity: pearson 0.88, spearman 0.86"
    assert bool(row["evaluation_passed"])


def test_models_page_hint_names_commands_that_exist(app_test: Run, empty_home: Path) -> None:
    """The hint said `verticals eval run MODEL`, which the CLI refuses (eval takes the model itself)."""
    from verticals.cli import attach_core_commands, cli

    attach_core_commands(cli)
    at = app_test(empty_home, "models")
    hint = next(i for i in texts(at, "info") if "evaluation runs" in i)
    commands = re.findall(r"`verticals ([^`]+)`", hint)
    assert commands, hint
    for command in commands:
        args = command.replace("MODEL", "echo/chat").split()
        group = cli.make_context("verticals", list(args), resilient_parsing=False)
        name, sub, rest = cli.resolve_command(group, args)
        assert sub is not None, command
        sub.make_context(name or "", rest, parent=group)  # raises UsageError for arguments it refuses


def test_risk_page_ignores_cents_against_a_zero_median(app_test: Run, quality_home: Path) -> None:
    at = app_test(quality_home, "risk")
    assert not [d for d in at.dataframe if "trailing_median_usd" in d.value.columns]
    assert any("at least $1.00 above it" in s for s in texts(at, "success")), texts(at, "success")
    # lowering the minimum to a cent shows the day again: the setting is what hides it
    at.number_input(key="risk_min_excess").set_value(0.01).run()
    shown = next(d.value for d in at.dataframe if "trailing_median_usd" in d.value.columns)
    assert list(shown["cost_usd"]) == [0.03]


def test_risk_page_says_evaluations_passed(app_test: Run, quality_home: Path) -> None:
    """The earlier failed run is superseded by the latest, which passed."""
    at = app_test(quality_home, "risk")
    assert any(s.startswith("Evaluations passed") for s in texts(at, "success")), texts(at, "success")


def test_risk_page_says_evaluations_failed(app_test: Run, seeded_home: Path) -> None:
    at = app_test(seeded_home, "risk")
    said = texts(at, "warning")
    assert any(s.startswith("Evaluations failed: the latest run of 1 of 1") for s in said), said


def test_risk_page_says_when_no_evaluation_ran(app_test: Run, empty_home: Path) -> None:
    """It used to say every evaluation 'passed (or none ran yet)' in a green box when none had run."""
    at = app_test(empty_home, "risk")
    # (the alerts section's green "No alert ... failing evaluation" is about alerts, not a pass)
    assert not [
        s for s in texts(at, "success") if s.lower().startswith("evaluation") or "passed" in s.lower()
    ]
    assert any(s.startswith("No evaluation has run") for s in texts(at, "warning")), texts(at, "warning")
