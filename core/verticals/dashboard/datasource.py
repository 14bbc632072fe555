"""Where the dashboard's figures come from: one interface, two implementations.

- ``ApiSource``: the gateway's admin API, while ``verticals serve`` runs (it owns the ledger file).
- ``LedgerSource``: the ledger file opened read-only, when no gateway runs.
- ``PostgresSource``: with ``database_url``, the shared PostgreSQL ledger read-only, gateways or not.

Both call the same ledger analytics functions (``verticals.ledger.analytics``) and hand back the same
JSON-shaped values (Decimal and datetime as strings, as the admin API sends them), so a page cannot
tell them apart. The read-only ledger is opened per call and closed at once: a dashboard holding the
file open would stop the gateway from starting.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from verticals.dashboard.admin_actions import AdminActions


class DataSourceError(RuntimeError):
    """The figures could not be read; the message names the cause and the fix."""


class MissingAnalytics(DataSourceError):
    """The ledger behind the source has no analytics function of that name (an older verticals)."""


class DataSource(Protocol):
    """Where the dashboard reads its figures: the gateway's admin API (ApiSource) or the ledger file read-only
    (LedgerSource). ``id`` tells sources apart in caches.
    """

    id: str

    def describe(self) -> str:
        """One phrase for the page captions saying where the data comes from."""
        ...

    def analytics(self, name: str, **params: Any) -> Any:
        """Run the ledger analytics function ``name`` with keyword ``params``; JSON-shaped result."""

    def control(self, what: str) -> list[dict[str, Any]]:
        """Control data: 'customers', 'plans', 'prices', 'costs' or 'allowances'."""

    def admin_actions(self, actor: str) -> AdminActions | None:
        """The admin actions, made in ``actor``'s name (for the audit log), or None when this source cannot
        change anything (the ledger read-only, no gateway running)."""


def plain(value: Any) -> Any:
    """The JSON shape the admin API sends: Decimal and datetime as strings, dataclasses as dicts."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: plain(v) for k, v in dataclasses.asdict(value).items()}
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):
        return model_dump(mode="json")
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


_CONTROL_METHODS = {
    "customers": "list_customers",
    "plans": "list_plans",
    "prices": "list_prices",
    "costs": "list_costs",
    "allowances": "allowances",
}


class LedgerSource:
    """The ledger file, opened read-only for each call."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.id = f"ledger:{self.home}"

    def describe(self) -> str:
        """Names the ledger's data directory and that it is read read-only with no gateway running."""
        return f"ledger file in {self.home} (read-only; no gateway running)"

    def _open(self) -> Any:
        from verticals.ledger import Ledger, LedgerError
        from verticals.ledger.opening import LEDGER_FILE

        if not (self.home / LEDGER_FILE).exists():
            return _blank_ledger(self.home / LEDGER_FILE)
        try:
            return Ledger.open(self.home, read_only=True)
        except LedgerError as error:
            if "in use" in str(error):
                raise DataSourceError(
                    f"a running gateway holds the ledger in {self.home}: read through it instead "
                    "(`verticals dashboard`, whose default --source auto does)"
                ) from None
            raise DataSourceError(str(error)) from None

    def analytics(self, name: str, **params: Any) -> Any:
        """Run ``verticals.ledger.analytics.<name>(connection, **params)`` on the ledger opened read-only for
        this call; the result in the JSON shape the admin API sends (Decimal and datetime as strings, by
        ``plain``). A missing ledger file reads as an empty one. Raises DataSourceError when the source
        cannot be read (MissingAnalytics for a function the ledger lacks). Raises also when a gateway holds
        the ledger.
        """
        from verticals.ledger import analytics

        function = getattr(analytics, name, None)
        if function is None or name.startswith("_"):
            raise MissingAnalytics(f"the ledger has no analytics function {name!r}: upgrade verticals")
        ledger = self._open()
        try:
            return plain(function(ledger.connection, **params))
        finally:
            ledger.close()

    def control(self, what: str) -> list[dict[str, Any]]:
        """Control rows of ``what`` (customers, plans, prices or costs) as JSON-shaped dicts, from the ledger
        opened read-only for this call; KeyError for another ``what``. Raises DataSourceError when the
        ledger cannot be opened (a gateway holds it).
        """
        ledger = self._open()
        try:
            result: list[dict[str, Any]] = plain(getattr(ledger, _CONTROL_METHODS[what])())
            return result
        finally:
            ledger.close()

    def admin_actions(self, actor: str) -> AdminActions | None:
        """None: the ledger file is read-only here; changes go through a running gateway."""
        return None


