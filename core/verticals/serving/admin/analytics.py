"""The admin API's analytics: ``/admin/analytics`` runs any ledger analytics function by name with query
parameters as its arguments; ``/admin/usage`` is ``usage_summary``."""

from __future__ import annotations

import inspect
import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from verticals.ledger.errors import LedgerError
from verticals.ledger.report_filters import check_report_filters
from verticals.serving.admin.access import AdminGateway, json_response
from verticals.serving.errors import APIError
from verticals.serving.gateway import Gateway

router = APIRouter()  # included by the admin router, which adds its prefix and the admin check


def _analytics() -> dict[str, Any]:
    try:
        from verticals.ledger import analytics
    except ImportError:
        return {}
    names = getattr(analytics, "__all__", [n for n in dir(analytics) if not n.startswith("_")])
    return {n: getattr(analytics, n) for n in names if inspect.isfunction(getattr(analytics, n, None))}


@router.get("/analytics")
async def analytics_list(gw: AdminGateway) -> Response:
    """``GET /admin/analytics``: each ledger analytics function's name, docstring and parameters (those ``GET
    /admin/analytics/{name}`` takes as query parameters). Admin token only (401 without or with a wrong
    one, 403 for a customer key).
    """
    return json_response(
        [
            {
                "name": name,
                "doc": inspect.getdoc(fn) or "",
                "parameters": [p for p in inspect.signature(fn).parameters if p != "conn"],
            }
            for name, fn in sorted(_analytics().items())
        ]
    )


@router.get("/analytics/{name}")
async def analytics_call(name: str, request: Request, gw: AdminGateway) -> Response:
    """Run one ledger analytics function; query parameters become its keyword arguments (JSON-decoded
    when they parse, e.g. ``?k=3``)."""
    functions = _analytics()
    fn = functions.get(name)
    if fn is None:
        raise APIError(
            404,
            f"no analytics function {name!r}; known: {', '.join(sorted(functions)) or 'none'}",
            code="not_found",
        )
    kwargs = _arguments(fn, dict(request.query_params))
    return json_response(_run(gw, name, fn, kwargs))


@router.get("/usage")
async def usage(
    gw: AdminGateway,
    by: str = "customer",
    since: datetime | None = None,
    until: datetime | None = None,
    customer: str | None = None,
    model: str | None = None,
    plugin: str | None = None,
) -> Response:
    """Usage, revenue, cost and margin grouped ``by`` (comma-separated: hour|day|week|month and any of
    customer, plugin, model, device_class, endpoint, unit); the ledger's ``usage_summary``. A ``customer``,
    ``model`` or ``plugin`` nobody knows is a 400 naming the closest known names."""
    from verticals.ledger.analytics import usage_summary

    kwargs = {
        "by": [part.strip() for part in by.split(",") if part.strip()],
        "since": since,
        "until": until,
        "customer": customer,
        "model": model,
        "plugin": plugin,
    }
    rows = _run(gw, "usage_summary", usage_summary, kwargs)
    if customer or model or plugin:  # a name nobody knows is a 400 with suggestions, not an empty list
        specs = [registered.item for registered in gw.registry.models.values()]
        try:
            check_report_filters(gw.ledger, specs, rows, customer=customer, model=model, plugin=plugin)
        except LedgerError as error:
            raise APIError(400, str(error), code="bad_parameters") from None
    return json_response(rows)


def _arguments(fn: Any, query: dict[str, str]) -> dict[str, Any]:
    """Query strings to keyword arguments: times parsed, comma lists split, JSON values decoded."""
    params = inspect.signature(fn).parameters
    kwargs: dict[str, Any] = {}
    for key, raw in query.items():
        annotation = str(params[key].annotation) if key in params else ""
        if "datetime" in annotation:
            try:
                kwargs[key] = datetime.fromisoformat(raw)
            except ValueError:
                raise APIError(
                    400, f"{key}={raw!r} is not a date or time; use ISO 8601, e.g. 2026-11-01", param=key
                ) from None
        elif annotation.startswith("Sequence[str]") and not raw.startswith("["):
            kwargs[key] = [part.strip() for part in raw.split(",") if part.strip()]
        else:
            try:
                kwargs[key] = json.loads(raw)
            except json.JSONDecodeError:
                kwargs[key] = raw
    return kwargs


def _run(gw: Gateway, name: str, fn: Any, kwargs: dict[str, Any]) -> Any:
    from verticals.ledger import LedgerError

    gw.ledger.flush()  # so the figures include every request answered so far
    conn = getattr(gw.ledger, "connection", None)
    try:
        return fn(conn.cursor() if conn is not None else gw.ledger, **kwargs)
    except TypeError as error:
        raise APIError(
            400, f"{name}: {error}; see GET /admin/analytics for its parameters", code="bad_parameters"
        ) from None
    except (LedgerError, ValueError) as error:
        raise APIError(400, f"{name}: {error}", code="bad_parameters") from None
