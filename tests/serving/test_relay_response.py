"""``RelayResponse`` on a real uvicorn server: whole bodies, client disconnects, bookkeeping order."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from verticals.serving.backends.vllm.relay import RelayResponse, Write

from .conftest import ServerThread

PORT = 18232


class Recorder:
    """A stream of ``events`` events ``pause`` s apart that records what ``RelayResponse`` did with it."""

    def __init__(self, events: int, pause: float) -> None:
        self.events, self.pause = events, pause
        self.written = 0
        self.log: list[str] = []
        self.cancelled = False

    async def relay(self, write: Write) -> bytes:
        try:
            for index in range(self.events):
                await write(f"data: {index}\n\n".encode())
                self.written += 1
                await asyncio.sleep(self.pause)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return b"data: [DONE]\n\n"

    async def ended(self) -> None:
        self.log.append("ended")

    async def gone(self) -> None:
        self.log.append("gone")


@pytest.fixture(scope="module")
def served() -> Any:
    app = FastAPI()
    streams: dict[str, Recorder] = {}

    @app.get("/stream/{name}")
    async def stream(name: str, events: int, pause: float) -> RelayResponse:
        streams[name] = Recorder(events, pause)
        return RelayResponse(streams[name], headers={"x-test": name})

    server = ServerThread(app, PORT).start()
    yield server.url, streams
    server.stop()


def wait_for(condition: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return bool(condition())


def test_the_whole_body_arrives_and_then_the_stream_is_ended(served: Any) -> None:
    url, streams = served
    response = httpx.get(url + "/stream/whole", params={"events": 5, "pause": 0.001})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["x-test"] == "whole"
    assert "content-length" not in response.headers  # chunked: the length is not known up front
    assert response.text == "".join(f"data: {i}\n\n" for i in range(5)) + "data: [DONE]\n\n"
    assert wait_for(lambda: streams["whole"].log == ["ended"])


def test_a_client_that_goes_away_cancels_the_relay_without_an_error(
    served: Any, caplog: pytest.LogCaptureFixture
) -> None:
    url, streams = served
    with (
        caplog.at_level(logging.ERROR),
        httpx.stream("GET", url + "/stream/left", params={"events": 1000, "pause": 0.01}) as response,
    ):
        for line in response.iter_lines():
            if line == "data: 2":
                break
    stream = streams["left"]
    assert wait_for(lambda: stream.log == ["gone"])
    assert stream.cancelled and stream.written < 100  # stopped at the disconnect, not at the end
    written = stream.written
    time.sleep(0.1)
    assert stream.written == written
    assert not [r for r in caplog.records if "Exception in ASGI application" in r.getMessage()]


def test_bookkeeping_waits_for_the_other_streams_last_bytes() -> None:
    """Streams ending in the same engine step write their tails before any of them meters."""
    order: list[str] = []
    step = asyncio.Event()

    class EndsOnStep:
        def __init__(self, name: str) -> None:
            self.name = name

        async def relay(self, write: Write) -> bytes:
            await step.wait()
            return self.name.encode()

        async def ended(self) -> None:
            order.append("ended " + self.name)

        async def gone(self) -> None:
            raise AssertionError("no client went away")

    async def run(name: str) -> None:
        async def receive() -> dict[str, Any]:
            await asyncio.Event().wait()  # the client stays
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            if message.get("more_body") is False:
                order.append("tail " + message["body"].decode())

        await RelayResponse(EndsOnStep(name))({"type": "http"}, receive, send)

    async def main() -> None:
        streams = [asyncio.create_task(run(name)) for name in "abc"]
        await asyncio.sleep(0.01)
        step.set()
        await asyncio.gather(*streams)

    asyncio.run(main())
    assert order == ["tail a", "tail b", "tail c", "ended a", "ended b", "ended c"]
