"""``POST /admin/plugins/reload``: load plugins installed since the gateway started (see
``verticals.serving.reload``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from verticals.serving.admin.access import json_response, require_admin
from verticals.serving.admin.audit import audit_trail
from verticals.serving.reload import PluginReloader

router = APIRouter(
    prefix="/admin",
    tags=["Admin"],
    dependencies=[Depends(require_admin), Depends(audit_trail, scope="function")],
)


@router.post("/plugins/reload")
async def reload_plugins(request: Request) -> Response:
    """``POST /admin/plugins/reload``: read the installed plugins again, start a backend for each new model
    and serve it, leaving the models already served and their requests in flight alone. Answers
    ``{"added", "failed": {name: why}, "kept", "plugins_installed"}`` (see ``PluginReloader.reload``).
    Admin token only (401 without or with a wrong one, 403 for a customer key).
    """
    reloader: PluginReloader = request.app.state.plugins
    return json_response(await reloader.reload())
