"""The OpenAI API through the real ``openai`` SDK against a running gateway."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any as Running

import openai
import pytest


def client(gateway_server: Running, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway_server.url + "/v1", api_key=key, max_retries=0)


def test_chat_plain_is_answered_metered_and_priced(
    gateway_server: Running, new_customer: Callable[..., str]
) -> None:
    sdk = client(gateway_server, new_customer())
    raw = sdk.chat.completions.with_raw_response.create(
        model="echo/chat",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "one two three"}],
    )
    reply = raw.parse()
    assert reply.choices[0].message.content == "one two three"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (
        5,
        3,
    )  # words, the echo model's tokens
    request_id = raw.headers["x-request-id"]
    cost = Decimal(raw.headers["x-verticals-cost-usd"])
    [event] = gateway_server.events(request_id=request_id)
    assert (
        event["status"] == 200
        and event["model"] == "echo/chat"
        and event["endpoint"] == "/v1/chat/completions"
    )
    assert (event["units_in"], event["units_out"]) == (5.0, 3.0)
    assert event["revenue_usd"] == cost == Decimal("0.000001") * 8  # list price of echo/chat per token
    assert event["compute_seconds"] > 0


def test_chat_stream_has_usage_in_the_last_chunk(
    gateway_server: Running, new_customer: Callable[..., str]
) -> None:
    sdk = client(gateway_server, new_customer())
    chunks = list(
        sdk.chat.completions.create(
            model="echo/chat",
            messages=[{"role": "user", "content": "stream these four words"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "stream these four words"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 4
    assert all(c.usage is None for c in chunks[:-1])
    [event] = gateway_server.events(request_id="req_" + chunks[0].id.removeprefix("chatcmpl-"))
    assert event["units_out"] == 4.0 and event["ttft_ms"] is not None


def test_stream_without_include_usage_sends_no_usage_chunk(
    gateway_server: Running, new_customer: Callable[..., str]
) -> None:
    sdk = client(gateway_server, new_customer())
    chunks = list(
        sdk.chat.completions.create(
            model="echo/chat", messages=[{"role": "user", "content": "a b"}], stream=True
        )
    )
    assert all(c.choices for c in chunks)


def test_completions_answer_each_prompt(gateway_server: Running, new_customer: Callable[..., str]) -> None:
    sdk = client(gateway_server, new_customer())
    reply = sdk.completions.create(model="echo/chat", prompt=["first prompt", "second one here"])
    assert [c.text for c in reply.choices] == ["first prompt", "second one here"]
    assert reply.usage is not None and reply.usage.prompt_tokens == 5


def test_models_lists_what_the_key_may_use(gateway_server: Running, new_customer: Callable[..., str]) -> None:
    ids = {m.id for m in client(gateway_server, new_customer()).models.list()}
    assert {"echo/chat", "tabular/linear"} <= ids


def test_wrong_task_is_a_clear_400(gateway_server: Running, new_customer: Callable[..., str]) -> None:
    sdk = client(gateway_server, new_customer())
    with pytest.raises(openai.BadRequestError, match="tabular-scoring"):
        sdk.chat.completions.create(model="tabular/linear", messages=[{"role": "user", "content": "hi"}])


@pytest.mark.slow
def test_embeddings_from_the_nlp_plugin(gateway_server: Running, new_customer: Callable[..., str]) -> None:
    if "nlp/embed" not in gateway_server.gateway.backends:
        pytest.skip("the verticals-nlp plugin is not installed")
    sdk = client(gateway_server, new_customer())
    # The SDK asks for base64 by default and decodes it; ask for floats too, they must agree.
    b64 = sdk.embeddings.create(model="nlp/embed", input=["a cat sat on the mat", "stock prices fell"])
    floats = sdk.embeddings.create(model="nlp/embed", input="a cat sat on the mat", encoding_format="float")
    assert len(b64.data) == 2 and len(b64.data[0].embedding) == 384
    assert b64.data[0].embedding == pytest.approx(floats.data[0].embedding, abs=1e-5)
    assert b64.usage.prompt_tokens > 0


def test_each_request_shows_once_in_the_usage_report(
    gateway_server: Running, new_customer: Callable[..., str]
) -> None:
    key = new_customer()
    sdk = client(gateway_server, key)
    for _ in range(3):
        sdk.chat.completions.create(model="echo/chat", messages=[{"role": "user", "content": "count me"}])
    customer = gateway_server.events(key_prefix=key[:11])[0]["customer"]
    report = gateway_server.admin(
        "GET", "/admin/usage", params={"by": "customer", "customer": customer}
    ).json()
    assert len(report) == 1
    assert report[0]["requests"] == 3
    # usage at list price, as metered per request (revenue_usd is billed revenue: the plan's fee recognised
    # so far and the usage rounded to cents on the month's draft invoice)
    assert Decimal(report[0]["list_revenue_usd"]) == Decimal("0.000001") * 4 * 3
    assert report[0]["units"] == 12


def test_usage_report_cli_goes_through_the_running_server(
    gateway_server: Running, new_customer: Callable[..., str]
) -> None:
    key = new_customer()
    client(gateway_server, key).chat.completions.create(
        model="echo/chat", messages=[{"role": "user", "content": "via cli"}]
    )
    env = {
        "VERTICALS_HOME": str(gateway_server.home),
        "VERTICALS_ADMIN_TOKEN": "vadm_test_token_for_the_gateway_tests",
    }
    import os

    done = subprocess.run(
        [str(Path(sys.executable).parent / "verticals"), "usage", "report", "--by", "customer", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    customer = gateway_server.events(key_prefix=key[:11])[0]["customer"]
    assert next(r for r in rows if r.get("customer") == customer)["requests"] == 1