class PostgresSource:
    """The shared PostgreSQL ledger at ``database_url``, read-only, whether gateways run or not: the analytics
    run in PostgreSQL rather than inside a serving replica. One ledger stays open (its caches follow every
    writer's changes), used by one call at a time. Admin actions go through ``gateway`` (the admin API of
    a replica serving this home) when one runs, so its audit log names the dashboard's user.
    """

    def __init__(self, database_url: str, home: Path, gateway: ApiSource | None = None) -> None:
        from verticals.ledger.postgres.connection import redacted

        self.url = database_url
        self.home = Path(home)
        self.gateway = gateway
        self.where = redacted(database_url)
        self.id = f"postgres:{self.where}"
        self._ledger: Any = None
        self._lock = threading.Lock()

    def describe(self) -> str:
        """Names the PostgreSQL server and database (never the password) and that it is read read-only."""
        return f"PostgreSQL ledger at {self.where} (read-only)"

    def _call(self, use: Any) -> Any:
        import psycopg

        from verticals.ledger import Ledger, LedgerError

        with self._lock:
            try:
                if self._ledger is None:
                    self._ledger = Ledger.open(self.home, read_only=True, database_url=self.url)
                return use(self._ledger)
            except LedgerError as error:
                raise DataSourceError(str(error)) from None
            except psycopg.Error as error:
                first = (str(error).strip().splitlines() or [type(error).__name__])[0]
                raise DataSourceError(
                    f"the PostgreSQL ledger at {self.where} could not be read: {first}"
                ) from None

    def analytics(self, name: str, **params: Any) -> Any:
        """``verticals.ledger.analytics.<name>`` run over PostgreSQL, in the admin API's JSON shape
        (``plain``). Raises DataSourceError when the database cannot be read (MissingAnalytics for a
        function the ledger lacks)."""
        from verticals.ledger import analytics

        function = getattr(analytics, name, None)
        if function is None or name.startswith("_"):
            raise MissingAnalytics(f"the ledger has no analytics function {name!r}: upgrade verticals")
        return self._call(lambda ledger: plain(function(ledger.connection, **params)))

    def control(self, what: str) -> list[dict[str, Any]]:
        """Control rows of ``what`` (customers, plans, prices or costs) as JSON-shaped dicts; KeyError for
        another ``what``, DataSourceError when the database cannot be read."""
        method = _CONTROL_METHODS[what]
        result: list[dict[str, Any]] = self._call(lambda ledger: plain(getattr(ledger, method)()))
        return result

    def admin_actions(self, actor: str) -> AdminActions | None:
        """The admin actions through a running gateway's admin API (see the class); None without one."""
        return None if self.gateway is None else self.gateway.admin_actions(actor)

    def close(self) -> None:
        """Close the ledger (it is opened again by the next call)."""
        with self._lock:
            if self._ledger is not None:
                self._ledger.close()
                self._ledger = None


