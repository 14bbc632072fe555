"""The upstream side of the vllm backend: an HTTP client of a vLLM OpenAI server, streamed or not.

The server is either a local subprocess kept alive by a ``Supervisor`` or an external URL from the
config (``[models."nlp/chat"] url = "http://host:8000/v1"``), the scale-out path. Streams always ask
upstream for usage (``stream_options.include_usage`` and ``continuous_usage_stats``), so the tokens
of a stream the client abandons are known up to the last chunk it got; closing the upstream
response aborts the request inside vLLM.

The upstream client is aiohttp: measured here with 32 concurrent requests against an instant
OpenAI-compatible backend, httpx's AsyncClient managed 370 requests/s and aiohttp 7,400.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from verticals.models import ModelSpec
from verticals.serving.backends.base import Unavailable
from verticals.serving.backends.vllm.busy import BusyClock
from verticals.serving.backends.vllm.supervisor import Supervisor

# The server went away: refused connection, dropped connection, or a reset while the request was sent.
_RETRYABLE = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError)
# vLLM's server closes a keep-alive connection after 5 idle seconds (VLLM_HTTP_TIMEOUT_KEEP_ALIVE);
# aiohttp keeps one 15 s by default. A request sent on a pooled connection just as the server closes
# it fails with a reset, so the pool lets connections go first.
UPSTREAM_KEEPALIVE_S = 4.0


@dataclass
class Usage:
    """A request's tokens so far: totals, and for a stream what each choice has used."""

    prompt_tokens: float = 0.0
    completion_tokens: float = 0.0
    #: the stream's final usage chunk, held back by ``relay`` when the client asked for usage: the
    #: caller sends it with ``[DONE]`` and the end of the body (one write, not three)
    final_chunk: bytes = b""
    #: seconds ``relay`` spent waiting for the upstream server's next bytes
    waited_s: float = 0.0
    #: when ``relay`` wrote the first event (``time.perf_counter``): the time to first token
    first_event_at: float | None = None
    #: choices per prompt (the request's ``n``) and prompts (a list in /v1/completions): vLLM's
    #: per-chunk usage counts one choice (choice i answers prompt i // n) and that prompt's tokens
    n: int = 1
    prompts: int = 1
    _choice_tokens: dict[int, float] = field(default_factory=dict)
    _prompt_tokens: dict[int, float] = field(default_factory=dict)

    def choice(self, index: int, prompt: float, completion: float) -> None:
        """One chunk's usage, for choice ``index``: the totals become the sums over choices and prompts."""
        before = self._choice_tokens.get(index, 0.0)
        self._choice_tokens[index] = completion
        self.completion_tokens += completion - before
        which = index // max(1, self.n)
        before = self._prompt_tokens.get(which, 0.0)
        self._prompt_tokens[which] = prompt
        self.prompt_tokens += prompt - before


# The usage object, allowing one level of nesting (prompt_tokens_details and the like).
_USAGE = re.compile(rb'"usage":\s*(\{(?:[^{}]|\{[^{}]*\})*\})')
_NO_CHOICES = re.compile(rb'"choices":\s*\[\s*\]')
# a chunk's choice index: vLLM writes it first; the fallback is the first index after "choices"
_CHOICE_INDEX = re.compile(rb'"choices":\s*\[\s*\{[^{}]*?"index":\s*(\d+)')
_ANY_INDEX = re.compile(rb'"choices":\s*\[.*?"index":\s*(\d+)')
_PROMPT_TOKENS = re.compile(rb'"prompt_tokens":\s*(\d+)')
_COMPLETION_TOKENS = re.compile(rb'"completion_tokens":\s*(\d+)')


def _count(usage: bytes, field: re.Pattern[bytes]) -> float:
    found = field.search(usage)
    return float(found.group(1)) if found else 0.0


