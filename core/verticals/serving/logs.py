"""Where the gateway's logs go: JSON lines on stderr, or files under a log folder with only warnings on the
terminal (what ``verticals up`` asks for), and the third-party progress bars a server never needs.

In a container the JSON lines on stderr are what a log collector reads. On an operator's terminal
(``make up``) one JSON line per request (about 8 a second under the demo traffic) buries the warnings,
so there the access lines go to ``<log dir>/access.log``, every other record to ``<log dir>/gateway.log``,
and the terminal shows warnings and errors as one readable line each.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import sys
import time
from pathlib import Path

ACCESS_LOGGER = "verticals.access"
LOG_FILE_BYTES = 50 * 1024 * 1024  # each file is rotated at 50 MiB, 5 old ones kept
LOG_FILE_BACKUPS = 5

# The documented switches of the libraries whose bars would otherwise draw on the gateway's stderr:
# tqdm reads TQDM_* environment variables as its defaults (tqdm >= 4.66; sentence-transformers'
# "Batches", GGUF conversion), huggingface_hub and transformers read HF_HUB_DISABLE_PROGRESS_BARS
# ("Loading weights", downloads). Both are read when those libraries are imported, so they are set
# before any plugin loads, and child processes (vLLM servers) inherit them.
QUIET_PROGRESS_ENV = {"TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; access lines are already JSON and pass through as the message."""

    def format(self, record: logging.LogRecord) -> str:
        """``record`` as one JSON line: ``{ts (UTC, seconds), level, logger, message[, request_id][,
        error]}``, ``error`` being the formatted traceback; a ``verticals.access`` record is already JSON
        and is returned as its message.
        """
        message = record.getMessage()
        if record.name == ACCESS_LOGGER:
            return message
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def quiet_progress_bars() -> None:
    """Turn off tqdm's and Hugging Face's progress bars in this process and the ones it starts (see
    ``QUIET_PROGRESS_ENV``); a value the operator set is kept."""
    for name, value in QUIET_PROGRESS_ENV.items():
        os.environ.setdefault(name, value)


def configure_logging(level: str = "INFO", log_dir: Path | None = None) -> None:
    """Route every log record, replacing the root logger's handlers, at ``level`` (a logging level name).

    Without ``log_dir``: JSON lines (``JsonFormatter``) on stderr, access lines included. With it (created
    if missing): access lines to ``access.log``, every other record to ``gateway.log`` (JSON, rotated at
    ``LOG_FILE_BYTES``), and warnings and errors also to stderr as ``HH:MM:SS WARNING logger: message``.
    """
    root = logging.getLogger()
    access = logging.getLogger(ACCESS_LOGGER)
    root.setLevel(level)
    if log_dir is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.handlers[:] = [handler]
        access.handlers[:] = []
        access.propagate = True
        return
    log_dir.mkdir(parents=True, exist_ok=True)
    terminal = logging.StreamHandler(sys.stderr)
    terminal.setLevel(logging.WARNING)
    terminal.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    root.handlers[:] = [_json_file(log_dir / "gateway.log"), terminal]
    access.handlers[:] = [_json_file(log_dir / "access.log")]
    access.propagate = False  # one line per request: in its own file, not on the terminal


def _json_file(path: Path) -> logging.Handler:
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=LOG_FILE_BYTES, backupCount=LOG_FILE_BACKUPS, encoding="utf-8"
    )
    handler.setFormatter(JsonFormatter())
    return handler
