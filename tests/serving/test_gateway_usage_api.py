"""The OpenAI Usage and Costs APIs for a customer's own key, against a real gateway: OpenAI's shapes field by
field (read back with the openai SDK's own types), one customer's key never showing another's figures,
pages that follow ``next_page``, and a 400 naming the fix for every bad parameter."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from verticals.evaluate.backends import free_port
from verticals.ledger import UsageEvent

DAY0 = datetime(2026, 10, 5, tzinfo=UTC)
START = int(DAY0.timestamp())
DAY = 86400
END = START + 3 * DAY
USAGE = "/v1/organization/usage/"
COSTS = "/v1/organization/costs"


@dataclass
class World:
    url: str
    running: Any
    acme: str  # acme's first key
    acme2: str  # acme's second key
    globex: str

    def get(self, path: str, key: str | None, **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.get(self.url + path, params=params, headers=headers, timeout=30)

    def ok(self, path: str, key: str, **params: Any) -> dict[str, Any]:
        response = self.get(path, key, **params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def sdk(self, key: str) -> openai.OpenAI:
        # The customer's own key is what OpenAI's SDK calls the admin key of these endpoints.
        return openai.OpenAI(base_url=self.url + "/v1", api_key=key, admin_api_key=key, max_retries=0)


def event(
    customer: str, key: str, at: datetime, model: str, endpoint: str, unit: str, **fields: Any
) -> UsageEvent:
    values: dict[str, Any] = {
        "request_id": f"req-usage-{customer}-{model}-{at.timestamp()}-{fields.get('status', 200)}",
        "ts": at,
        "customer": customer,
        "key_prefix": key[:11],
        "plugin": model.split("/")[0],
        "model": model,
        "model_version": "1",
        "endpoint": endpoint,
        "status": 200,
        "latency_ms": 10.0,
        "unit": unit,
        "revenue_usd": "0",
        "cost_usd": "0",
    }
    values.update(fields)
    return UsageEvent(**values)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, launch_gateway: Callable[..., Any]) -> Iterator[World]:
    home: Path = tmp_path_factory.mktemp("usage-api-home")
    server, running = launch_gateway(home, free_port(), models=("echo/chat",))
    acme, globex = running.customer("acme"), running.customer("globex")
    key = running.admin("POST", "/admin/keys", json={"customer": "acme"})
    assert key.status_code == 201, key.text
    acme2 = str(key.json()["key"])
    hour = timedelta(hours=1)
    chat, completions, embed = "/v1/chat/completions", "/v1/completions", "/v1/embeddings"
    for item in (
        # acme, day 0: two answered completions on two keys, one refused request (not usage, not charged)
        event(
            "acme",
            acme,
            DAY0 + 10 * hour,
            "echo/chat",
            chat,
            "tokens",
            units_in=100,
            units_out=40,
            revenue_usd="0.00014",
        ),
        event(
            "acme",
            acme2,
            DAY0 + 11 * hour,
            "nlp/chat",
            completions,
            "tokens",
            units_in=10,
            units_out=5,
            revenue_usd="0.00003",
        ),
        event("acme", acme, DAY0 + 12 * hour, "echo/chat", chat, "tokens", status=429),
        # acme, day 1: embeddings and two transcriptions (12.4 s + 0.4 s = 12.8 s, shown as 13)
        event(
            "acme", acme, DAY0 + 33 * hour, "nlp/embed", embed, "tokens", units_in=300, revenue_usd="0.00003"
        ),
        event(
            "acme",
            acme,
            DAY0 + 34 * hour,
            "speech/transcribe",
            "/v1/audio/transcriptions",
            "audio-seconds",
            units_in=12.4,
            revenue_usd="0.00124",
        ),
        event(
            "acme",
            acme2,
            DAY0 + 35 * hour,
            "speech/transcribe",
            "/v2/infer",
            "audio-seconds",
            units_in=0.4,
            revenue_usd="0.00004",
        ),
        # acme, day 2: images and table rows over v2, the last second of the day
        event(
            "acme",
            acme,
            DAY0 + timedelta(days=3, seconds=-1),
            "vision/classify",
            "/v2/infer",
            "images",
            units_in=2,
            revenue_usd="0.004",
        ),
        event(
            "acme",
            acme,
            DAY0 + 58 * hour,
            "tabular/linear",
            "/v2/infer",
            "rows",
            units_in=20,
            revenue_usd="0.01",
        ),
        # globex, the same days, figures no acme query may show
        event(
            "globex",
            globex,
            DAY0 + 10 * hour,
            "echo/chat",
            chat,
            "tokens",
            units_in=999,
            units_out=1,
            revenue_usd="0.5",
        ),
        event(
            "globex", globex, DAY0 + 33 * hour, "nlp/embed", embed, "tokens", units_in=777, revenue_usd="0.7"
        ),
    ):
        running.ledger.record(item)
    running.ledger.flush()
    yield World(running.url, running, acme, acme2, globex)
    server.stop()
    running.ledger.close()


def test_completions_usage_has_openai_shape_field_by_field(world: World) -> None:
    page = world.sdk(world.acme).admin.organization.usage.completions(
        start_time=START, end_time=END, bucket_width="1d", group_by=["model"]
    )
    assert page.object == "page" and page.has_more is False and page.next_page is None
    assert [(b.object, b.start_time, b.end_time) for b in page.data] == [
        ("bucket", START, START + DAY),
        ("bucket", START + DAY, START + 2 * DAY),
        ("bucket", START + 2 * DAY, END),
    ]
    echo, nlp = page.data[0].results
    assert echo.object == "organization.usage.completions.result"
    assert (echo.model, echo.input_tokens, echo.output_tokens, echo.num_model_requests) == (
        "echo/chat",
        100,
        40,
        1,
    )
    assert (nlp.model, nlp.input_tokens, nlp.output_tokens, nlp.num_model_requests) == ("nlp/chat", 10, 5, 1)
    assert page.data[1].results == [] and page.data[2].results == []

    raw = world.ok(USAGE + "completions", world.acme, start_time=START, end_time=START + DAY)
    assert set(raw) == {"object", "data", "has_more", "next_page"}
    [bucket] = raw["data"]
    assert set(bucket) == {"object", "start_time", "end_time", "results"}
    [total] = bucket["results"]  # not grouped: one result for the bucket, the refused request left out
    assert total == {
        "object": "organization.usage.completions.result",
        "input_tokens": 110,
        "input_cached_tokens": 0,
        "input_audio_tokens": 0,
        "output_tokens": 45,
        "output_audio_tokens": 0,
        "num_model_requests": 2,
        "project_id": None,
        "user_id": None,
        "api_key_id": None,
        "model": None,
        "batch": None,
        "service_tier": None,
    }


def test_each_kind_of_usage_counts_its_own_events(world: World) -> None:
    usage = world.sdk(world.acme).admin.organization.usage
    embeddings = usage.embeddings(start_time=START, end_time=END, group_by=["model"])
    [embed] = embeddings.data[1].results
    assert embed.object == "organization.usage.embeddings.result"
    assert (embed.model, embed.input_tokens, embed.num_model_requests) == ("nlp/embed", 300, 1)
    assert embeddings.data[0].results == [] and embeddings.data[2].results == []

    transcriptions = usage.audio_transcriptions(start_time=START, end_time=END)
    [audio] = transcriptions.data[1].results
    assert audio.object == "organization.usage.audio_transcriptions.result"
    assert (audio.seconds, audio.num_model_requests, audio.model) == (13, 2, None)

    images = usage.images(start_time=START, end_time=END, group_by=["model"])
    [image] = images.data[2].results
    assert image.object == "organization.usage.images.result"
    assert (image.images, image.num_model_requests, image.model, image.size, image.source) == (
        2,
        1,
        "vision/classify",
        None,
        None,
    )


# What OpenAI's spec (openai-openapi's openapi.yaml, components.schemas) requires of each page, bucket and
# result: clients generated from the spec reject a body without them, which the SDK would hide.
REQUIRED = {
    "completions": {"object", "input_tokens", "output_tokens", "num_model_requests"},
    "embeddings": {"object", "input_tokens", "num_model_requests"},
    "audio_transcriptions": {"object", "seconds", "num_model_requests"},
    "images": {"object", "images", "num_model_requests"},
}


@pytest.mark.parametrize("kind", sorted(REQUIRED))
def test_every_kind_carries_the_keys_the_spec_requires(world: World, kind: str) -> None:
    page = world.ok(USAGE + kind, world.acme, start_time=START, end_time=END, group_by="model")
    assert {"object", "data", "has_more", "next_page"} <= set(page) and page["object"] == "page"
    results = []
    for bucket in page["data"]:
        assert {"object", "start_time", "end_time", "results"} <= set(bucket) and bucket["object"] == "bucket"
        results += bucket["results"]
    assert results, f"the fixture has {kind} usage"
    for result in results:
        assert REQUIRED[kind] <= set(result)
        assert result["object"] == f"organization.usage.{kind}.result"
        assert all(isinstance(result[name], int) for name in REQUIRED[kind] - {"object"})


def test_costs_are_the_billed_revenue_per_line_item(world: World) -> None:
    costs = world.sdk(world.acme).admin.organization.usage.costs(
        start_time=START, end_time=END, group_by=["line_item"]
    )
    lines = {
        (bucket.start_time, result.line_item): (
            result.amount.value,
            result.amount.currency,
            result.quantity,
            result.quantity_unit,
        )
        for bucket in costs.data
        for result in bucket.results
    }
    assert lines == {
        (START, "echo/chat"): (0.00014, "usd", 140, "tokens"),
        (START, "nlp/chat"): (0.00003, "usd", 15, "tokens"),
        (START + DAY, "nlp/embed"): (0.00003, "usd", 300, "tokens"),
        (START + DAY, "speech/transcribe"): (0.00128, "usd", 12.8, "duration_seconds"),
        (START + 2 * DAY, "tabular/linear"): (0.01, "usd", 20, "rows"),
        (START + 2 * DAY, "vision/classify"): (0.004, "usd", 2, "images"),
    }
    raw = world.ok(COSTS, world.acme, start_time=START, end_time=END)
    totals = [bucket["results"] for bucket in raw["data"]]
    assert totals[0] == [
        {
            "object": "organization.costs.result",
            "amount": {"value": 0.00017, "currency": "usd"},
            "line_item": None,
            "project_id": None,
            "api_key_id": None,
            "quantity": None,
            "quantity_unit": None,
        }
    ]
    assert sum(Decimal(str(r[0]["amount"]["value"])) for r in totals) == Decimal("0.01548")


def test_a_key_sees_only_its_own_customer(world: World) -> None:
    globex = world.ok(USAGE + "completions", world.globex, start_time=START, end_time=END, group_by="model")
    [only] = globex["data"][0]["results"]
    assert (only["model"], only["input_tokens"], only["output_tokens"]) == ("echo/chat", 999, 1)
    globex_costs = world.ok(COSTS, world.globex, start_time=START, end_time=END)
    assert [r["amount"]["value"] for b in globex_costs["data"] for r in b["results"]] == [0.5, 0.7]

    acme_pages = [
        world.ok(USAGE + kind, world.acme, start_time=START, end_time=END)
        for kind in ("completions", "embeddings")
    ]
    acme_figures = [r.get("input_tokens") for page in acme_pages for b in page["data"] for r in b["results"]]
    assert acme_figures == [110, 300]
    # naming the other customer's key filters to nothing: it never reaches globex's events
    stolen = world.ok(
        USAGE + "completions", world.acme, start_time=START, end_time=END, api_key_ids=world.globex[:11]
    )
    assert [b["results"] for b in stolen["data"]] == [[], [], []]
    stolen_costs = world.ok(COSTS, world.acme, start_time=START, end_time=END, api_key_ids=world.globex[:11])
    assert [b["results"] for b in stolen_costs["data"]] == [[], [], []]


def test_parameters_are_values_never_sql(world: World) -> None:
    for models in ("echo/chat' OR '1'='1", "echo/chat') OR customer <> ('x"):
        page = world.ok(USAGE + "completions", world.acme, start_time=START, end_time=END, models=models)
        assert [b["results"] for b in page["data"]] == [[], [], []]
    named = world.ok(USAGE + "completions", world.acme, start_time=START, end_time=END, models="nlp/chat")
    assert [r["input_tokens"] for b in named["data"] for r in b["results"]] == [10]


def test_minute_buckets(world: World) -> None:
    at = START + 10 * 3600
    page = world.ok(USAGE + "completions", world.acme, start_time=at, end_time=at + 180, bucket_width="1m")
    assert [(b["start_time"], b["end_time"]) for b in page["data"]] == [
        (at, at + 60),
        (at + 60, at + 120),
        (at + 120, at + 180),
    ]
    assert [[r["input_tokens"] for r in b["results"]] for b in page["data"]] == [[100], [], []]


def test_grouping_by_api_key_splits_a_customers_keys(world: World) -> None:
    page = world.ok(
        USAGE + "completions",
        world.acme,
        start_time=START,
        end_time=START + DAY,
        **{"group_by[]": ["api_key_id", "model"]},
    )
    results = page["data"][0]["results"]
    assert [(r["api_key_id"], r["model"], r["input_tokens"]) for r in results] == sorted(
        [(world.acme[:11], "echo/chat", 100), (world.acme2[:11], "nlp/chat", 10)], key=lambda x: x[1]
    )
    only_second = world.ok(
        USAGE + "completions",
        world.acme,
        start_time=START,
        end_time=START + DAY,
        api_key_ids=world.acme2[:11],
    )
    assert [r["input_tokens"] for r in only_second["data"][0]["results"]] == [10]


def test_pages_follow_next_page_over_the_utc_grid(world: World) -> None:
    # from 09:30 on day 0 in hours: the first bucket is the half hour to 10:00, then whole hours
    start = START + 9 * 3600 + 1800
    seen: list[tuple[int, int, int]] = []
    page_cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {
            "start_time": start,
            "end_time": START + DAY,
            "bucket_width": "1h",
            "limit": 5,
        }
        if page_cursor is not None:
            params["page"] = page_cursor
        body = world.ok(USAGE + "completions", world.acme, **params)
        pages += 1
        assert len(body["data"]) <= 5
        seen += [
            (b["start_time"], b["end_time"], sum(r["input_tokens"] for r in b["results"]))
            for b in body["data"]
        ]
        if not body["has_more"]:
            assert body["next_page"] is None
            break
        page_cursor = body["next_page"]
        assert isinstance(page_cursor, str)
    assert pages == 3 and len(seen) == 15
    assert seen[0] == (start, START + 10 * 3600, 0)
    assert seen[1] == (START + 10 * 3600, START + 11 * 3600, 100)
    assert seen[2] == (START + 11 * 3600, START + 12 * 3600, 10)
    assert all(end - begin == 3600 for begin, end, _ in seen[1:]) and seen[-1][1] == START + DAY


def test_a_request_made_now_is_in_the_usage_and_the_usage_calls_are_free(world: World) -> None:
    sdk = world.sdk(world.globex)
    answer = sdk.chat.completions.create(
        model="echo/chat", messages=[{"role": "user", "content": "two words"}]
    )
    assert answer.usage is not None
    since = int(time.time()) - 120
    before = len(world.running.events(customer="globex"))
    page = sdk.admin.organization.usage.completions(start_time=since, bucket_width="1h")  # end: now
    costs = sdk.admin.organization.usage.costs(start_time=since)
    assert sum(r.input_tokens for b in page.data for r in b.results) == answer.usage.prompt_tokens
    assert sum(r.output_tokens for b in page.data for r in b.results) == answer.usage.completion_tokens
    charged = sum(Decimal(str(r.amount.value)) for b in costs.data for r in b.results if r.amount)
    assert charged == Decimal(answer.usage.model_extra["cost_usd"])  # type: ignore[index]
    # reading one's usage writes no usage event
    assert len(world.running.events(customer="globex")) == before
    assert world.running.events(endpoint=USAGE + "completions") == []


def test_no_key_is_401(world: World) -> None:
    response = world.get(USAGE + "completions", None, start_time=START)
    assert response.status_code == 401 and "Authorization: Bearer" in response.json()["error"]["message"]
    assert world.get(COSTS, "vk_not_a_key", start_time=START).status_code == 401


@pytest.mark.parametrize(
    ("path", "params", "param", "fix"),
    [
        (USAGE + "completions", {}, "start_time", "start_time is required"),
        (USAGE + "completions", {"start_time": "yesterday"}, "start_time", "Unix time in whole seconds"),
        (
            USAGE + "embeddings",
            {"start_time": END, "end_time": START},
            "end_time",
            "must be after start_time",
        ),
        (
            USAGE + "completions",
            {"start_time": START, "bucket_width": "1w"},
            "bucket_width",
            "use 1d or 1h or 1m",
        ),
        (COSTS, {"start_time": START, "bucket_width": "1h"}, "bucket_width", "use 1d"),
        (USAGE + "completions", {"start_time": START, "limit": 0}, "limit", "1 to 31 for bucket_width=1d"),
        (USAGE + "images", {"start_time": START, "bucket_width": "1h", "limit": 169}, "limit", "1 to 168"),
        (COSTS, {"start_time": START, "limit": 181}, "limit", "1 to 180"),
        (USAGE + "completions", {"start_time": START, "group_by": "customer"}, "group_by", "group_by takes"),
        (COSTS, {"start_time": START, "group_by": "model"}, "group_by", "line_item"),
        (USAGE + "completions", {"start_time": START, "page": "page_bm9wZQ"}, "page", "next_page"),
        (
            USAGE + "audio_transcriptions",
            {"start_time": START, "project_ids": "p"},
            "project_ids",
            "leave out",
        ),
        (USAGE + "completions", {"start_time": START, "batch": "maybe"}, "batch", "true or false"),
        (USAGE + "embeddings", {"start_time": START, "bucketwidth": "1d"}, "bucketwidth", "takes start_time"),
        (USAGE + "completions", {"start_time": [START, END]}, "start_time", "give it once"),
    ],
)
def test_bad_parameters_are_400_naming_the_fix(
    world: World, path: str, params: dict[str, Any], param: str, fix: str
) -> None:
    response = world.get(path, world.acme, **params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert fix in error["message"]


def test_the_sdk_raises_bad_request_for_a_bad_parameter(world: World) -> None:
    with pytest.raises(openai.BadRequestError, match="end_time"):
        world.sdk(world.acme).admin.organization.usage.costs(start_time=END, end_time=START)
