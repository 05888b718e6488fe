"""The store slot: what every durable store of reports and products offers.

Two implementations sit behind :class:`Store`: :class:`kizuna.store.sqlite.SQLiteStore`
(laptop mode, one embedded file) and :class:`kizuna.store.postgres.PostgresStore` (the archive
and query store of a federation node). Both keep one row per ``(node_id, identity)`` and both
make a write durable *before* the call returns, so a caller that acknowledges a report only
after :meth:`Store.put_report` returned never acknowledges something a crash can lose.

Identity
    A report is identified by its contract ``id`` (DESIGN.md section 4: "a report with the same
    id as one already accepted is a duplicate and changes nothing"). A product has no id field,
    so :func:`product_key` defines one from the fields that make an update distinct: kind,
    track or alert id, time (normalised to the contract's millisecond UTC form) and, for alerts,
    the status. Storing the same key twice for the same node keeps the first row untouched.

Nodes
    Rows carry the node that received (or produced) them, so one archive can hold several
    nodes' pictures and after-action queries can ask "what did JJOC have at 03:14". A store used
    by a single node may leave ``node_id`` at its default, :data:`DEFAULT_NODE`.

Times
    ``t`` columns hold the product's own time (report ``time``; product ``time``) as POSIX
    seconds; ``received_at_s`` is when the node accepted it. Ranges are half-open,
    ``since_s <= t < until_s``. ``received_until_s`` answers the after-action question "what
    had this node received before T" (``received_at_s < T``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeAlias, runtime_checkable

from kizuna.contract import (
    PRODUCT_MODELS,
    AlertProduct,
    AnyProduct,
    AnyReport,
    LaunchReport,
    PositionReport,
    PredictionProduct,
    RadarReport,
    TrackProduct,
)
from kizuna.errors import KizunaError
from kizuna.timefmt import format_time, parse_time

ProductKind = Literal["report", "track", "prediction", "alert"]

DEFAULT_NODE = ""
"""Node id of rows written without one (a store that serves a single node)."""

PRODUCT_TYPES = PRODUCT_MODELS
REPORT_KINDS = ("radar", "launch", "position")


class StoreError(KizunaError):
    """A store cannot be opened or used as asked (bad path, schema from a newer version...)."""


def _canonical_time(text: str) -> str:
    # "+09:00" and "Z" spellings of one instant must give one key, or a re-serialised product
    # would be stored twice.
    return format_time(parse_time(text))


def product_kind(item: AnyReport | AnyProduct) -> ProductKind:
    """``"report"`` for any report, else the product's ``product`` field."""
    if isinstance(item, (RadarReport, LaunchReport, PositionReport)):
        return "report"
    if isinstance(item, (TrackProduct, PredictionProduct, AlertProduct)):
        return item.product
    raise TypeError(f"not a contract report or product: {type(item).__name__}")


def product_key(item: AnyReport | AnyProduct) -> str:
    """Identity of a report or product, stable across re-serialisation.

    ``report:<id>``, ``track:<track_id>:<time>``, ``prediction:<track_id>:<time>``,
    ``alert:<alert_id>:<time>:<status>`` with ``time`` in the contract's canonical
    ``YYYY-MM-DDTHH:MM:SS.mmmZ`` form. Two updates of one alert at the same instant differ by
    status (``updated`` then ``cancelled``), so status is part of an alert's key.
    """
    if isinstance(item, (RadarReport, LaunchReport, PositionReport)):
        return f"report:{item.id}"
    if isinstance(item, (TrackProduct, PredictionProduct)):
        return f"{item.product}:{item.track_id}:{_canonical_time(item.time)}"
    if isinstance(item, AlertProduct):
        return f"alert:{item.alert_id}:{_canonical_time(item.time)}:{item.status}"
    raise TypeError(f"not a contract report or product: {type(item).__name__}")


def product_from_json(kind: str, data: str | bytes | dict[str, Any]) -> AnyProduct:
    """Rebuild a stored product of ``kind`` from its JSON text or decoded object."""
    model = PRODUCT_TYPES.get(kind)
    if model is None:
        raise StoreError(f"unknown product kind {kind!r} in store")
    if isinstance(data, dict):
        return model.model_validate(data)
    return model.model_validate_json(data)


