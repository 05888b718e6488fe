"""Use a blocking :class:`~kizuna.store.base.Store` from asyncio without blocking the loop.

Every call runs on *one* dedicated worker thread, in the order it was made. One thread, not a
pool, because it keeps the store's single-writer discipline trivially true, keeps writes in
submission order (a report awaited before another is committed before it) and gives
read-your-writes: a query awaited after a ``put`` sees the row. The coroutine completes only
after the commit, so ``await store.put_report(r)`` then acknowledging is durable-before-ack.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, TypeVar

from kizuna.store.base import (
    DEFAULT_NODE,
    REPLAY_PAGE,
    AnyProduct,
    AnyReport,
    ProductEntry,
    Store,
    StoredProduct,
    StoredReport,
)

T = TypeVar("T")


class AsyncStore:
    """Async facade over a blocking store; owns the store and closes it in :meth:`close`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kizuna-store")

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    async def put_report(
        self, report: AnyReport, *, node_id: str = DEFAULT_NODE, received_at_s: float | None = None
    ) -> bool:
        return await self._call(
            self.store.put_report, report, node_id=node_id, received_at_s=received_at_s
        )

    async def put_reports(
        self,
        reports: Iterable[AnyReport],
        *,
        node_id: str = DEFAULT_NODE,
        received_at_s: float | None = None,
    ) -> list[bool]:
        return await self._call(
            self.store.put_reports, list(reports), node_id=node_id, received_at_s=received_at_s
        )

    async def put_product(
        self, node_id: str, product: AnyProduct, received_at_s: float, rule: str | None
    ) -> bool:
        return await self._call(self.store.put_product, node_id, product, received_at_s, rule)

    async def put_products(self, node_id: str, entries: Iterable[ProductEntry]) -> list[bool]:
        return await self._call(self.store.put_products, node_id, list(entries))

    async def reports(self, **filters: Any) -> list[StoredReport]:
        return await self._call(self.store.reports, **filters)

    async def products(self, **filters: Any) -> list[StoredProduct]:
        return await self._call(self.store.products, **filters)

    async def count(
        self, table: Literal["reports", "products"], *, node_id: str | None = None
    ) -> int:
        return await self._call(self.store.count, table, node_id=node_id)

    async def replay(
        self,
        since_s: float | None = None,
        until_s: float | None = None,
        *,
        node_id: str = DEFAULT_NODE,
        kind: str | None = None,
    ) -> AsyncIterator[AnyReport]:
        """Async version of :meth:`Store.replay`; pages are fetched on the worker thread."""
        iterator = self.store.replay(since_s, until_s, node_id=node_id, kind=kind)
        while True:
            page = await self._call(lambda: list(itertools.islice(iterator, REPLAY_PAGE)))
            for report in page:
                yield report
            if len(page) < REPLAY_PAGE:
                return

    async def replay_products(
        self,
        since_s: float | None = None,
        until_s: float | None = None,
        *,
        node_id: str = DEFAULT_NODE,
        kind: str | None = None,
    ) -> AsyncIterator[StoredProduct]:
        """Async version of :meth:`Store.replay_products`."""
        iterator = self.store.replay_products(since_s, until_s, node_id=node_id, kind=kind)
        while True:
            page = await self._call(lambda: list(itertools.islice(iterator, REPLAY_PAGE)))
            for product in page:
                yield product
            if len(page) < REPLAY_PAGE:
                return

    async def close(self) -> None:
        await self._call(self.store.close)
        self._executor.shutdown(wait=True)

    async def __aenter__(self) -> AsyncStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
