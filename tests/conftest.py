"""Fixtures shared by the whole suite. Plugin-author fixtures come from ``verticals.testing``."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_redis import factories as redis_factories

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def model_cache() -> Path:
    """Models pulled once per clone and shared by every test that needs a real model.

    Kept inside the clone (``.cache/models``), never in the user's data directory.
    """
    path = Path(os.environ.get("VERTICALS_TEST_MODEL_CACHE", REPO / ".cache" / "models"))
    path.mkdir(parents=True, exist_ok=True)
    return path


class SitePackages:
    """A directory on ``sys.path`` holding real distributions (dist-info metadata + entry points).

    importlib.metadata finds them exactly as it finds pip-installed ones, without running pip. The
    allowlist is set to the plugins added here, so the plugins installed in the environment stay out.
    """

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.monkeypatch = monkeypatch
        self.names: list[str] = []

    def add(
        self, dist: str, module: str, source: str, *, entry_point: str | None = None, version: str = "1.0"
    ) -> Path:
        (self.root / f"{module}.py").write_text(source)
        info = self.root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[verticals]\n{entry_point or module} = {module}\n")
        self.names.append(entry_point or module)
        self.monkeypatch.setenv("VERTICALS_LOAD_PLUGINS", ",".join(self.names))
        return info


@pytest.fixture
def site_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SitePackages:
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    return SitePackages(root, monkeypatch)


# --- PostgreSQL and Redis, started on loopback for the scale-out tests -------------------------------


class PostgresServer:
    """A PostgreSQL server of Debian's binaries (``pg_config --bindir``) in ``root``, on 127.0.0.1:``port``.

    Started by hand rather than by pytest-postgresql's ``postgresql_proc``: that runs ``initdb`` as the
    current user, and ``initdb`` refuses root, which is what CI runs as; as root the server runs as the
    ``postgres`` user (``runuser``). ``stop``/``start`` take it down and up again (the outage tests);
    ``database`` makes a fresh, empty database and returns its URL.
    """

    def __init__(self, root: Path, port: int) -> None:
        import subprocess

        self.root = root
        self.port = port
        self.bindir = Path(
            subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
        )
        self.data = root / "data"
        self._made = 0

    def _run(self, *argv: str) -> None:
        import subprocess

        command = [str(self.bindir / argv[0]), *argv[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, cwd="/")
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:1])} failed: {done.stderr or done.stdout}")

    def init(self) -> None:
        import shutil

        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")

    def start(self) -> None:
        # fsync off: a test server's crash safety is not under test, and it makes each commit ~10x cheaper
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def database(self) -> str:
        """A new empty database's URL (``postgresql://postgres@127.0.0.1:PORT/tN``)."""
        import psycopg

        self._made += 1
        name = f"t{os.getpid()}_{self._made}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session (started on first use, stopped and removed at the end).

    Its folder is a fresh one in the system's temp directory rather than pytest's: pytest's basetemp is
    private to the user running the tests, which the ``postgres`` user cannot enter.
    """
    import shutil
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="verticals-pg-"))
    server = PostgresServer(root, _free_port())
    try:
        server.init()
        server.start()
        yield server
    finally:
        with contextlib.suppress(Exception):
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def database_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty PostgreSQL database for one test: its ``postgresql://`` URL."""
    return postgres_server.database()


# pytest-redis: a redis-server per session on a free port (``redis_proc``, stoppable for the outage tests),
# and ``redis_url`` a test's URL with the database flushed first.
redis_proc = redis_factories.redis_proc(port=None, timeout=30)  # type: ignore[arg-type]  # None: any free port


@pytest.fixture
def redis_url(redis_proc: Any) -> str:
    """The session's Redis, emptied, as ``redis://127.0.0.1:PORT/0``."""
    import redis

    url = f"redis://{redis_proc.host}:{redis_proc.port}/0"
    with redis.Redis.from_url(url) as client:
        client.flushall()
    return url


