"""The OpenAI Usage and Costs APIs, for a customer's own key: ``GET /v1/organization/usage/completions``,
``/embeddings``, ``/audio_transcriptions``, ``/images`` and ``GET /v1/organization/costs``.

OpenAI serves these to an organization's admin key; here a customer's key (``vk_...``) reads its own
customer's usage and charges, never another's, so OpenAI's SDK (``admin_api_key=`` the customer key) and
tools built for OpenAI's billing data work unchanged. The calls are free: they write no usage event.

Query parameters are OpenAI's: ``start_time`` (Unix seconds, inclusive, required), ``end_time``
(exclusive, default now: the end of the current second), ``bucket_width`` (``1m``, ``1h``, ``1d``; the
costs ``1d`` only), ``group_by`` (only ``model``, ``line_item`` and ``api_key_id`` split the figures;
``project_id``, ``user_id``, ``batch``, ... are accepted and null), ``limit`` (buckets per page: 1d 7 by
default, at most 31; 1h 24 / 168; 1m 60 / 1440; costs 7 / 180), ``page`` (the previous page's
``next_page``), and the filters ``models``, ``api_key_ids`` (a key's id is its prefix, ``vk_`` and 8
characters), ``line_items`` (costs: model names) and ``batch`` (completions). A list is repeated
(``group_by=model&group_by=api_key_id``), bracketed as the OpenAI SDK sends it (``group_by[]=model``) or
comma-separated. Buckets lie on the UTC grid of their width (days from midnight UTC), the first starting
at ``start_time`` and the last ending at ``end_time``; every bucket of the range is listed, those without
usage with no results. A parameter that is unknown, malformed or out of range is a 400 naming it and
the fix.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request

from verticals.ledger.customer_usage import TRUNCATIONS, UsageQuery, UsageRow, customer_usage
from verticals.serving.admission import authenticate, context_of, gateway_of
from verticals.serving.errors import APIError
from verticals.serving.gateway import Gateway
from verticals.serving.openai.usage_params import ENDPOINTS, WIDTHS, Endpoint, buckets, cursor, parse
from verticals.serving.openai.usage_protocol import UsageBucket, UsagePage, UsageResult


async def free_customer_call(request: Request) -> None:
    """The routes' dependency: a customer key (401 without a valid one, 403 for a suspended customer), then
    no usage event: reading one's own usage is free and calls no model.
    """
    authenticate(request)
    context_of(request).recorded = True


router = APIRouter(tags=["OpenAI usage and costs"], dependencies=[Depends(free_customer_call)])


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _rows(gw: Gateway, db: Any, query: UsageQuery) -> list[UsageRow]:
    """``query`` run on ``db`` (a DuckDB cursor of the ledger) once every event recorded so far is in the
    ledger, then ``db`` closed; runs in a worker thread.
    """
    try:
        gw.ledger.flush()
        return customer_usage(db, query)
    finally:
        db.close()


async def usage_page(request: Request, endpoint: Endpoint) -> UsagePage[Any]:
    """One page of ``endpoint``'s buckets for the request's customer (see the module docstring); 503 when
    the gateway's ledger cannot be queried (a stand-in without a connection).
    """
    gw, principal = gateway_of(request), context_of(request).principal
    assert principal is not None  # free_customer_call authenticated it
    # end_time defaults to now: the end of the current second, so a request answered this second counts
    params = parse(endpoint, request.query_params, int(time.time()) + 1)
    spans = buckets(params)
    until = spans[-1][1]
    rows: list[UsageRow] = []
    if not params.none:  # batch=true: the gateway runs no batch jobs
        connection = getattr(gw.ledger, "connection", None)
        if connection is None:
            raise APIError(503, "this gateway's ledger cannot be queried", code="usage_unavailable")
        query = UsageQuery(
            customer=principal.customer,  # the key's own customer: never one the request names
            since=_utc(params.page_start),
            until=_utc(until),
            truncation=WIDTHS[params.width],
            kind=endpoint.kind,
            by_model=bool({"model", "line_item"} & params.grouping.fields),
            by_key="api_key_id" in params.grouping.fields,
            models=params.models,
            keys=params.keys,
        )
        # the cursor is taken here, on the event loop's thread, as the admin analytics take theirs
        rows = await asyncio.to_thread(_rows, gw, connection.cursor(), query)
    seconds = TRUNCATIONS[WIDTHS[params.width]]
    results: dict[int, list[UsageResult]] = {start // seconds: [] for start, _ in spans}
    for row in rows:
        results[int(row.bucket.timestamp()) // seconds].append(endpoint.result.of(row, params.grouping))
    data = [
        UsageBucket[Any](start_time=start, end_time=end, results=results[start // seconds])
        for start, end in spans
    ]
    more = until < params.end
    return UsagePage[Any](data=data, has_more=more, next_page=cursor(until) if more else None)


def _route(endpoint: Endpoint) -> Callable[[Request], Coroutine[Any, Any, UsagePage[Any]]]:
    async def route(request: Request) -> UsagePage[Any]:
        return await usage_page(request, endpoint)

    route.__name__ = f"usage_{endpoint.name}"
    route.__doc__ = (
        f"``GET {endpoint.path}``: the calling key's customer's "
        f"{'charges' if endpoint.kind is None else endpoint.name.replace('_', ' ') + ' usage'} by time "
        "bucket, in OpenAI's shape "
        f"({endpoint.result.__doc__ or ''}). group_by: {', '.join(endpoint.group_by)}; filters: "
        f"{', '.join((*endpoint.filters, *endpoint.flags))}. 400 for a bad parameter, naming it."
    )
    return route


def _parameters(endpoint: Endpoint) -> list[dict[str, Any]]:
    """The OpenAPI description of ``endpoint``'s query parameters (parsed by hand, to take ``name[]``)."""
    listed = {"type": "array", "items": {"type": "string"}}
    return [
        {"name": "start_time", "in": "query", "required": True, "schema": {"type": "integer"}},
        {"name": "end_time", "in": "query", "schema": {"type": "integer"}},
        {"name": "bucket_width", "in": "query", "schema": {"type": "string", "enum": list(endpoint.limits)}},
        {
            "name": "group_by",
            "in": "query",
            "schema": {"type": "array", "items": {"enum": list(endpoint.group_by)}},
        },
        {"name": "limit", "in": "query", "schema": {"type": "integer"}},
        {"name": "page", "in": "query", "schema": {"type": "string"}},
        *({"name": name, "in": "query", "schema": listed} for name in endpoint.filters),
        *({"name": name, "in": "query", "schema": {"type": "boolean"}} for name in endpoint.flags),
    ]


for _endpoint in ENDPOINTS:
    router.add_api_route(
        _endpoint.path,
        _route(_endpoint),
        methods=["GET"],
        response_model=UsagePage[_endpoint.result],  # type: ignore[name-defined]
        summary=f"{_endpoint.name.replace('_', ' ').capitalize()} of the calling key's customer",
        openapi_extra={"parameters": _parameters(_endpoint)},
    )
