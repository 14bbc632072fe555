"""Reaching a running gateway's admin API, for CLI commands that must not open the locked ledger.

``verticals serve`` writes ``<home>/server.json`` (its URL and pid) while it runs. ``running_server``
returns an ``AdminClient`` when that server is alive, else None, so a command can do::

    client = running_server(settings)
    if client is not None:
        rows = client.get("/admin/customers")
    else:
        with Ledger.open(settings.home) as ledger: ...
"""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from verticals.config import Settings
from verticals.private_files import read_admin_token

SERVER_FILE = "server.json"


class AdminError(Exception):
    """The server refused the call (``status`` its HTTP status; 0: it could not be reached); the message
    is the server's, which names the cause and the fix."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class AdminClient:
    """The admin API of the gateway at ``base_url``, called with the admin ``token``: the one HTTP client
    of the CLI's remote ledger, the dashboard's ``ApiSource`` and ``verticals demo``.

    Each call answers the response's JSON; it raises ``AdminError`` for an error status (with the
    server's message) or an unreachable server (status 0), after ``timeout`` seconds at most. ``actor``
    (the dashboard's signed-in user, say) goes along as the ``x-verticals-actor`` header, which the
    gateway writes into its audit log for the calls that change something; it grants nothing.
    """

    def __init__(self, base_url: str, token: str, *, timeout: float = 30.0, actor: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.actor = actor

    def call(
        self, method: str, path: str, *, json_body: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        """``method`` on ``path`` with a JSON body and query ``params`` (None values left out)."""
        import httpx

        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = httpx.request(
                method,
                self.base_url + path,
                json=json_body,
                params=clean,
                headers=self._headers(),
                timeout=self.timeout,
            )
        except httpx.HTTPError as error:
            raise AdminError(
                0,
                f"cannot reach the gateway at {self.base_url} ({error}); is `verticals serve` still up?",
            ) from None
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:500]
            raise AdminError(response.status_code, message)
        return response.json()

    def _headers(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"}
        if self.actor:
            # percent-encoded: a header value is ASCII on one line; the gateway decodes it
            headers["x-verticals-actor"] = quote(self.actor.strip(), safe=" ()@.,:;'-_/+")
        return headers

    def get(self, path: str, **params: Any) -> Any:
        """``GET path`` with query ``params`` (None values left out); the response's JSON. Raises AdminError
        for an error status or an unreachable server (status 0).
        """
        return self.call("GET", path, params=params)

    def post(self, path: str, body: Any = None) -> Any:
        """``POST path`` with the JSON ``body``; the response's JSON. Raises AdminError for an error status or
        an unreachable server (status 0).
        """
        return self.call("POST", path, json_body=body)

    def patch(self, path: str, body: Any = None) -> Any:
        """``PATCH path`` with the JSON ``body``; the response's JSON. Raises AdminError for an error status
        or an unreachable server (status 0).
        """
        return self.call("PATCH", path, json_body=body)


def write_server_file(home: Path, url: str) -> Path:
    """Write ``home/server.json`` with this server's ``url`` and pid (creating ``home``), so CLI commands find
    the running gateway; returns its path. OSError when it cannot be written.
    """
    home.mkdir(parents=True, exist_ok=True)
    path = home / SERVER_FILE
    path.write_text(json.dumps({"url": url, "pid": os.getpid()}))
    return path


def remove_server_file(home: Path) -> None:
    """Delete ``home/server.json`` if this process wrote it (its pid matches); a file of another server, a
    missing file or an unreadable one is left alone.
    """
    path = home / SERVER_FILE
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def running_server(settings: Settings) -> AdminClient | None:
    """A client for the gateway serving ``settings.home``, or None when none runs."""
    path = settings.home / SERVER_FILE
    try:
        info = json.loads(path.read_text())
        url, pid = str(info["url"]), int(info["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None  # a server that died without cleaning up
    except PermissionError:
        pass
    token = read_admin_token(settings.home, settings.admin_token)
    if token is None:
        return None
    return AdminClient(url, token, actor=cli_actor())


def cli_actor() -> str:
    """Who the gateway's audit log names for a CLI command: ``<login name> (cli)``, or ``cli`` when the
    login name cannot be read (no user database in a container)."""
    try:
        return f"{getpass.getuser()} (cli)"
    except (OSError, KeyError):
        return "cli"
