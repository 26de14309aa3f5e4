"""Batch sends: per-item results, bounded concurrency, one worker pool per batch.

``run_each`` is what every sender's ``send_each`` is built on: the failures of one
item (any ``PullkinError``) become that item's result instead of failing the batch,
as in firebase-admin's ``BatchResponse``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pullkin.errors import ConfigError, PullkinError

__all__ = ["BatchResult", "SendResult", "run_each"]

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - item type of run_each


@dataclass(frozen=True)
class SendResult(Generic[T]):
    """One item of a batch: the vendor's answer (``value``) or the ``error``."""

    value: T | None = None
    error: PullkinError | None = None

    @property
    def success(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class BatchResult(Generic[T]):
    """Per-item results of a batch send, in the order of the input."""

    responses: list[SendResult[T]] = field(default_factory=list)

    @property
    def success_count(self) -> int:
        return sum(1 for r in self.responses if r.error is None)

    @property
    def failure_count(self) -> int:
        return len(self.responses) - self.success_count

    def __iter__(self) -> Any:
        return iter(self.responses)

    def __len__(self) -> int:
        return len(self.responses)

    def __getitem__(self, index: int) -> SendResult[T]:
        return self.responses[index]


async def run_each(
    items: Iterable[I], send: Callable[[I], Awaitable[T]], *, concurrency: int = 16
) -> BatchResult[T]:
    """Call *send* on every item with at most *concurrency* in flight.

    A ``PullkinError`` becomes that item's result; anything else is a bug and
    propagates.  Workers pull from one iterator, so a million items make
    *concurrency* tasks, not a million.
    """
    if concurrency < 1:
        raise ConfigError("concurrency must be at least 1")
    indexed = list(enumerate(items))
    results: list[SendResult[T]] = [SendResult() for _ in indexed]
    queue = iter(indexed)

    async def worker() -> None:
        for index, item in queue:
            try:
                results[index] = SendResult(value=await send(item))
            except PullkinError as exc:
                results[index] = SendResult(error=exc)

    workers = min(concurrency, len(indexed))
    if workers == 1:
        await worker()
    elif workers:
        tasks = [asyncio.ensure_future(worker()) for _ in range(workers)]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:  # a bug in one worker stops the others too
                task.cancel()
    return BatchResult(results)