class ApiSource:
    """The admin API of a running gateway."""

    def __init__(self, base_url: str, token: str, timeout: float = 30.0) -> None:
        from verticals.client import AdminClient

        self._client = AdminClient(base_url, token, timeout=timeout)
        self.base_url = self._client.base_url
        self.timeout = timeout
        self.id = f"api:{self.base_url}"

    def describe(self) -> str:
        """Names the gateway admin API's URL."""
        return f"gateway admin API at {self.base_url}"

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        from verticals.client import AdminError

        query = {k: _query_value(v) for k, v in (params or {}).items()}
        try:
            return self._client.get(path, **query)
        except AdminError as error:
            if error.status == 0:
                raise DataSourceError(str(error)) from None
            if error.status == 404 and path.startswith("/admin/analytics/"):
                raise MissingAnalytics(f"the gateway's ledger has no analytics function: {error}") from None
            raise DataSourceError(f"the gateway answered {error.status}: {error}") from None

    def analytics(self, name: str, **params: Any) -> Any:
        """``GET /admin/analytics/<name>`` with ``params`` as the query (dates as ISO 8601, other values
        JSON-encoded); the JSON result. Raises DataSourceError when the source cannot be read
        (MissingAnalytics for a function the ledger lacks).
        """
        return self._get(f"/admin/analytics/{name}", params)

    def control(self, what: str) -> list[dict[str, Any]]:
        """``GET /admin/<what>`` (customers, plans, prices or costs): the rows as dicts. Raises
        DataSourceError when the gateway is unreachable or answers an error status.
        """
        result: list[dict[str, Any]] = self._get(f"/admin/{what}")
        return result

    def admin_actions(self, actor: str) -> AdminActions | None:
        """The admin actions through this gateway's admin API, each sent with ``actor`` as the
        ``x-verticals-actor`` header so the gateway's audit log names who made it."""
        from verticals.client import AdminClient
        from verticals.dashboard.admin_actions import AdminActions

        client = AdminClient(self.base_url, self._client.token, timeout=self.timeout, actor=actor)
        return AdminActions(client)


def _query_value(value: Any) -> str:
    # The admin API JSON-decodes each query value that parses and passes the rest as a string.
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        # a string that happens to parse as JSON (a plan named "1") must stay a string
        return json.dumps(value) if _parses(value) else value
    return json.dumps(plain(value))


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _blank_ledger(path: Path) -> Any:
    """A home without a ledger file is a fresh install: answer from an empty in-memory ledger with the
    same schema, so every figure is the real function's answer over no data, never an error."""
    import duckdb

    from verticals.ledger._time import utc_now
    from verticals.ledger.ledger import Ledger
    from verticals.ledger.schema import migrate

    conn = duckdb.connect(":memory:")
    migrate(conn, ":memory:")
    return Ledger(path, conn, None, utc_now)


def open_source(kind: str, home: str, gateway_url: str, token: str | None) -> DataSource:
    """The data source of ``kind``: ``api`` (the gateway at ``gateway_url`` with the admin ``token``) or
    ``ledger`` (the ledger in ``home``, read-only; with ``database_url`` set, the PostgreSQL ledger, its
    admin actions through the gateway at ``gateway_url`` when one is given).

    Raises DataSourceError for ``api`` without a URL or token (naming how to get them), and for any other
    kind.
    """
    if kind == "api":
        if not gateway_url:
            raise DataSourceError(
                "no gateway is running for this data directory: start `verticals serve`, pass --gateway-url, "
                "or use --source ledger"
            )
        if not token:
            raise DataSourceError(
                "reading through the gateway needs the admin token: set VERTICALS_ADMIN_TOKEN or start "
                "`verticals serve` once so it writes one into the data directory"
            )
        return ApiSource(gateway_url, token)
    if kind == "ledger":
        from verticals.config import load_settings

        database_url = load_settings(home=Path(home)).database_url
        if database_url:
            gateway = ApiSource(gateway_url, token) if gateway_url and token else None
            return PostgresSource(database_url, Path(home), gateway)
        return LedgerSource(Path(home))
    raise DataSourceError(f"unknown data source {kind!r}: use auto, api or ledger")
