"""The operator's CLI, run as the real ``verticals`` command: books that refuse mistakes (unregistered
models, units a model is not metered in, negative prices), unknown names answered with suggestions, tables
that fit 80 columns, money in JSON as fixed-point decimal strings, margins as ratios, token prices per 1M.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from verticals.ledger import Ledger

from .conftest import make_event

VERTICALS = str(Path(sys.executable).parent / "verticals")
FIXED_POINT = re.compile(r"^-?\d+(\.\d+)?$")


def verticals(home: Path, *args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    """``verticals ARGS`` on the ledger in ``home``, its output as wide as ``columns`` (rich reads COLUMNS
    when the output is not a terminal)."""
    env = {**os.environ, "VERTICALS_HOME": str(home), "COLUMNS": str(columns)}
    env.pop("VERTICALS_ADMIN_TOKEN", None)
    return subprocess.run([VERTICALS, *args], env=env, capture_output=True, text=True, timeout=120)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def refused(result: subprocess.CompletedProcess[str], *messages: str) -> str:
    text = result.stdout + result.stderr
    assert result.returncode != 0, text
    assert "Traceback" not in text
    for message in messages:
        assert message in text, text
    return text


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def price_rows(home: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(ok(verticals(home, "prices", "list", "--json")))
    return rows


# books that refuse mistakes


def test_price_for_a_mistyped_model_is_refused_with_a_suggestion(home: Path) -> None:
    text = refused(
        verticals(home, "prices", "set", "pro", "tokens", "0.000002", "--model", "nlp/chta"),
        "unknown model 'nlp/chta'",
        "did you mean 'nlp/chat'",
        "--force",
    )
    assert "0.000002" not in json.dumps(price_rows(home)), text  # nothing went into the append-only book
    # a plugin that comes later: --force says so, and the row is written
    ok(verticals(home, "prices", "set", "pro", "tokens", "0.000002", "--model", "later/chat", "--force"))
    assert [row["model"] for row in price_rows(home)] == ["later/chat"]


def test_price_in_a_unit_the_model_is_not_metered_in_is_refused(home: Path) -> None:
    refused(
        verticals(home, "prices", "set", "pro", "images", "0.01", "--model", "nlp/chat"),
        "nlp/chat is metered in tokens, not images",
    )
    refused(
        verticals(home, "prices", "set", "pro", "tokns", "0.01", "--model", "nlp/chat"),
        "unknown unit 'tokns'",
        "did you mean 'tokens'",
    )
    refused(
        verticals(home, "prices", "set", "pro", "images", "0.01", "--plugin", "nlp"),
        "no model of plugin 'nlp' is metered in images",
    )
    refused(verticals(home, "prices", "set", "pro", "tokens", "1", "--plugin", "nlpp"), "did you mean 'nlp'")
    refused(verticals(home, "prices", "set", "pro", "tokens", "1", "--task", "chatt"), "did you mean 'chat'")
    assert price_rows(home) == []
    ok(verticals(home, "prices", "set", "pro", "calls", "0.001", "--plugin", "nlp"))  # nlp/classify: calls


def test_negative_price_parses_as_a_value_and_is_refused_clearly(home: Path) -> None:
    text = refused(
        verticals(home, "prices", "set", "pro", "tokens", "-1", "--model", "nlp/chat"),
        "is negative",
    )
    assert "No such option" not in text
    refused(verticals(home, "costs", "set", "h100", "-2.5"), "is negative")
    assert price_rows(home) == []


def test_per_million_prices_are_stored_per_unit_and_shown_per_million(home: Path) -> None:
    said = ok(verticals(home, "prices", "set", "pro", "tokens", "2", "--per-million", "--model", "nlp/chat"))
    assert "$2 per 1M tokens" in said
    (row,) = price_rows(home)
    assert Decimal(row["price_per_unit_usd"]) == Decimal("0.000002")
    ok(verticals(home, "prices", "set", "pro", "images", "0.01", "--model", "vision/digits"))
    table = ok(verticals(home, "prices", "list"))
    assert "$2 / 1M tokens" in table and "$0.01 / image" in table
    assert "0.000002" not in table


# unknown names are errors with suggestions


@pytest.fixture
def usage_home(home: Path) -> Path:
    """A ledger with three customers' requests, devices up (so idle cost) and money of every size."""
    ok(verticals(home, "customers", "create", "acme-corporation", "--plan", "pro"))
    ok(verticals(home, "customers", "create", "globex-international", "--plan", "pro"))
    ok(verticals(home, "customers", "create", "initech", "--plan", "free"))
    with Ledger.open(home, fsync_ms=20) as ledger:
        up = datetime(2026, 11, 10, tzinfo=UTC)
        ledger.record_device("h100-1", "h100", ["nlp/chat"], up, datetime(2026, 11, 12, tzinfo=UTC))
        for index, (customer, revenue, cost) in enumerate(
            [
                ("acme-corporation", "1234.567891234", "0.000000145"),
                ("globex-international", "0.000000145", "0"),
                ("initech", "98765.4321", "12.5"),
            ]
        ):
            event = make_event(
                request_id=f"r{index}",
                customer=customer,
                ts=datetime(2026, 11, 10, 1 + index, tzinfo=UTC),
                revenue_usd=Decimal(revenue),
                cost_usd=Decimal(cost),
                units_in=123456789,
            )
            ledger.record(event)
    return home


