"""Errors in OpenAI's shape: ``{"error": {"type", "message", "param", "code"}}``, for every failure.

Under ``/v2/`` errors take the Open Inference Protocol's shape instead (``{"error": "message"}`` plus
``type``, ``param`` and ``code`` beside it), because ``tritonclient`` reads ``error`` as a string.

Stock OpenAI clients read ``error.message`` and the status code, so every refusal, from a malformed
body to a crashed backend, comes back this way with a message that says what to do.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from verticals.ledger.errors import LedgerUnavailable

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    502: "server_error",
    503: "service_unavailable",
    504: "server_error",
}


class APIError(Exception):
    """A refusal the client caused or can act on; becomes an OpenAI-shaped JSON response."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.type = type or _TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The OpenAI error body, ``{"error": {type, message, param, code}}`` (see ``error_body``)."""
        return error_body(self.status, self.message, code=self.code, param=self.param, type=self.type)


def error_body(
    status: int, message: str, *, code: str | None = None, param: str | None = None, type: str | None = None
) -> dict[str, Any]:
    """The OpenAI-shaped error body ``{"error": {type, message, param, code}}``; ``type`` defaults by HTTP
    ``status`` (e.g. 401 authentication_error, 429 rate_limit_error; other 4xx invalid_request_error, 5xx
    server_error).
    """
    kind = type or _TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
    return {"error": {"type": kind, "message": message, "param": param, "code": code}}


def error_response(error: APIError, path: str = "") -> JSONResponse:
    """The JSON response for ``error``: the v2 error shape for paths under ``/v2/``, the OpenAI one elsewhere,
    with the error's status and headers.
    """
    # x-request-id is added by the middleware to every response, errors included.
    body = v2_error_body(error) if path.startswith("/v2/") else error.body()
    return JSONResponse(body, status_code=error.status, headers=dict(error.headers))


def v2_error_body(error: APIError) -> dict[str, Any]:
    """The v2 protocol's error shape, ``{"error": "message"}``: tritonclient reads ``error`` as text.

    The OpenAI fields ride along at the top level for callers that want the code.
    """
    return {"error": error.message, "type": error.type, "param": error.param, "code": error.code}


def _describe_validation(error: RequestValidationError) -> tuple[str, str | None, str]:
    """One readable sentence for pydantic's list of problems, plus the offending parameter."""
    problems = []
    param = None
    code = "invalid_request"
    for item in error.errors():
        loc = [str(part) for part in item.get("loc", ()) if part not in ("body", "query", "path", "header")]
        where = ".".join(loc)
        if param is None and where:
            param = where
        kind = item.get("type", "")
        if kind == "json_invalid":
            code = "invalid_json"
            problems.append(
                f"the body is not valid JSON ({item.get('ctx', {}).get('error', 'parse error')}); "
                "send a JSON object with Content-Type: application/json"
            )
            param = None
        elif not where and kind in ("model_attributes_type", "dict_type"):
            code = "invalid_json"
            problems.append("the body must be a JSON object; send one with Content-Type: application/json")
        elif kind == "missing":
            code = "missing_field"
            problems.append(f"missing required field {where!r}" if where else "the request body is missing")
        else:
            problems.append(f"{where or 'body'}: {item.get('msg', 'invalid value')}")
    return "; ".join(problems) or "invalid request", param, code


def install_error_handlers(app: FastAPI) -> None:
    """Make ``app`` answer every APIError, request validation error (as a 400 naming the parameter),
    Starlette HTTP error (404/405 with a hint, 413 ``body_too_large``) and LedgerUnavailable (503
    ``ledger_unavailable``, Retry-After 5) with the JSON error bodies of this module.
    """

    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, APIError)
        return error_response(exc, request.url.path)

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        message, param, code = _describe_validation(exc)
        return error_response(APIError(400, message, param=param, code=code), request.url.path)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        if status == 404:
            message = f"no route {request.method} {request.url.path}; see /docs or /openapi.json for the API"
        elif status == 405:
            message = f"method {request.method} is not allowed on {request.url.path}; see /openapi.json"
        else:
            message = str(exc.detail)
        code = "body_too_large" if status == 413 else None
        return error_response(
            APIError(status, message, code=code, headers=dict(exc.headers or {})), request.url.path
        )

    async def ledger_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # the ledger's database is away and this request needed it (a key or customer not seen before,
        # a month's spend to seed): a 503 the client may retry, not a 500
        message = f"{exc}; this request needs the ledger's database: retry in a few seconds"
        error = APIError(503, message, code="ledger_unavailable", headers={"Retry-After": "5"})
        return error_response(error, request.url.path)

    app.add_exception_handler(APIError, api_error)
    app.add_exception_handler(LedgerUnavailable, ledger_unavailable)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
