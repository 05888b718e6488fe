"""Durable stores of reports and products, and the per-node hash-chained audit log.

* :class:`Store` (:mod:`kizuna.store.base`): the protocol; durable before a ``put`` returns,
  idempotent by report id and :func:`product_key`.
* :class:`SQLiteStore` (:mod:`kizuna.store.sqlite`): laptop mode, one WAL file.
* :class:`PostgresStore` (:mod:`kizuna.store.postgres`): a federation node's archive; imported
  lazily so that laptop mode never loads psycopg.
* :class:`AsyncStore` (:mod:`kizuna.store.aio`): any store from asyncio, one worker thread.
* :class:`AuditLog`, :func:`verify` (:mod:`kizuna.store.audit`): the audit chain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kizuna.store.aio import AsyncStore
from kizuna.store.audit import (
    AuditEntry,
    AuditError,
    AuditEvent,
    AuditFailure,
    AuditLog,
    VerifyResult,
    verify,
    verify_paths,
)
from kizuna.store.base import (
    DEFAULT_NODE,
    AnyProduct,
    AnyReport,
    ProductEntry,
    Store,
    StoredProduct,
    StoredReport,
    StoreError,
    product_key,
    product_kind,
)
from kizuna.store.sqlite import SQLiteStore

if TYPE_CHECKING:
    from kizuna.store.postgres import PostgresStore


def __getattr__(name: str) -> Any:
    if name == "PostgresStore":
        from kizuna.store.postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module 'kizuna.store' has no attribute {name!r}")


__all__ = [
    "DEFAULT_NODE",
    "AnyProduct",
    "AnyReport",
    "AsyncStore",
    "AuditEntry",
    "AuditError",
    "AuditEvent",
    "AuditFailure",
    "AuditLog",
    "PostgresStore",
    "ProductEntry",
    "SQLiteStore",
    "Store",
    "StoreError",
    "StoredProduct",
    "StoredReport",
    "VerifyResult",
    "product_key",
    "product_kind",
    "verify",
    "verify_paths",
]
