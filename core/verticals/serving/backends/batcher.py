"""Dynamic batching: concurrent requests for one model are run through ``predict`` together.

A worker waits for the first item, then collects more until the batch is full (``max_batch_size``)
or ``max_wait_s`` has passed, and runs the batch on a thread so the event loop keeps accepting
requests. While one batch runs, the next one fills. The batch's measured wall time is shared among
its items in proportion to their metering units (equally when all are zero), so the compute seconds
charged over a run add up to the time the model actually spent.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

Predict = Callable[[Sequence[Any]], list[Any]]
Units = Callable[[Any], float]


@dataclass(frozen=True)
class BatchResult:
    """One item's result from a batch: the model's ``output``, its share of the batch's compute seconds (by
    the items' units, equal shares when unknown), the seconds it waited in the queue, and the batch's size.
    """

    output: Any
    compute_seconds: float
    queue_seconds: float
    batch_size: int


@dataclass
class _Pending:
    item: Any
    future: asyncio.Future[BatchResult]
    enqueued: float


class DynamicBatcher:
    """Collect items into batches for ``predict``; ``submit`` awaits one item's output."""

    def __init__(
        self,
        predict: Predict,
        *,
        units: Units | None = None,
        max_batch_size: int = 32,
        max_wait_s: float = 0.005,
        name: str = "model",
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
        if max_wait_s < 0:
            raise ValueError(f"max_wait_s must not be negative, got {max_wait_s}")
        self._predict = predict
        self._units = units
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self._queue: asyncio.Queue[_Pending] | None = None
        self._worker: asyncio.Task[None] | None = None
        # One thread per model: batches of one model run one after another, never interleaved.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"batch-{name}")
        self.batches = 0
        self.items = 0

    def start(self) -> None:
        """Start the worker task that collects and runs batches, on the running event loop; does nothing if it
        runs already.
        """
        if self._worker is None:
            self._queue = asyncio.Queue()
            self._worker = asyncio.get_running_loop().create_task(self._run())

    async def submit(self, item: Any) -> BatchResult:
        """Queue ``item`` and wait for its BatchResult (starting the worker if needed); raises what
        ``predict`` raised for this item (a failing batch is rerun item by item, so one bad item fails
        alone), or RuntimeError when ``predict`` returned a wrong number of outputs.
        """
        if self._worker is None:
            self.start()
        assert self._queue is not None
        future: asyncio.Future[BatchResult] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(item, future, time.perf_counter()))
        return await future

    async def stop(self) -> None:
        """Cancel the worker task and shut the predict thread pool down; queued items are not run."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _run(self) -> None:
        assert self._queue is not None
        queue = self._queue
        loop = asyncio.get_running_loop()
        while True:
            batch = [await queue.get()]
            deadline = loop.time() + self.max_wait_s
            while len(batch) < self.max_batch_size:
                if not queue.empty():
                    batch.append(queue.get_nowait())
                    continue
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(queue.get(), remaining))
                except TimeoutError:
                    break
            batch = [p for p in batch if not p.future.cancelled()]
            if batch:
                await self._run_batch(loop, batch)

    async def _run_batch(self, loop: asyncio.AbstractEventLoop, batch: list[_Pending]) -> None:
        started = time.perf_counter()
        try:
            outputs, seconds = await loop.run_in_executor(
                self._executor, self._timed, [p.item for p in batch]
            )
        except Exception as error:
            if len(batch) == 1:
                _resolve(batch[0].future, error=error)
                return
            # One bad item must not fail its neighbours: run each alone to find which one raised.
            for pending in batch:
                await self._run_batch(loop, [pending])
            return
        self.batches += 1
        self.items += len(batch)
        if len(outputs) != len(batch):
            mismatch = RuntimeError(f"predict returned {len(outputs)} outputs for {len(batch)} inputs")
            for pending in batch:
                _resolve(pending.future, error=mismatch)
            return
        shares = self._shares([p.item for p in batch])
        for pending, output, share in zip(batch, outputs, shares, strict=True):
            _resolve(
                pending.future,
                result=BatchResult(output, seconds * share, max(0.0, started - pending.enqueued), len(batch)),
            )

    def _timed(self, items: list[Any]) -> tuple[list[Any], float]:
        started = time.perf_counter()
        outputs = self._predict(items)
        return list(outputs), time.perf_counter() - started

    def _shares(self, items: list[Any]) -> list[float]:
        if self._units is not None:
            try:
                weights = [max(0.0, float(self._units(item))) for item in items]
            except Exception:
                weights = []
            total = sum(weights)
            if weights and total > 0:
                return [w / total for w in weights]
        return [1.0 / len(items)] * len(items)


def _resolve(
    future: asyncio.Future[BatchResult],
    *,
    result: BatchResult | None = None,
    error: BaseException | None = None,
) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        assert result is not None
        future.set_result(result)
