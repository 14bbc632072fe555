"""The outermost layer: request ids, the body-size limit, the one-event guarantee, JSON access logs.

Every request gets an id (``x-request-id``). Requests to the customer API (``/v1/``, ``/v2/models/``)
that end without a ledger event (refused before a route could meter them: bad JSON, oversized body,
unknown route) are metered here, so each becomes exactly one event.

The event's status is the status the client gets: what a route meters before its response starts
is held (``RequestContext.unsent``) and recorded when the response starts, with the status that
goes out (``Meter.sent``). A route that metered an answer and then failed to build its response
(a value JSON cannot carry, an output that does not fit its datatype) is recorded as the 500 the
client gets, not billed.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from verticals.serving.errors import APIError, v2_error_body
from verticals.serving.gateway import Gateway
from verticals.serving.metering import RequestContext, new_request_id

access_log = logging.getLogger("verticals.access")
log = logging.getLogger("verticals.serving")
METERED = ("/v1/", "/v2/models/")


class GatewayMiddleware:
    """The outermost ASGI layer over ``app``: gives every HTTP request an id (``x-request-id``), enforces the
    body-size limit (413), meters every request to the customer API that no route metered, and writes the
    JSON access log (see the module docstring).
    """

    def __init__(self, app: ASGIApp, gateway: Gateway) -> None:
        self.app = app
        self.gateway = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        path: str = scope["path"]
        ctx = (
            RequestContext(request_id=request_id, endpoint=_endpoint(path), unsent=True)
            if path.startswith(METERED)
            else None
        )
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["ctx"] = ctx
        status = 500
        started = False
        limit = self.gateway.options.max_body_bytes
        header_id = request_id.encode()

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                if ctx is not None:
                    # Metered before the client sees the status, so the event is there when it looks.
                    await self.gateway.meter.sent(ctx, status)
                message["headers"] = [*message.get("headers", []), (b"x-request-id", header_id)]
            await send(message)

        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self._refuse(send_wrapper, APIError(413, _too_large(limit), code="body_too_large"), path)
        else:
            received = 0

            async def receive_wrapper() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        raise HTTPException(413, _too_large(limit))
                return message

            try:
                await self.app(scope, receive_wrapper, send_wrapper)
            except Exception:
                # The 500 tells the client to report its request id: the traceback must be findable by it.
                log.exception(
                    "unhandled error in %s %s", scope["method"], path, extra={"request_id": request_id}
                )
                if not started:
                    await self._refuse(
                        send_wrapper,
                        APIError(
                            500,
                            "internal error; the request id is in x-request-id: report it",
                            code="internal_error",
                        ),
                        path,
                    )
                # Once the response has started its status is gone. Returning lets uvicorn close a
                # response left unfinished; raising would log this traceback a second time.
            finally:
                if ctx is not None and not ctx.recorded:
                    if ctx.held is not None:
                        await self.gateway.meter.sent(ctx, status)  # an answer that never went out
                    elif ctx.abandon is not None:
                        await ctx.abandon()
                    else:
                        ctx.unsent = False
                        await self.gateway.meter.finish(ctx, status)
        if self.gateway.options.log_requests and access_log.isEnabledFor(logging.INFO):
            access_log.info(
                json.dumps(
                    {
                        "request_id": request_id,
                        "method": scope["method"],
                        "path": path,
                        "status": status,
                        "customer": ctx.principal.customer if ctx and ctx.principal else None,
                        "model": ctx.spec.name if ctx and ctx.spec else None,
                        "latency_ms": round((time.perf_counter() - ctx.started) * 1000, 3) if ctx else None,
                    }
                )
            )

    @staticmethod
    async def _refuse(send: Send, error: APIError, path: str) -> None:
        data = v2_error_body(error) if path.startswith("/v2/") else error.body()
        body = json.dumps(data).encode()
        await send(
            {
                "type": "http.response.start",
                "status": error.status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _endpoint(path: str) -> str:
    if path.startswith("/v2/models/"):
        return "/v2/infer" if path.endswith("/infer") else "/v2/models"
    return path


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large(limit: int) -> str:
    return (
        f"the request body is larger than the gateway's limit of {limit} bytes; send less, or raise the "
        "limit with `verticals serve --max-body-mb N`"
    )


def state(scope: Scope) -> dict[str, Any]:
    """The ASGI scope's ``state`` dict (Starlette's ``request.state``), created empty if missing."""
    value: dict[str, Any] = scope.setdefault("state", {})
    return value
