"""Every mutating admin call, in the ledger's audit log (``verticals.ledger.audit``): who, what, when.

``audit_trail`` is a dependency of the admin routers, after the admin-token check, so a call without the
token is refused before anything is recorded (a stranger cannot fill the log). It records after the route
has run, before the answer is sent, whether the route succeeded or was refused: ``action`` is the route's
name (``create_key``), ``detail`` the JSON body (secrets masked by the ledger) plus what the route added
with ``note`` (the new key's prefix, never the key), ``status`` the HTTP status answered.

"Who" is the ``x-verticals-actor`` header when the caller sends one (the dashboard sends its signed-in
user), else "admin token". The header is only written down: the admin token alone opens these routes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote

from fastapi import Request
from fastapi.exceptions import RequestValidationError

from verticals.ledger.audit import AuditEntry
from verticals.serving.admin.access import AdminGateway
from verticals.serving.errors import APIError

ACTOR_HEADER = "x-verticals-actor"
DEFAULT_ACTOR = "admin token"
_READS = frozenset({"GET", "HEAD", "OPTIONS"})
# POST routes that change nothing an operator would audit: flush only waits for events to reach DuckDB.
_NOT_CHANGES = frozenset({"flush"})
# Body fields that name what a call is about, when its path does not.
_SUBJECT_FIELDS = ("customer", "name", "plan", "device_class", "model")
_NOTE = "verticals_audit_note"

log = logging.getLogger(__name__)


def note(request: Request, **fields: Any) -> None:
    """Add ``fields`` (JSON-shaped) to the audit row of this request, e.g. ``note(request, prefix=...)`` for
    the key a route created. Fields named like a secret are masked when the row is written."""
    noted: dict[str, Any] = getattr(request.state, _NOTE, {})
    noted.update(fields)
    setattr(request.state, _NOTE, noted)


def actor_of(request: Request) -> str:
    """Who the caller says it is: its ``x-verticals-actor`` header (percent-decoded, so a name can hold
    any character), else "admin token"."""
    return unquote(request.headers.get(ACTOR_HEADER) or "").strip() or DEFAULT_ACTOR


async def audit_trail(request: Request, gw: AdminGateway) -> AsyncIterator[None]:
    """FastAPI dependency (``scope="function"``): after a mutating admin route, write its audit row; reads
    (GET) and ``POST /admin/flush`` are not recorded. A row that cannot be written is logged as an error
    and the answer still goes out: the change it describes has happened."""
    route = request.scope.get("route")
    action = str(getattr(route, "name", "") or request.url.path)
    if request.method in _READS or action in _NOT_CHANGES:
        yield
        return
    body = _json_body(await request.body())
    status, error = int(getattr(route, "status_code", None) or 200), None
    try:
        yield
    except APIError as refused:
        status, error = refused.status, refused.message
        raise
    except RequestValidationError as invalid:
        status, error = 400, "; ".join(str(e.get("msg", e)) for e in invalid.errors())[:500]
        raise
    except Exception as failed:
        status, error = 500, f"{type(failed).__name__}: {failed}"[:500]
        raise
    finally:
        entry = AuditEntry(
            actor=actor_of(request),
            action=action,
            method=request.method,
            path=request.url.path,
            status=status,
            subject=_subject(request, body),
            detail={**body, **getattr(request.state, _NOTE, {})},
            error=error,
        )
        ledger: Any = gw.ledger  # a Ledger: LedgerLike names only what serving a request needs
        try:
            ledger.record_admin_action(entry)
        except Exception:  # the change happened (or was refused) all the same: say so, loudly
            log.exception("could not write the admin audit row for %s %s", request.method, request.url.path)


def _json_body(raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {"body": "(not JSON)"}
    return parsed if isinstance(parsed, dict) else {"body": parsed}


def _subject(request: Request, body: dict[str, Any]) -> str | None:
    for value in request.path_params.values():
        return str(value)
    for name in _SUBJECT_FIELDS:
        if isinstance(body.get(name), str) and body[name]:
            return str(body[name])
    return None
