"""What the SQL stores (SQLite and PostgreSQL) share: every query and the one-item writes.

Both stores keep the same two tables with the same columns and answer the same queries; only
the placeholder style (``?`` or ``%s``), the table prefix (a PostgreSQL schema) and how a query
is executed differ. Those three are the hooks a store provides; everything else lives here once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Literal

from kizuna.contract import parse_report
from kizuna.store.base import (
    DEFAULT_NODE,
    PRODUCT_TYPES,
    REPLAY_PAGE,
    REPORT_KINDS,
    AnyProduct,
    AnyReport,
    ProductEntry,
    StoredProduct,
    StoredReport,
    StoreError,
    check_kind,
    product_from_json,
    sql_filters,
    sql_limit,
)

_PRODUCT_COLUMNS = "node_id, key, kind, t, received_at_s, rule, payload"


class SQLStore:
    """Queries over the ``reports`` and ``products`` tables, for any SQL store.

    A subclass sets :attr:`_mark` (the driver's placeholder) and implements :meth:`_table`
    (qualified table name), :meth:`_fetch` (run a query, return all rows) and the batch writes
    :meth:`put_reports` / :meth:`put_products` (whose durability each driver ensures).
    """

    _mark: str = "?"

    def _table(self, name: str) -> str:
        return name

    def _fetch(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def put_reports(
        self,
        reports: Iterable[AnyReport],
        *,
        node_id: str = DEFAULT_NODE,
        received_at_s: float | None = None,
    ) -> list[bool]:
        raise NotImplementedError

    def put_products(self, node_id: str, entries: Iterable[ProductEntry]) -> list[bool]:
        raise NotImplementedError

    def put_report(
        self,
        report: AnyReport,
        *,
        node_id: str = DEFAULT_NODE,
        received_at_s: float | None = None,
    ) -> bool:
        """Store one report durably; ``False`` (and nothing changed) if its id is stored."""
        return self.put_reports([report], node_id=node_id, received_at_s=received_at_s)[0]

    def put_product(
        self, node_id: str, product: AnyProduct, received_at_s: float, rule: str | None
    ) -> bool:
        """Store one product durably with the rule that released it; ``False`` if a duplicate."""
        return self.put_products(node_id, [(product, received_at_s, rule)])[0]

    def reports(
        self,
        *,
        node_id: str | None = DEFAULT_NODE,
        since_s: float | None = None,
        until_s: float | None = None,
        kind: str | None = None,
        received_until_s: float | None = None,
        limit: int | None = None,
    ) -> list[StoredReport]:
        """Reports with ``since_s <= t < until_s`` in time order; ``node_id=None``: all nodes."""
        check_kind(kind, REPORT_KINDS, "report")
        where, params = sql_filters(
            node_id, since_s, until_s, kind=kind, received_until_s=received_until_s,
            mark=self._mark,
        )
        sql = (
            f"SELECT node_id, t, received_at_s, payload FROM {self._table('reports')}{where} "
            f"ORDER BY t, node_id, id{sql_limit(limit)}"
        )
        return [
            StoredReport(node, t, received, parse_report(payload))
            for node, t, received, payload in self._fetch(sql, params)
        ]

    def products(
        self,
        *,
        node_id: str | None = None,
        since_s: float | None = None,
        until_s: float | None = None,
        kind: str | None = None,
        track_id: str | None = None,
        received_until_s: float | None = None,
        limit: int | None = None,
    ) -> list[StoredProduct]:
        """Products with ``since_s <= t < until_s`` in time order, filtered as given."""
        check_kind(kind, tuple(PRODUCT_TYPES), "product")
        where, params = sql_filters(
            node_id, since_s, until_s, kind=kind, track_id=track_id,
            received_until_s=received_until_s, mark=self._mark,
        )
        sql = (
            f"SELECT {_PRODUCT_COLUMNS} FROM {self._table('products')}{where} "
            f"ORDER BY t, node_id, key{sql_limit(limit)}"
        )
        return [stored_product(row) for row in self._fetch(sql, params)]

    def replay(
        self,
        since_s: float | None = None,
        until_s: float | None = None,
        *,
        node_id: str = DEFAULT_NODE,
        kind: str | None = None,
    ) -> Iterator[AnyReport]:
        """Yield one node's reports with ``since_s <= t < until_s`` ordered by (time, id).

        Pages are fetched by keyset (the last ``(t, id)`` seen), so no cursor or transaction
        stays open while the caller iterates, and rows written meanwhile are seen if they sort
        after the current position.
        """
        check_kind(kind, REPORT_KINDS, "report")
        where, params = sql_filters(node_id, since_s, until_s, kind=kind, mark=self._mark)
        for row in self._pages("reports", "id", "payload", where, params):
            yield parse_report(row[0])

    def replay_products(
        self,
        since_s: float | None = None,
        until_s: float | None = None,
        *,
        node_id: str = DEFAULT_NODE,
        kind: str | None = None,
    ) -> Iterator[StoredProduct]:
        """Yield one node's products with ``since_s <= t < until_s`` ordered by (time, key)."""
        check_kind(kind, tuple(PRODUCT_TYPES), "product")
        where, params = sql_filters(node_id, since_s, until_s, kind=kind, mark=self._mark)
        for row in self._pages("products", "key", _PRODUCT_COLUMNS, where, params):
            yield stored_product(row)

    def _pages(
        self, table: str, key_column: str, columns: str, where: str, params: tuple[Any, ...]
    ) -> Iterator[tuple[Any, ...]]:
        after: tuple[float, str] | None = None
        while True:
            clause, extra = where, params
            if after is not None:
                # Row-value comparison: SQLite (3.15+) and PostgreSQL both support it.
                keyset = f"(t, {key_column}) > ({self._mark}, {self._mark})"
                clause = f"{where} AND {keyset}" if where else f" WHERE {keyset}"
                extra = (*params, after[0], after[1])
            sql = (
                f"SELECT t, {key_column}, {columns} FROM {self._table(table)}{clause} "
                f"ORDER BY t, {key_column} LIMIT {REPLAY_PAGE}"
            )
            page = self._fetch(sql, extra)
            for row in page:
                yield row[2:]
            if len(page) < REPLAY_PAGE:
                return
            after = (page[-1][0], page[-1][1])

    def count(self, table: Literal["reports", "products"], *, node_id: str | None = None) -> int:
        """Number of rows in ``table`` (for one node, or all when ``node_id`` is None)."""
        if table not in ("reports", "products"):
            raise StoreError(f"table must be 'reports' or 'products'; got {table!r}")
        where, params = sql_filters(node_id, None, None, mark=self._mark)
        return int(self._fetch(f"SELECT count(*) FROM {self._table(table)}{where}", params)[0][0])


def stored_product(row: tuple[Any, ...]) -> StoredProduct:
    """A ``products`` row (columns as in :data:`_PRODUCT_COLUMNS`) as a :class:`StoredProduct`."""
    node, key, kind, t, received, rule, payload = row
    return StoredProduct(node, key, kind, t, received, rule, product_from_json(kind, payload))
