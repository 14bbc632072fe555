"""Checking that a payload reader reads only the payload: no file, database or URL that a payload names.

A request payload is untrusted: whoever holds a key may send ``"/srv/data/clients.csv"``,
``"duckdb:/srv/ledger.duckdb:usage"`` or ``"file:///etc/passwd"`` where a record belongs. A payload
reader (``DataAdapter.read_payload``) must treat such a string as data. This module sends a reader
pairs of payloads that differ only in whether what they name exists on disk (a CSV, JSON Lines, PNG
or WAV file and a DuckDB table holding a secret value, and ``file://`` and ``http://`` URLs to
them), bare, in a list, in an object and as bytes, and watches three ways for a read:

- a ``sys.addaudithook`` hook (one per process, armed only while a reader runs, on its thread) sees
  every ``open()`` from Python code, every socket connection and every subprocess;
- inotify (Linux) sees every open of the probe's files and folder, from C libraries too (DuckDB,
  libsndfile, Arrow), which audit hooks do not;
- a local listener behind the ``http://`` URLs sees any connection, whatever made it.

The reader must answer each pair identically (the same refusal, or the same inputs), and never
with the secret. Files under the interpreter's import roots (lazy imports) are not counted.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import re
import secrets
import socket
import struct
import sys
import threading
import wave
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verticals.adapters import AdapterError, DataAdapter

HERE, GONE = "hasfile", "nofile_"  # equal length, so a payload's length never tells them apart
_WATCHED_EVENTS = ("open", "socket.", "subprocess.", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
                   "os.listdir", "os.scandir", "urllib.", "sqlite3.connect")  # fmt: skip
_IN_OPEN, _IN_ACCESS = 0x20, 0x01
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")  # an object's repr differs from call to call


@dataclass(frozen=True)
class Probe:
    """Payloads of one kind: ``here`` names something that exists, each of ``gone`` something missing."""

    kind: str
    here: str
    gone: tuple[str, ...]


def assert_payload_reader_reads_no_files(
    adapter: DataAdapter, workdir: Path, *, text_is_data: bool = False
) -> None:
    """Fail with every problem found unless ``adapter.read_payload`` reads only its payload.

    ``workdir`` is an empty private folder (pytest's ``tmp_path``); the probe files go there.
    A bare path or URL string must be refused (``AdapterError``) unless ``text_is_data``: a reader
    whose payload is free text (a classifier's input) may take it as text, but must answer the same
    whatever exists on disk. What the reader does for any payload (lazy imports, reading the server's
    own settings) is learnt first from payloads naming nothing and not counted. Raises
    ``AssertionError`` listing each problem; ``ValueError`` when the adapter has no payload reader.
    """
    reader = adapter.read_payload
    if reader is None:
        raise ValueError(f"adapter {adapter.name!r} has no read_payload to check")
    secret = f"SECRET-{secrets.token_hex(8)}"
    problems: list[str] = []
    with _listener() as listener:
        port = listener.getsockname()[1]
        probes = make_probes(workdir, secret, port)
        usual: set[str] = set()
        for probe in probes:  # the same shapes, naming nothing that exists: what any payload costs
            for wrap in _SHAPES.values():
                usual.update(_run(reader, wrap(probe.gone[0].replace(GONE, "warming")), workdir)[1])
        for probe in probes:
            for shape, wrap in _SHAPES.items():
                problems += _check(reader, probe, shape, wrap, workdir, secret, usual, text_is_data)
        if _accepted_connection(listener):
            problems.append(f"something connected to the http:// probe on 127.0.0.1:{port}")
    assert not problems, f"adapter {adapter.name!r}'s read_payload reads beyond its payload:\n" + "\n".join(
        f"- {p}" for p in problems
    )


def _check(
    reader: Any, probe: Probe, shape: str, wrap: Any, workdir: Path, secret: str, usual: set[str],
    text_is_data: bool,
) -> list[str]:  # fmt: skip
    problems, answers = [], {}
    for payload in (probe.here, *probe.gone):
        answer, reads = _run(reader, wrap(payload), workdir)
        where = f"{probe.kind} {shape} {payload!r}"
        problems += [f"{where}: the reader {read}" for read in reads if read not in usual]
        if secret in answer:
            problems.append(f"{where}: the answer quotes the file's content: {answer[:300]}")
        if answer.startswith("raised "):
            problems.append(f"{where}: {answer[:300]}; refuse bad payloads with AdapterError")
        if shape == "bare" and not text_is_data and not answer.startswith("refused"):
            problems.append(f"{where}: a path or URL was taken as input: {answer[:300]}")
        answers[payload] = _ADDRESS.sub(" at 0x?", answer.replace(HERE, "<name>").replace(GONE, "<name>"))
    if len(set(answers.values())) > 1:
        shown = "\n    ".join(f"{p!r} -> {a[:300]}" for p, a in answers.items())
        problems.append(f"{probe.kind} {shape}: the answer depends on what exists on disk:\n    {shown}")
    return problems


_KEYS = ("image", "audio", "data", "path", "file", "url", "source", "text", "table", "b64")
_SHAPES: dict[str, Callable[[str], Any]] = {
    "bare": lambda text: text,
    "in a list": lambda text: [text],
    "in an object": lambda text: dict.fromkeys(_KEYS, text),
    "as bytes": lambda text: text.encode(),
}


def make_probes(workdir: Path, secret: str, port: int) -> list[Probe]:
    """Write the probe files, each holding ``secret``, into ``workdir``; the payloads naming them."""
    here, gone = workdir / HERE, workdir / GONE
    columns = ["text", "transaction_id", "amount", "mean radius", secret]
    table = ",".join(columns) + "\n" + ",".join([secret] * len(columns)) + "\n"
    (workdir / f"{HERE}.csv").write_text(table)
    record = {"text": secret, "messages": [{"role": "user", "content": secret}]}
    (workdir / f"{HERE}.jsonl").write_text(json.dumps(record) + "\n")
    (workdir / f"{HERE}.png").write_bytes(_png(secret))
    _wav(workdir / f"{HERE}.wav")
    _duckdb(workdir / f"{HERE}.duckdb", secret)
    here.mkdir()
    (here / "data.csv").write_text(table)
    probes = [Probe(kind, f"{here}.{kind}", (f"{gone}.{kind}",)) for kind in ("csv", "jsonl", "png", "wav")]
    return [
        *probes,
        Probe("folder", f"{here}/", (f"{gone}/",)),
        Probe("duckdb table", f"duckdb:{here}.duckdb:{HERE}",
              (f"duckdb:{gone}.duckdb:{HERE}", f"duckdb:{here}.duckdb:{GONE}")),
        Probe("file:// URL", f"file://{here}.csv", (f"file://{gone}.csv",)),
        Probe("http:// URL", f"http://127.0.0.1:{port}/{HERE}.csv", (f"http://127.0.0.1:{port}/{GONE}.csv",)),
    ]  # fmt: skip


def _run(reader: Any, payload: Any, workdir: Path) -> tuple[str, list[str]]:
    """(the reader's answer as text, what it read or connected to while it ran)."""
    with _watching(workdir) as reads:
        try:
            answer = f"accepted {reader(payload)!r}"
        except AdapterError as error:
            answer = f"refused: {error}"
        except Exception as error:  # the finding itself: a payload reader must raise AdapterError
            answer = f"raised {type(error).__name__}: {error}"
    return answer, reads


# --- watching: an audit hook armed per thread, and inotify on the probe folder -------------------------

_armed: dict[int, list[str]] = {}  # thread id -> what it did while armed
_hook_lock = threading.Lock()
_hook_installed = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    seen = _armed.get(threading.get_ident())
    if seen is None or not event.startswith(_WATCHED_EVENTS):
        return
    target = args[0] if args else None
    if event in ("open", "os.listdir", "os.scandir") and _routine(target):
        return
    seen.append(f"made the audit event {event} {target!r}")


def _routine(path: Any) -> bool:
    """A lazy import (under an import root) or a library sizing up the machine (/proc, /sys, /dev)."""
    if not isinstance(path, str | bytes | os.PathLike):
        return False
    text = os.path.abspath(os.fsdecode(path))
    roots = {
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        "/proc",
        "/sys",
        "/dev",
        *(p for p in sys.path if p),
    }
    return any(
        root != os.sep and (text == root or text.startswith(root.rstrip(os.sep) + os.sep))
        for root in map(os.path.abspath, roots)
    )


def _install_hook() -> None:
    global _hook_installed
    with _hook_lock:
        if not _hook_installed:
            sys.addaudithook(_audit)  # cannot be removed: it stays, disarmed, for the process's life
            _hook_installed = True


@contextmanager
def _watching(workdir: Path) -> Iterator[list[str]]:
    _install_hook()
    reads: list[str] = []
    with _inotify(workdir) as opened:
        _armed[threading.get_ident()] = reads
        try:
            yield reads
        finally:
            del _armed[threading.get_ident()]
            reads.extend(f"opened {name} (inotify)" for name in opened())


@contextmanager
def _inotify(folder: Path) -> Iterator[Callable[[], list[str]]]:
    """A function giving the names opened or read in ``folder`` since entry; none off Linux."""
    libc_name = ctypes.util.find_library("c") if sys.platform.startswith("linux") else None
    libc = ctypes.CDLL(libc_name, use_errno=True) if libc_name else None
    fd = int(libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)) if libc is not None else -1
    if libc is None or fd < 0:
        yield list
        return
    try:
        if libc.inotify_add_watch(fd, os.fsencode(folder), _IN_OPEN | _IN_ACCESS) < 0:
            yield list
        else:
            yield lambda: sorted(_inotify_names(fd, folder))
    finally:
        os.close(fd)


def _inotify_names(fd: int, folder: Path) -> set[str]:
    names: set[str] = set()
    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return names
        offset = 0
        while offset < len(data):  # struct inotify_event: wd, mask, cookie, len, then the name
            _, _, _, length = struct.unpack_from("iIII", data, offset)
            raw = data[offset + 16 : offset + 16 + length].rstrip(b"\0")
            names.add(str(folder / os.fsdecode(raw)) if raw else f"the folder {folder}")
            offset += 16 + length


# --- the http:// target and the probe files ----------------------------------------------------------


@contextmanager
def _listener() -> Iterator[socket.socket]:
    """A listening socket on a free loopback port that nothing should ever connect to."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        server.setblocking(False)
        yield server


def _accepted_connection(server: socket.socket) -> bool:
    try:
        connection, _ = server.accept()
    except BlockingIOError:
        return False
    connection.close()
    return True


def _png(secret: str) -> bytes:
    """An 8x8 grey PNG of a vertical stroke (a readable '1'), with ``secret`` in a tEXt chunk."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\0" + bytes(255 if 3 <= x <= 4 else 0 for x in range(8)) for _ in range(8))
    header = struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 0)
    text = b"Comment\0" + secret.encode()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"tEXt", text)
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))  # fmt: skip


def _wav(path: Path) -> None:
    """One second of a 440 Hz-ish square wave, 16 kHz mono: audio any decoder takes."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        period = [8000] * 18 + [-8000] * 18
        out.writeframes(struct.pack(f"<{16_000}h", *(period * (16_000 // len(period) + 1))[:16_000]))


def _duckdb(path: Path, secret: str) -> None:
    import duckdb

    with duckdb.connect(str(path)) as db:
        db.execute(f'CREATE TABLE "{HERE}" (text VARCHAR, amount VARCHAR, "{secret}" VARCHAR)')
        db.execute(f'INSERT INTO "{HERE}" VALUES (?, ?, ?)', [secret, secret, secret])  # noqa: S608 - constants