@dataclass(frozen=True, slots=True)
class StoredProduct:
    """One product row as a query returns it."""

    node_id: str
    key: str
    kind: str
    t: float
    received_at_s: float
    rule: str | None
    product: AnyProduct


@dataclass(frozen=True, slots=True)
class StoredReport:
    """One report row as a query returns it."""

    node_id: str
    t: float
    received_at_s: float
    report: AnyReport


ProductEntry: TypeAlias = tuple[AnyProduct, float, str | None]
"""``(product, received_at_s, rule)``: one item of a :meth:`Store.put_products` batch."""


@runtime_checkable
class Store(Protocol):
    """A durable, de-duplicating store of reports and products (see module docstring).

    Every ``put_*`` call returns only after its rows are committed durably; it returns ``True``
    for rows it added and ``False`` for duplicates, which change nothing.
    """

    def put_report(
        self,
        report: AnyReport,
        *,
        node_id: str = DEFAULT_NODE,
        received_at_s: float | None = None,
    ) -> bool: ...

    def put_reports(
        self,
        reports: Iterable[AnyReport],
        *,
        node_id: str = DEFAULT_NODE,
        received_at_s: float | None = None,
    ) -> list[bool]: ...

    def put_product(
        self, node_id: str, product: AnyProduct, received_at_s: float, rule: str | None
    ) -> bool: ...

    def put_products(self, node_id: str, entries: Iterable[ProductEntry]) -> list[bool]: ...

    def reports(
        self,
        *,
        node_id: str | None = DEFAULT_NODE,
        since_s: float | None = None,
        until_s: float | None = None,
        kind: str | None = None,
        received_until_s: float | None = None,
        limit: int | None = None,
    ) -> list[StoredReport]: ...

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
    ) -> list[StoredProduct]: ...

    def replay(
        self,
        since_s: float | None = None,
        until_s: float | None = None,
        *,
        node_id: str = DEFAULT_NODE,
        kind: str | None = None,
    ) -> Iterator[AnyReport]: ...

    def replay_products(
        self,
        since_s: float | None = None,
        until_s: float | None = None,
        *,
        node_id: str = DEFAULT_NODE,
        kind: str | None = None,
    ) -> Iterator[StoredProduct]: ...

    def count(
        self, table: Literal["reports", "products"], *, node_id: str | None = None
    ) -> int: ...

    def close(self) -> None: ...


def check_kind(kind: str | None, allowed: Sequence[str], what: str) -> None:
    """Reject a query kind that no row can have, naming the allowed ones."""
    if kind is not None and kind not in allowed:
        raise StoreError(f"{what} kind must be one of {', '.join(allowed)}; got {kind!r}")


REPLAY_PAGE = 1000
"""Rows fetched per page by ``replay``: pages keep no read transaction open between them."""


def sql_filters(
    node_id: str | None,
    since_s: float | None,
    until_s: float | None,
    *,
    kind: str | None = None,
    track_id: str | None = None,
    received_until_s: float | None = None,
    mark: str = "?",
) -> tuple[str, tuple[Any, ...]]:
    """``(" WHERE ...", params)`` for the filters that are not None (``mark``: placeholder)."""
    clauses: list[str] = []
    params: list[Any] = []
    for column, op, value in (
        ("node_id", "=", node_id),
        ("t", ">=", since_s),
        ("t", "<", until_s),
        ("kind", "=", kind),
        ("track_id", "=", track_id),
        ("received_at_s", "<", received_until_s),
    ):
        if value is not None:
            clauses.append(f"{column} {op} {mark}")
            params.append(value if column in ("node_id", "kind", "track_id") else float(value))
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)


def sql_limit(limit: int | None) -> str:
    """`` LIMIT n`` or nothing; a negative limit is an error, not "no limit"."""
    if limit is None:
        return ""
    if limit < 0:
        raise StoreError(f"limit must be >= 0; got {limit}")
    return f" LIMIT {int(limit)}"
