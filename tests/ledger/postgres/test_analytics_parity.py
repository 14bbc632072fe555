"""Every analytics function and every invoice gives the same result on PostgreSQL as on DuckDB.

The synthetic generator's events and a business's control data (``parity_data``) are loaded into a DuckDB
ledger and copied row for row into a PostgreSQL ledger; September is finalized (and one invoice voided
and reissued) on each engine by the billing engine itself. Then each function of
``verticals.ledger.analytics``, enumerated from its ``__all__``, runs with representative filters
(``parity_cases.CASES``) on both, and the results must agree: money exactly (the same Decimal digits),
floats to 1e-9 relative, every other value and every type equal. An error must be the same error.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the suite imports tests with --import-mode=importlib

import parity_data as data
from parity_cases import CASES, differences

from verticals.billing.exports import to_dict
from verticals.billing.invoices import finalize_month, preview, preview_all, void_and_reissue
from verticals.ledger import Ledger, analytics

MONTHS = ("2026-09", "2026-10", "2026-11")


@dataclasses.dataclass
class Engines:
    duck: Ledger
    pg: Ledger
    finalized: dict[str, list[Any]]  # engine name: the invoices finalize_month and void_and_reissue stored


@pytest.fixture(scope="module")
def engines(postgres_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engines]:
    url = postgres_server.database()
    duck = data.build_duckdb(tmp_path_factory.mktemp("duck"))
    pg_home = tmp_path_factory.mktemp("pg")
    Ledger.open(pg_home, database_url=url, fsync_ms=0).close()  # the schema
    with psycopg.connect(url, autocommit=True) as raw:
        data.copy_control(duck.connection, raw)
        data.copy_events(duck.connection, raw)
    pg = Ledger.open(pg_home, database_url=url, fsync_ms=0, clock=data.Clock(data.NOW))
    finalized = {}
    for name, ledger in (("duckdb", duck), ("postgres", pg)):
        stored = finalize_month(ledger, "2026-09", now=data.NOW)
        finalized[name] = [*stored, void_and_reissue(ledger, stored[1].number or "")]
    yield Engines(duck, pg, finalized)
    pg.close()
    duck.close()


def _outcome(ledger: Ledger, name: str, case: dict[str, Any]) -> Any:
    try:
        return ledger.analytics(name, **case)
    except Exception as error:  # the same refusal on both engines is agreement too
        return ("raised", type(error).__name__, str(error))


def test_every_analytics_function_has_cases() -> None:
    assert sorted(CASES) == sorted(analytics.__all__), "add parity cases for each new analytics function"


@pytest.mark.parametrize(
    ("name", "case"),
    [pytest.param(name, case, id=f"{name}-{index}") for name in sorted(CASES) for index, case in
     enumerate(CASES[name])],
)  # fmt: skip
def test_analytics_agree(engines: Engines, name: str, case: dict[str, Any]) -> None:
    on_duckdb = _outcome(engines.duck, name, case)
    on_postgres = _outcome(engines.pg, name, case)
    assert not (isinstance(on_duckdb, tuple) and on_duckdb[0] == "raised"), on_duckdb
    found = differences(on_duckdb, on_postgres)
    assert not found, "\n".join(found[:20])


def test_events_and_control_rows_match(engines: Engines) -> None:
    """A guard on the copy itself: the same events and control rows in both engines."""
    query = (
        "SELECT count(*), sum(revenue_usd), sum(cost_usd), count(DISTINCT customer), min(ts), max(ts) "
        "FROM usage_events"
    )
    assert (
        engines.duck.connection.execute(query).fetchone() == engines.pg.connection.execute(query).fetchone()
    )
    for table in data.CONTROL_TABLES:
        count = f"SELECT count(*) FROM {table}"
        assert (
            engines.duck.connection.execute(count).fetchone()
            == engines.pg.connection.execute(count).fetchone()
        )


@pytest.mark.parametrize("month", MONTHS)
def test_invoice_previews_agree(engines: Engines, month: str) -> None:
    """Every customer's draft, one by one and all at once, in every month of the data."""
    customers = [customer.name for customer in engines.duck.list_customers()]
    assert customers == [customer.name for customer in engines.pg.list_customers()]
    for customer in customers:
        on_duckdb, on_postgres = preview(engines.duck, customer, month), preview(engines.pg, customer, month)
        assert to_dict(on_duckdb) == to_dict(on_postgres), customer
        assert not differences(dataclasses.asdict(on_duckdb), dataclasses.asdict(on_postgres)), customer
    every = [to_dict(invoice) for invoice in preview_all(engines.duck, month)]
    assert every == [to_dict(invoice) for invoice in preview_all(engines.pg, month)]


def test_finalized_invoices_and_their_snapshots_agree(engines: Engines) -> None:
    """finalize_month and void_and_reissue store the same invoices, numbers and JSON snapshots, byte for
    byte, on both engines."""
    duck, pg = engines.finalized["duckdb"], engines.finalized["postgres"]
    assert len(duck) > 10
    assert [to_dict(i) for i in duck] == [to_dict(i) for i in pg]
    stored = engines.duck.list_invoices()
    assert [to_dict(i) for i in stored] == [to_dict(i) for i in engines.pg.list_invoices()]
    assert {i.status.value for i in stored} == {"finalized", "void"}
    for invoice in stored:
        number = invoice.number or ""
        assert engines.duck.invoice_snapshot(number) == engines.pg.invoice_snapshot(number), number
        assert to_dict(engines.duck.get_invoice(number)) == to_dict(engines.pg.get_invoice(number))
    for customer in ("customer-004", "customer-005", "customer-008"):
        assert engines.duck.credit_balance(customer) == engines.pg.credit_balance(customer)
