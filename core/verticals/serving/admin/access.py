"""What every admin route shares: the admin-token dependency, JSON answers, and ledger calls that turn a
``LedgerError`` into a 400 and drop the gateway's caches after a change."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel

from verticals.money import decimal_text
from verticals.serving.admission import gateway_of
from verticals.serving.auth import check_admin
from verticals.serving.errors import APIError
from verticals.serving.gateway import Gateway


async def require_admin(request: Request) -> Gateway:
    """FastAPI dependency: the app's Gateway, once the request's bearer token is the admin token; raises
    APIError 401 when it is missing or wrong, 403 when it is a customer key (``vk_...``).
    """
    gw = gateway_of(request)
    check_admin(request.headers.get("authorization"), gw.admin_token)
    return gw


AdminGateway = Annotated[Gateway, Depends(require_admin)]


def json_response(value: Any, status: int = 200) -> Response:
    """``value`` as a JSON response (dataclasses, pydantic models, decimals as strings, times in ISO 8601)."""
    return Response(json.dumps(plain(value), default=str), status_code=status, media_type="application/json")


def plain(value: Any) -> Any:
    """``value`` as JSON-ready data: dataclasses and models to dicts, Decimal to a fixed-point string
    (``money.decimal_text``: "0.000000145", never "1.45E-7"), datetime to ISO 8601, DataFrames to lists of
    records."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, BaseModel):  # pydantic's JSON mode writes Decimal("1.45E-7") as "1.45E-7"
        return plain(value.model_dump(mode="python"))
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, datetime):
        return value.isoformat()
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):  # a pandas DataFrame
        return plain(to_dict(orient="records"))
    return value


def ledger_call(gw: Gateway, method: str, *args: Any, **kwargs: Any) -> Any:
    """``gw.ledger.<method>(*args, **kwargs)``; APIError 400 (``ledger_error``) for a LedgerError. The
    gateway's cached customers and prices are dropped after it, whatever happened."""
    from verticals.ledger import LedgerError

    try:
        return getattr(gw.ledger, method)(*args, **kwargs)
    except LedgerError as error:
        raise APIError(400, str(error), code="ledger_error") from None
    finally:
        gw.forget()
