"""The HTTP client of the gateway's admin API, shared by the CLI, ``verticals demo`` and the dashboard.

``running_server(settings)`` finds the gateway serving ``settings.home`` (through its ``server.json``)
and answers an ``AdminClient`` (or None when none runs); ``open_remote_ledger(settings)`` wraps it in a
``RemoteLedger`` that answers the ledger's calls, for commands that must not open the locked ledger.
``RemoteInvoices(client)`` answers ``verticals invoices``' calls through the gateway's ``/admin/invoices``.
``verticals serve`` writes and removes ``server.json`` with ``write_server_file`` / ``remove_server_file``.

This package imports nothing from ``verticals.serving``: it sits below both the gateway and the CLI.
"""

from __future__ import annotations

from verticals.client.admin import (
    SERVER_FILE,
    AdminClient,
    AdminError,
    remove_server_file,
    running_server,
    write_server_file,
)
from verticals.client.invoices import RemoteInvoices
from verticals.client.remote_ledger import RemoteLedger, open_remote_ledger

__all__ = [
    "SERVER_FILE",
    "AdminClient",
    "AdminError",
    "RemoteInvoices",
    "RemoteLedger",
    "open_remote_ledger",
    "remove_server_file",
    "running_server",
    "write_server_file",
]