def test_usage_report_for_an_unknown_customer_or_model_is_an_error(usage_home: Path) -> None:
    refused(verticals(usage_home, "usage", "report", "--customer", "nosuch"), "unknown customer 'nosuch'")
    refused(
        verticals(usage_home, "usage", "report", "--customer", "initec"),
        "unknown customer 'initec'",
        "did you mean 'initech'",
    )
    refused(
        verticals(usage_home, "usage", "report", "--model", "nlp/chta"),
        "unknown model 'nlp/chta'",
        "did you mean 'nlp/chat'",
    )
    refused(verticals(usage_home, "usage", "report", "--plugin", "nlpp"), "did you mean 'nlp'")
    # a known customer without requests in the period is a report without its requests, not an error
    ok(verticals(usage_home, "usage", "report", "--customer", "initech", "--since", "2026-11-20"))
    ok(verticals(usage_home, "usage", "report", "--model", "vision/digits"))


def test_unknown_customers_plans_and_models_get_suggestions(usage_home: Path) -> None:
    refused(
        verticals(usage_home, "keys", "create", "--customer", "acme-corp"),
        "did you mean 'acme-corporation'",
    )
    refused(verticals(usage_home, "customers", "set", "initek", "--budget", "5"), "did you mean 'initech'")
    refused(verticals(usage_home, "customers", "create", "hooli", "--plan", "proo"), "did you mean 'pro'")
    refused(
        verticals(usage_home, "models", "pull", "nlp/chta"),
        "unknown model 'nlp/chta'",
        "did you mean 'nlp/chat'",
    )


# readable output


def assert_fits(text: str, width: int = 80) -> None:
    too_wide = [line for line in text.splitlines() if len(line) > width]
    assert not too_wide, "\n".join(too_wide)
    assert "…" not in text, text  # a cell cut off


def test_usage_report_fits_80_columns_and_wide_shows_every_column(usage_home: Path) -> None:
    table = ok(verticals(usage_home, "usage", "report", "--basis", "list"))
    assert_fits(table)
    for whole in ("acme-corporation", "globex-international", "initech", "$98.8k", "$1.2k"):
        assert whole in table, table
    wide = ok(verticals(usage_home, "usage", "report", "--wide", "--by", "customer", "--by", "model"))
    assert "…" not in wide
    for header in ("request cost", "idle cost", "contribution"):
        assert header in wide, wide


def test_prices_list_fits_80_columns(home: Path) -> None:
    ok(verticals(home, "prices", "set", "pro", "tokens", "0.000002", "--model", "nlp/chat", "--note", "x"))
    ok(
        verticals(
            home, "prices", "set", "enterprise", "tokens", "--plugin", "nlp", "--task", "embedding",
            "--charge-model", "graduated", "--tier", "1000000:0.000002", "--tier", "inf:0.000001",
            "--from", "2099-01-01", "--note", "volume discount agreed with the big customers",
        )
    )  # fmt: skip
    table = ok(verticals(home, "prices", "list"))
    assert_fits(table)
    for whole in ("nlp/chat", "enterprise", "embedding", "$2 / 1M tokens", "2099-01-01"):
        assert whole in table, table


def test_money_in_json_is_always_a_fixed_point_decimal_string(usage_home: Path) -> None:
    rows = json.loads(ok(verticals(usage_home, "usage", "report", "--basis", "list", "--json")))
    money = [value for row in rows for key, value in row.items() if key.endswith("_usd")]
    assert money and all(isinstance(v, str) and FIXED_POINT.match(v) for v in money), money
    by_customer = {row["customer"]: row for row in rows}
    assert by_customer["globex-international"]["revenue_usd"] == "0.000000145"


def test_margins_are_ratios_by_name(usage_home: Path) -> None:
    rows = json.loads(ok(verticals(usage_home, "usage", "report", "--basis", "list", "--json")))
    assert all("margin_pct" not in row for row in rows)
    initech = next(row for row in rows if row["customer"] == "initech")
    assert 0 < initech["margin_ratio"] < 1 and 0 < initech["contribution_margin_ratio"] < 1
    table = ok(verticals(usage_home, "usage", "report", "--basis", "list"))
    assert f"{initech['margin_ratio'] * 100:.1f}%" in table, table


def test_every_listing_fits_80_columns_without_cutting_a_cell(usage_home: Path) -> None:
    ok(verticals(usage_home, "keys", "create", "--customer", "globex-international"))
    for command in (("customers", "list"), ("keys", "list"), ("costs", "list"), ("models", "list")):
        table = ok(verticals(usage_home, *command))
        assert_fits(table)
    models = ok(verticals(usage_home, "models", "list"))
    assert "speech/transcribe" in models and "image-classification" in models, models
    assert "globex-international" in ok(verticals(usage_home, "customers", "list"))
    assert "source" in ok(verticals(usage_home, "models", "list", "--wide"))