class UpstreamError(Exception):
    """vLLM answered with an error status; the gateway passes its status and message on."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class VLLMClient:
    """Sends ``spec``'s OpenAI requests to a vLLM server: an external one at ``base_url``, or a
    local one kept up by ``supervisor`` (exactly one of the two, else ValueError).

    ``served_name`` is the model name the upstream server knows (rewritten to ``spec.name`` in answers);
    ``device_class`` prices its compute in the cost book; ``accept_wait_s`` (seconds) is how long a request
    already accepted waits for a crashed local server to come back. ``clock`` allocates compute seconds among
    requests (see ``verticals.serving.backends.vllm.busy``).
    """

    def __init__(
        self,
        spec: ModelSpec,
        *,
        base_url: str | None = None,
        supervisor: Supervisor | None = None,
        served_name: str | None = None,
        device_class: str = "cpu",
        accept_wait_s: float = 180.0,
    ) -> None:
        if (base_url is None) == (supervisor is None):
            raise ValueError("give either base_url (an external server) or supervisor (a local one)")
        self.spec = spec
        self.device_class = device_class
        self.served_name = served_name or spec.name
        # clients see our model name, not the one the upstream server was started with
        self._served_model = (
            re.compile(rb'"model":\s*"' + re.escape(self.served_name.encode()) + rb'"')
            if self.served_name != spec.name
            else None
        )
        self.supervisor = supervisor
        self._base_url = base_url.rstrip("/") if base_url else None
        self.clock = BusyClock()
        # How long a request already accepted waits for a crashed local server to come back.
        self.accept_wait_s = accept_wait_s
        self._session: aiohttp.ClientSession | None = None

    @property
    def base_url(self) -> str:
        """The upstream OpenAI API root without a trailing slash: the configured URL, or the local server's;
        RuntimeError when the local one has not been started.
        """
        if self._base_url is not None:
            return self._base_url
        assert self.supervisor is not None
        return self.supervisor.base_url

    @property
    def version(self) -> str:
        """The spec's version, recorded on every usage event this backend answers."""
        return self.spec.version

    @property
    def ready(self) -> bool:
        """The local server's health (``Supervisor.ready``); an external server is taken to be ready, its
        failures answer per request.
        """
        return self.supervisor.ready if self.supervisor is not None else True

    async def start(self) -> None:
        """Open the upstream HTTP session (600 s total per request, 5 s to connect, up to 1024 connections)
        and start the local server if there is one; what ``Supervisor.start`` raises propagates.
        """
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=600.0, sock_connect=5.0),
            connector=aiohttp.TCPConnector(limit=1024, keepalive_timeout=UPSTREAM_KEEPALIVE_S),
        )
        if self.supervisor is not None:
            await self.supervisor.start()

    async def stop(self) -> None:
        """Stop the local server if there is one and close the upstream HTTP session."""
        if self.supervisor is not None:
            await self.supervisor.stop()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def check_ready(self) -> None:
        """Raise Unavailable (retry after 10 s) while the local server is down or restarting."""
        if not self.ready:
            raise Unavailable(f"the vLLM server for {self.spec.name!r} is restarting; retry shortly", 10)

    def _body(self, body: dict[str, Any], stream: bool) -> dict[str, Any]:
        upstream = dict(body)
        upstream["model"] = self.served_name
        if stream:
            upstream["stream"] = True
            upstream["stream_options"] = {"include_usage": True, "continuous_usage_stats": True}
        return upstream

    async def _send(self, path: str, body: dict[str, Any]) -> aiohttp.ClientResponse:
        """POST upstream, once more when the first try failed for a reason a retry can mend.

        A local server that crashed is waited for while it restarts; a url's server that dropped
        the pooled connection gets the request again on a fresh one.
        """
        assert self._session is not None, "backend not started"
        for attempt in range(2):
            try:
                response = await self._session.post(self.base_url + path, json=body)
            except _RETRYABLE as error:
                if self.supervisor is None:
                    if attempt == 0 and _dropped_connection(error):
                        continue  # the url's server (or a proxy before it) closed a pooled connection
                    raise Unavailable(
                        f"the vLLM server for {self.spec.name!r} at {self.base_url} is unreachable "
                        f"({type(error).__name__}); check that it is running, then retry",
                        10,
                    ) from error
                if attempt == 0 and await self.supervisor.wait_ready(self.accept_wait_s, after_failure=True):
                    continue
                raise Unavailable(
                    f"the vLLM server for {self.spec.name!r} is down ({type(error).__name__}); "
                    "it is being restarted, retry shortly",
                    10,
                ) from error
            if response.status >= 400:
                detail = await response.text(errors="replace")
                response.release()
                raise UpstreamError(response.status, _upstream_message(detail))
            return response
        raise AssertionError("unreachable")

    async def post(
        self, path: str, body: dict[str, Any], request_id: str
    ) -> tuple[dict[str, Any], Usage, float]:
        """Non-streamed completion: the response JSON, its usage and its allocated compute seconds."""
        self.clock.begin(request_id)
        usage = Usage()
        try:
            response = await self._send(path, self._body(body, stream=False))
            try:
                data = await response.json(content_type=None)
            except ValueError:  # an OpenAI-compatible server behind `url` that is not one
                raise UpstreamError(
                    502,
                    f"the server for {self.spec.name!r} at {self.base_url} answered with something that "
                    "is not JSON; check that its `url` points to an OpenAI-compatible API",
                ) from None
            finally:
                response.release()
            if not isinstance(data, dict):
                raise UpstreamError(
                    502, f"the server for {self.spec.name!r} answered with JSON that is not an object"
                )
            raw = data.get("usage") or {}
            usage = Usage(float(raw.get("prompt_tokens") or 0), float(raw.get("completion_tokens") or 0))
            self.clock.tokens(request_id, usage.prompt_tokens + usage.completion_tokens)
            data["model"] = self.spec.name
            return data, usage, self.clock.end(request_id)
        except BaseException:
            self.clock.end(request_id)
            raise

    async def open_stream(self, path: str, body: dict[str, Any], request_id: str) -> aiohttp.ClientResponse:
        """Start a stream; raises before any byte goes to the client if the server refuses or is down."""
        self.clock.begin(request_id)
        try:
            return await self._send(path, self._body(body, stream=True))
        except BaseException:
            self.clock.end(request_id)
            raise

    async def relay(
        self,
        response: aiohttp.ClientResponse,
        request_id: str,
        usage: Usage,
        write: Callable[[bytes], Awaitable[None]],
        *,
        client_wants_usage: bool,
    ) -> None:
        """Relay SSE events to ``write`` up to upstream's [DONE], keeping ``usage`` current.

        The final usage chunk is not written but left in ``usage.final_chunk`` (see ``Usage``), and
        [DONE] is the caller's to send. Any failure, or the cancellation that comes when the client
        goes away, closes the upstream connection: that aborts the request inside vLLM.
        """
        content = response.content
        partial = b""
        try:
            while True:
                waiting = time.perf_counter()
                data = await content.readany()  # b"" at the end of the body
                usage.waited_s += time.perf_counter() - waiting
                if not data:
                    return
                *lines, partial = (partial + data).split(b"\n")
                # All the events of one read go out in one write: at the end of a stream the last
                # token, the usage chunk and [DONE] arrive together.
                out: list[bytes] = []
                done = False
                for line in lines:
                    if not line.startswith(b"data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == b"[DONE]":
                        done = True
                        break
                    event = self._relay(payload, request_id, usage, client_wants_usage)
                    if event is not None:
                        out.append(event)
                if out:
                    if usage.first_event_at is None:
                        usage.first_event_at = time.perf_counter()
                    await write(b"".join(out))
                if done:
                    return
        except BaseException:
            response.close()
            raise

    @staticmethod
    async def release(response: aiohttp.ClientResponse) -> None:
        """Return a finished stream's connection to the pool: the next stream skips a TCP connect."""
        try:
            while await response.content.readany():  # vLLM ends the body right after [DONE]
                pass
        except BaseException:
            response.close()
            raise
        response.release()

    def _relay(self, payload: bytes, request_id: str, usage: Usage, client_wants_usage: bool) -> bytes | None:
        """One upstream event as the client gets it, or None when it is held back or dropped.

        Events are edited as bytes, not parsed and re-serialized: on a machine where vLLM needs
        every core, the gateway's per-chunk work is taken from generation.
        """
        found = _USAGE.search(payload)
        if found is not None:
            counts = found.group(1)
            prompt = _count(counts, _PROMPT_TOKENS)
            completion = _count(counts, _COMPLETION_TOKENS)
            before = usage.prompt_tokens + usage.completion_tokens
            final = _NO_CHOICES.search(payload) is not None
            if final:  # the final usage-only chunk: the request's totals
                usage.prompt_tokens, usage.completion_tokens = prompt, completion
            else:
                usage.choice(_choice_index(payload) if usage.n * usage.prompts > 1 else 0, prompt, completion)
            self.clock.tokens(request_id, usage.prompt_tokens + usage.completion_tokens - before)
            if final:
                if client_wants_usage:
                    usage.final_chunk = b"data: " + self._rename(payload) + b"\n\n"
                return None
            # per-chunk usage is ours (continuous_usage_stats), not the client's
            payload = payload[: found.start()] + b'"usage":null' + payload[found.end() :]
        return b"data: " + self._rename(payload) + b"\n\n"

    def _rename(self, payload: bytes) -> bytes:
        if self._served_model is None:
            return payload
        return self._served_model.sub(b'"model":"' + self.spec.name.encode() + b'"', payload)

    def end(self, request_id: str) -> float:
        """The compute seconds allocated to ``request_id`` (its share of the engine's busy time), ending its
        tracking; see ``BusyClock.end``.
        """
        return self.clock.end(request_id)


def _choice_index(payload: bytes) -> int:
    found = _CHOICE_INDEX.search(payload) or _ANY_INDEX.search(payload)
    return int(found.group(1)) if found is not None else 0


def _dropped_connection(error: Exception) -> bool:
    """Whether the server closed or reset the connection under the request without answering.

    A keep-alive connection that the server (or a proxy with a shorter keep-alive) closes just as
    the pool hands it out fails this way, and the request deserves one more try on a fresh
    connection. A refused connection is not one: nothing listens there, and asking again at once
    would only fail again.
    """
    return isinstance(error, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError) and not isinstance(
        error, aiohttp.ClientConnectorError
    )


def _upstream_message(detail: str) -> str:
    try:
        data = json.loads(detail)
    except json.JSONDecodeError:
        return detail[:500] or "the vLLM server refused the request"
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(data.get("message"), str):
            return str(data["message"])
    return detail[:500]
