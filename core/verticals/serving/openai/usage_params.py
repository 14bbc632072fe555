"""The query parameters of the OpenAI Usage and Costs APIs (``verticals.serving.openai.usage``): which each
endpoint takes, their checks (a 400 naming the parameter and the fix), the ``page`` cursor, and the
buckets of a page on the UTC grid.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from starlette.datastructures import QueryParams

from verticals.ledger.customer_usage import TRUNCATIONS, Truncation
from verticals.serving.errors import APIError
from verticals.serving.openai.usage_protocol import (
    AudioTranscriptionsResult,
    CompletionsResult,
    CostsResult,
    EmbeddingsResult,
    Grouping,
    ImagesResult,
    UsageResult,
)

WIDTHS: dict[str, Truncation] = {"1m": "minute", "1h": "hour", "1d": "day"}
USAGE_LIMITS = {"1d": (7, 31), "1h": (24, 168), "1m": (60, 1440)}  # bucket_width: (default, most)
COST_LIMITS = {"1d": (7, 180)}
# OpenAI filters with nothing to match here: refused rather than ignored, which would count everything.
ABSENT = {"project_ids": "projects", "user_ids": "users", "sizes": "image sizes", "sources": "image sources"}
LATEST = 253402300799  # 9999-12-31T23:59:59Z, the last second a datetime holds
CURSOR = "page_"
MOST_VALUES = 100  # values in one list parameter


@dataclass(frozen=True)
class Endpoint:
    """One usage or costs route: its ``result`` class, the ledger's ``kind`` of usage (None: every charge),
    the ``group_by`` values OpenAI accepts there (only ``model``, ``line_item`` and ``api_key_id`` split the
    figures), the bucket widths with their (default, most) limits, and the filters it takes.
    """

    name: str
    path: str
    result: type[UsageResult]
    kind: str | None
    group_by: tuple[str, ...]
    limits: dict[str, tuple[int, int]]
    filters: tuple[str, ...] = ("models", "api_key_ids")
    flags: tuple[str, ...] = ()


USAGE_GROUPS = ("project_id", "user_id", "api_key_id", "model")
ENDPOINTS = (
    Endpoint(
        "completions",
        "/v1/organization/usage/completions",
        CompletionsResult,
        "completions",
        (*USAGE_GROUPS, "batch", "service_tier"),
        USAGE_LIMITS,
        flags=("batch",),
    ),
    Endpoint(
        "embeddings",
        "/v1/organization/usage/embeddings",
        EmbeddingsResult,
        "embeddings",
        USAGE_GROUPS,
        USAGE_LIMITS,
    ),
    Endpoint(
        "audio_transcriptions",
        "/v1/organization/usage/audio_transcriptions",
        AudioTranscriptionsResult,
        "audio_transcriptions",
        USAGE_GROUPS,
        USAGE_LIMITS,
    ),
    Endpoint(
        "images",
        "/v1/organization/usage/images",
        ImagesResult,
        "images",
        (*USAGE_GROUPS, "size", "source"),
        USAGE_LIMITS,
    ),
    Endpoint(
        "costs",
        "/v1/organization/costs",
        CostsResult,
        None,
        ("project_id", "user_id", "line_item", "api_key_id"),
        COST_LIMITS,
        filters=("line_items", "api_key_ids"),
    ),
)


@dataclass(frozen=True)
class Params:
    """A parsed query: the period ``[start, end)`` in Unix seconds, the bucket width, buckets per page, where
    this page starts, the grouping, the model and key filters, and ``none`` (batch=true: nothing matches).
    """

    start: int
    end: int
    width: str
    limit: int
    page_start: int
    grouping: Grouping
    models: tuple[str, ...]
    keys: tuple[str, ...]
    none: bool


def _bad(param: str, message: str) -> APIError:
    return APIError(400, message, param=param, code="invalid_parameter")


def _single(query: QueryParams, name: str) -> str | None:
    values = query.getlist(name)
    if len(values) > 1:
        raise _bad(name, f"{name} was given {len(values)} times; give it once")
    return values[0] if values else None


def _many(query: QueryParams, name: str) -> tuple[str, ...]:
    values = [*query.getlist(name), *query.getlist(name + "[]")]
    parts = tuple(
        dict.fromkeys(part.strip() for value in values for part in value.split(",") if part.strip())
    )
    if len(parts) > MOST_VALUES:
        raise _bad(
            name, f"{name} lists {len(parts)} values; give at most {MOST_VALUES}, or leave it out for all"
        )
    return parts


def _seconds(name: str, raw: str) -> int:
    if not raw.isdigit() or int(raw) > LATEST:
        raise _bad(
            name, f"{name} must be a Unix time in whole seconds (UTC), such as 1793491200; got {raw[:40]!r}"
        )
    return int(raw)


def _known(endpoint: Endpoint) -> list[str]:
    return [
        "start_time",
        "end_time",
        "bucket_width",
        "group_by",
        "limit",
        "page",
        *endpoint.filters,
        *endpoint.flags,
    ]


def parse(endpoint: Endpoint, query: QueryParams, now: int) -> Params:
    """``query`` checked against ``endpoint``'s rules (see the module docstring); raises APIError 400 naming
    the parameter and its fix for anything unknown, missing, malformed or out of range.
    """
    known = _known(endpoint)
    for name in query:
        base = name.removesuffix("[]")
        if base in ABSENT:
            raise _bad(base, f"a verticals customer has no {ABSENT[base]} to filter by; leave out {base}")
        if base not in known:
            raise _bad(
                base, f"unknown query parameter {base[:40]!r}; {endpoint.path} takes {', '.join(known)}"
            )
    raw_start = _single(query, "start_time")
    if raw_start is None:
        raise _bad(
            "start_time",
            "start_time is required: the start of the period in Unix seconds, such as 1793491200",
        )
    start = _seconds("start_time", raw_start)
    raw_end = _single(query, "end_time")
    end = now if raw_end is None else _seconds("end_time", raw_end)
    if end <= start:
        raise _bad(
            "end_time",
            f"end_time ({end}{', now' if raw_end is None else ''}) must be after start_time ({start})",
        )
    width = _single(query, "bucket_width") or "1d"
    if width not in endpoint.limits:
        raise _bad(
            "bucket_width",
            f"bucket_width {width[:20]!r} is not served here; use {' or '.join(endpoint.limits)}",
        )
    default, most = endpoint.limits[width]
    raw_limit = _single(query, "limit")
    if raw_limit is not None and (not raw_limit.isdigit() or not 1 <= int(raw_limit) <= most):
        raise _bad(
            "limit",
            f"limit is the number of buckets per page: 1 to {most} for bucket_width={width}; "
            f"got {raw_limit[:20]!r}",
        )
    groups = _many(query, "group_by")
    unknown = [group for group in groups if group not in endpoint.group_by]
    if unknown:
        raise _bad(
            "group_by",
            f"cannot group by {unknown[0][:40]!r} here; group_by takes {', '.join(endpoint.group_by)}",
        )
    batch = _single(query, "batch") if "batch" in endpoint.flags else None
    if batch is not None and batch not in ("true", "false"):
        raise _bad("batch", f"batch is true or false; got {batch[:20]!r}")
    return Params(
        start=start,
        end=end,
        width=width,
        limit=default if raw_limit is None else int(raw_limit),
        page_start=_page_start(_single(query, "page"), start, end, width),
        grouping=Grouping(frozenset(groups)),
        models=_many(query, "models") or _many(query, "line_items"),
        keys=_many(query, "api_key_ids"),
        none=batch == "true",  # the gateway runs no batch jobs
    )


def cursor(at: int) -> str:
    """The ``next_page`` cursor of the page starting at Unix second ``at``: opaque to clients."""
    return CURSOR + base64.urlsafe_b64encode(str(at).encode()).decode().rstrip("=")


def _page_start(page: str | None, start: int, end: int, width: str) -> int:
    if page is None:
        return start
    seconds = TRUNCATIONS[WIDTHS[width]]
    try:
        encoded = page.removeprefix(CURSOR)
        at = int(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        at = -1
    if not page.startswith(CURSOR) or not start < at < end or at % seconds:
        raise _bad(
            "page",
            f"page {page[:40]!r} is not a cursor of this query; pass the next_page of the previous response "
            "with the same start_time, end_time and bucket_width, or leave page out for the first page",
        )
    return at


def buckets(params: Params) -> list[tuple[int, int]]:
    """This page's buckets as ``(start, end)`` Unix seconds: on the UTC grid of the width, clipped to the
    period, at most ``limit`` of them.
    """
    seconds = TRUNCATIONS[WIDTHS[params.width]]
    spans: list[tuple[int, int]] = []
    at = params.page_start
    while at < params.end and len(spans) < params.limit:
        upto = min((at // seconds + 1) * seconds, params.end)
        spans.append((at, upto))
        at = upto
    return spans