# --- Gateway replicas: `verticals serve` processes sharing one PostgreSQL and one Redis ---------------


class Replicas:
    """``count`` ``verticals serve`` processes on loopback, each with its own home (its own spool) and
    port, sharing ``database_url``, ``redis_url`` and one admin token, serving ``models``.

    ``start(i)`` waits until replica ``i`` is ready; ``kill(i)`` is ``kill -9``; ``stop(i)`` is SIGTERM
    (drain and flush). Every process still running at ``close`` is stopped.
    """

    TOKEN = "test-admin-token-replicas"

    def __init__(
        self, root: Path, database_url: str | None, redis_url: str | None, count: int, models: tuple[str, ...]
    ) -> None:
        self.root = root
        self.database_url = database_url
        self.redis_url = redis_url
        self.models = models
        self.ports = [_free_port() for _ in range(count)]
        self.processes: list[Any] = [None] * count

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    def env(self, index: int) -> dict[str, str]:
        env = {
            **os.environ,
            "VERTICALS_HOME": str(self.root / f"replica-{index}"),
            "VERTICALS_ADMIN_TOKEN": self.TOKEN,
            "VERTICALS_LOAD_PLUGINS": "",
            "VERTICALS_SPOOL_FSYNC_MS": "5",
        }
        env.pop("VERTICALS_CONFIG", None)
        # without them a replica is the single-machine gateway: DuckDB in its home, limits in process
        for name, value in (
            ("VERTICALS_DATABASE_URL", self.database_url),
            ("VERTICALS_REDIS_URL", self.redis_url),
        ):
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return env

    def start(self, index: int, timeout: float = 120.0) -> None:
        import subprocess
        import sys
        import time

        import httpx

        models = [arg for model in self.models for arg in ("--model", model)]
        log = (self.root / f"replica-{index}.log").open("a")
        self.processes[index] = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "verticals"),
                "serve",
                "--port",
                str(self.ports[index]),
                *models,
            ],
            env=self.env(index),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.root,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.processes[index].poll() is not None:
                raise RuntimeError(f"replica {index} exited: {self.log(index)}")
            try:
                if httpx.get(self.urls[index] + "/v2/health/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"replica {index} did not become ready: {self.log(index)}")
            time.sleep(0.2)

    def log(self, index: int) -> str:
        return (self.root / f"replica-{index}.log").read_text()[-4000:]

    def kill(self, index: int) -> None:
        process = self.processes[index]
        process.kill()
        process.wait()

    def stop(self, index: int) -> None:
        process = self.processes[index]
        if process is not None and process.poll() is None:
            process.terminate()
            process.wait(timeout=60)

    def admin(self, method: str, path: str, index: int = 0, **kwargs: Any) -> Any:
        import httpx

        headers = {"Authorization": f"Bearer {self.TOKEN}"}
        return httpx.request(method, self.urls[index] + path, headers=headers, timeout=30, **kwargs)

    def close(self) -> None:
        for index in range(len(self.processes)):
            with contextlib.suppress(Exception):
                self.stop(index)


@pytest.fixture
def launch_replicas(tmp_path: Path, database_url: str, redis_url: str) -> Iterator[Callable[..., Replicas]]:
    """``launch_replicas(count, models=("echo/chat",), shared=True)``: that many replicas on a fresh
    database, started; ``shared=False``: single-machine gateways instead (DuckDB, limits in process)."""
    made: list[Replicas] = []

    def launch(count: int, models: tuple[str, ...] = ("echo/chat",), shared: bool = True) -> Replicas:
        root = tmp_path / f"replicas-{len(made)}"
        root.mkdir()
        replicas = Replicas(
            root, database_url if shared else None, redis_url if shared else None, count, models
        )
        made.append(replicas)
        for index in range(count):
            replicas.start(index)
        return replicas

    try:
        yield launch
    finally:
        for replicas in made:
            replicas.close()
