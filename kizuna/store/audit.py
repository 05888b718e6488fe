"""Hash-chained audit log: one JSON-lines file per node of every product received and released.

Each line is one entry, written in *canonical* form (keys sorted, no spaces, UTF-8, one ``\\n``):

    {"action":"released","hash":"…","key":"track:T1:2026-11-25T03:12:45.250Z","kind":"track",
     "node":"JJOC","peer":"INDOPACOM","prev":"…","rule":"JPN-track-all","seq":7,
     "time":"2026-11-25T03:12:45.301Z"}

``seq`` counts from 1; ``prev`` is the ``hash`` of the entry before (64 zeros for the first);
``hash`` is SHA-256 over the canonical bytes of the entry *without* its ``hash`` field, so it
commits to ``prev`` and through it to every earlier entry. ``action`` is ``received``, ``released``
or ``refused`` (or ``abandoned``: the node gave up publishing its own product because the transport
refuses it for good, peer the node itself); ``kind`` and ``key`` name the product (see
:func:`kizuna.store.base.product_key`); ``rule`` is the agreement rule that decided; ``peer`` is the
node it came from or went to. Two entries are about the node's clock, not a product (kind
``heartbeat``, key ``heartbeat:<partner>:<data time>``, peer the partner): ``proceeded``, the node
stopped waiting for a silent partner (:mod:`kizuna.sharing.watermark`), and ``rejoined``, that
partner's heartbeat came back.

:func:`verify` walks the chain and names the first entry that fails and why: bytes that are not
the canonical form of their content, a hash that does not match, a ``seq`` out of order (an entry
dropped, inserted or reordered), a ``prev`` that does not match the entry before (an earlier entry
altered and re-hashed), a torn last line. Since every byte of a line is either content or fixed by
the canonical form, any single changed byte is detected.

What a bare chain cannot show: the *removal of whole entries from the end* leaves a valid,
shorter chain. Record :attr:`AuditLog.head` elsewhere (a partner, the archive, a printout) and
pass it as ``expect_head`` to detect that. The chain has no key: someone who can rewrite the whole
file can forge a new consistent chain; the recorded head is what exposes that too.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from kizuna.errors import KizunaError
from kizuna.store.base import AnyProduct, AnyReport, product_key, product_kind
from kizuna.timefmt import format_time

Action = Literal["received", "released", "refused", "proceeded", "rejoined", "abandoned"]
ACTIONS: tuple[str, ...] = (
    "received",
    "released",
    "refused",
    "proceeded",
    "rejoined",
    "abandoned",
)
GENESIS = "0" * 64
"""``prev`` of the first entry of every log."""

_FIELDS = frozenset(
    {"seq", "time", "node", "action", "kind", "key", "rule", "peer", "prev", "hash"}
)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class AuditError(KizunaError):
    """An audit log cannot be opened for appending (broken chain, other node's log, bad path)."""


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
"""The encoder of :func:`canonical_bytes`, built once (``json.dumps`` with options builds one per
call, a third of an entry's encoding time)."""


def canonical_bytes(fields: dict[str, Any]) -> bytes:
    """The one byte form of an entry's fields: sorted keys, no whitespace, UTF-8.

    Raises ``ValueError`` for text that has no UTF-8 form (lone surrogates).
    """
    text = _CANONICAL.encode(fields)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"entry text has no UTF-8 form: {exc.reason}") from None


def entry_hash(fields: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical bytes of ``fields`` minus any ``hash`` field."""
    body = {name: value for name, value in fields.items() if name != "hash"}
    return hashlib.sha256(canonical_bytes(body)).hexdigest()


_encode_str = json.encoder.encode_basestring  # type: ignore[attr-defined]
"""The string escaping of :data:`_CANONICAL` (``ensure_ascii=False``; the C one when present)."""


def _quote(memo: dict[str | None, str], text: str | None) -> str:
    """``text`` as a JSON value (``null`` for None), memoised: actions, kinds, rules and peers
    repeat from entry to entry."""
    found = memo.get(text)
    if found is None:
        found = "null" if text is None else _encode_str(text)
        if len(memo) < 4096:
            memo[text] = found
    return found


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    time: str
    node: str
    action: str
    kind: str
    key: str
    rule: str | None
    peer: str | None
    prev: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One decision to record: what :meth:`AuditLog.append_many` takes."""

    action: Action
    kind: str
    key: str
    rule: str | None = None
    peer: str | None = None
    time_s: float | None = None

    @classmethod
    def of(
        cls,
        action: Action,
        item: AnyReport | AnyProduct,
        rule: str | None,
        *,
        peer: str | None = None,
        time_s: float | None = None,
    ) -> AuditEvent:
        """The event for a contract report or product (kind and key derived from it)."""
        return cls(action, product_kind(item), product_key(item), rule, peer, time_s)

    def row(self) -> AuditRow:
        return (self.action, self.kind, self.key, self.rule, self.peer, self.time_s)


AuditRow = tuple[str, str, str, "str | None", "str | None", "float | None"]
"""``(action, kind, key, rule, peer, time_s)``: an :class:`AuditEvent` as a plain tuple."""

_ACTION_SET = frozenset(ACTIONS)


def check_row(action: Any, kind: Any, key: Any, rule: Any, peer: Any) -> None:
    """Reject a row the log could not verify later (raised before anything is written); text
    with no UTF-8 form is refused by the encoding itself."""
    if action not in _ACTION_SET:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}; got {action!r}")
    if not isinstance(kind, str) or not isinstance(key, str):
        raise TypeError(f"{'kind' if not isinstance(kind, str) else 'key'} must be a string")
    if not isinstance(rule, str | None) or not isinstance(peer, str | None):
        name = "rule" if not isinstance(rule, str | None) else "peer"
        raise TypeError(f"{name} must be a string or None")


@dataclass(frozen=True, slots=True)
class AuditFailure:
    """Where a log first fails: the 1-based ``line``, the ``seq`` expected there, and why."""

    path: str
    line: int
    seq: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: entry seq {self.seq} (line {self.line}): {self.reason}"


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """Outcome of :func:`verify`: entries that verified before any failure, and the head."""

    path: str
    entries: int
    head_seq: int
    head_hash: str
    failure: AuditFailure | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None

    def __str__(self) -> str:
        if self.failure is not None:
            return f"FAIL {self.failure}"
        head = f"head seq {self.head_seq} {self.head_hash}"
        return f"OK   {self.path}: {self.entries} entries, {head}"


def _check_fields(obj: Any) -> str | None:
    """Why a decoded line is not a well-formed entry, or None."""
    if not isinstance(obj, dict):
        return "line is not a JSON object"
    missing = sorted(_FIELDS - obj.keys())
    extra = sorted(obj.keys() - _FIELDS)
    if missing:
        return f"missing field(s) {', '.join(missing)}"
    if extra:
        return f"unexpected field(s) {', '.join(extra)}"
    if type(obj["seq"]) is not int:
        return "seq is not an integer"
    for name in ("time", "node", "kind", "key"):
        if not isinstance(obj[name], str):
            return f"{name} is not a string"
    for name in ("rule", "peer"):
        if obj[name] is not None and not isinstance(obj[name], str):
            return f"{name} is neither a string nor null"
    if obj["action"] not in ACTIONS:
        return f"action {obj['action']!r} is not one of {', '.join(ACTIONS)}"
    for name in ("prev", "hash"):
        if not isinstance(obj[name], str) or not _HEX64.match(obj[name]):
            return f"{name} is not 64 lower-case hex digits"
    return None


def _lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        yield from handle


def verify(
    path: str | Path,
    *,
    node: str | None = None,
    expect_head: tuple[int, str] | None = None,
) -> VerifyResult:
    """Walk the chain in ``path``; report the first entry that fails and why.

    ``node``: every entry must name this node (default: the node of the first entry).
    ``expect_head``: ``(seq, hash)`` recorded earlier; the log must reach that entry with that
    hash, which detects whole entries cut from the end.
    Raises :class:`AuditError` only when the file cannot be read.
    """
    path = Path(path)
    name = str(path)
    prev, seq, count = GENESIS, 0, 0
    line_no = 0
    hash_at_head = GENESIS

    def failed(reason: str) -> VerifyResult:
        failure = AuditFailure(name, line_no, seq + 1, reason)
        return VerifyResult(name, count, seq, prev, failure)

    try:
        for raw in _lines(path):
            line_no += 1
            if not raw.endswith(b"\n"):
                return failed("last line is not terminated by a newline (truncated or torn)")
            body = raw[:-1]
            try:
                obj = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                return failed(f"not a valid JSON line ({exc.__class__.__name__}: {exc})")
            problem = _check_fields(obj)
            if problem is not None:
                return failed(problem)
            try:
                canonical = canonical_bytes(obj)
            except ValueError as exc:
                return failed(str(exc))
            if canonical != body:
                return failed("bytes are not the canonical form of the entry (line altered)")
            if entry_hash(obj) != obj["hash"]:
                return failed("hash does not match the entry's content (entry edited)")
            if obj["seq"] != seq + 1:
                return failed(
                    f"found seq {obj['seq']} where seq {seq + 1} was due "
                    "(an entry was dropped, inserted or reordered)"
                )
            if obj["prev"] != prev:
                before = f"entry seq {seq}" if seq else "the start of the log"
                return failed(
                    f"prev does not match the hash of {before} "
                    "(an earlier entry was altered and re-hashed, or one was inserted)"
                )
            if node is None:
                node = obj["node"]
            elif obj["node"] != node:
                return failed(f"entry names node {obj['node']!r}, the log belongs to {node!r}")
            prev, seq, count = obj["hash"], obj["seq"], count + 1
            if expect_head is not None and seq == expect_head[0]:
                hash_at_head = prev
    except OSError as exc:
        raise AuditError(f"cannot read audit log {name}: {exc.strerror or exc}") from exc
    if expect_head is not None:
        want_seq, want_hash = expect_head
        if seq < want_seq:
            line_no += 1
            return failed(
                f"log ends at seq {seq} but the recorded head is seq {want_seq} "
                "(entries removed from the end)"
            )
        if want_seq > 0 and hash_at_head != want_hash:
            failure = AuditFailure(
                name, want_seq, want_seq, "hash differs from the recorded head (log rewritten)"
            )
            return VerifyResult(name, count, seq, prev, failure)
    return VerifyResult(name, count, seq, prev)


class AuditLog:
    """Append-only, hash-chained audit log of one node in one file.

    On open, an existing file is verified in full; appending to a broken chain, or to another
    node's log, raises :class:`AuditError`. With ``recover_torn_tail=True`` a last line cut short
    by a crash (no newline) is moved to ``<path>.torn`` and the chain continues from the last
    whole entry; nothing else is ever repaired. With ``sync=True`` (default) every append is
    fsynced before it returns, so an entry is durable before the release it records is sent.
    Thread-safe: appends are serialised by a lock.
    """

    def __init__(
        self,
        path: str | Path,
        node: str,
        *,
        sync: bool = True,
        recover_torn_tail: bool = False,
    ) -> None:
        if not node:
            raise AuditError("audit log needs a node id")
        self.path = Path(path)
        self.node = node
        self.sync = sync
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            created = not self.path.exists()
            if created:
                self.path.touch()
                if sync:
                    self._sync_dir()
        except OSError as exc:
            raise AuditError(f"cannot create audit log {self.path}: {exc}") from exc
        result = verify(self.path, node=node)
        if result.failure is not None and recover_torn_tail and _is_torn_tail(result):
            self._move_torn_tail(result)
            result = verify(self.path, node=node)
        if result.failure is not None:
            raise AuditError(f"refusing to append to a broken audit log: {result.failure}")
        self._seq = result.head_seq
        self._prev = result.head_hash
        self._handle = self.path.open("ab")
        self._quoted: dict[str | None, str] = {}

    @property
    def head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the last entry (``(0, GENESIS)`` when empty): record it elsewhere."""
        with self._lock:
            return self._seq, self._prev

    def append(
        self,
        action: Action,
        kind: str,
        key: str,
        rule: str | None,
        *,
        peer: str | None = None,
        time_s: float | None = None,
    ) -> AuditEntry:
        """Append one entry and return it (durable on return when ``sync``).

        ``time_s``: POSIX seconds of the decision (default: now, wall clock).
        """
        return self.append_many([AuditEvent(action, kind, key, rule, peer, time_s)])[0]

    def record(
        self,
        action: Action,
        item: AnyReport | AnyProduct,
        rule: str | None,
        *,
        peer: str | None = None,
        time_s: float | None = None,
    ) -> AuditEntry:
        """Append an entry for a contract report or product (kind and key derived from it)."""
        return self.append_many([AuditEvent.of(action, item, rule, peer=peer, time_s=time_s)])[0]

    def append_many(self, events: Iterable[AuditEvent]) -> list[AuditEntry]:
        """Append several entries with one write and (when ``sync``) one fsync.

        The batch path for high rates: an fsync costs milliseconds, so a node that decides on
        many products per tick records them together before sending any of them.
        """
        entries: list[AuditEntry] = []
        self._append([event.row() for event in events], entries)
        return entries

    def extend(self, events: Iterable[AuditEvent]) -> tuple[int, str]:
        """:meth:`append_many` without building the entries (a node's writer thread, which
        only needs them on disk); returns the new :attr:`head`."""
        return self._append([event.row() for event in events], None)

    def extend_rows(
        self, rows: Iterable[tuple[str, str, str, str | None, str | None]]
    ) -> tuple[int, str]:
        """:meth:`extend` for entries given as ``(action, kind, key, rule, peer)`` tuples, all
        at the time of the call: what a node's writer thread hands over (no object per
        entry)."""
        return self._append([(*row, None) for row in rows], None)

    def _append(self, rows: list[AuditRow], entries: list[AuditEntry] | None) -> tuple[int, str]:
        for action, kind, key, rule, peer, _ in rows:
            check_row(action, kind, key, rule, peer)
        now = format_time(time.time())
        quoted = self._quoted
        with self._lock:
            if self._handle.closed:
                raise AuditError(f"audit log {self.path} is closed")
            seq, prev = self._seq, self._prev
            lines: list[bytes] = []
            node = _quote(quoted, self.node)
            now_quoted = _encode_str(now)
            for action, kind, key, rule, peer, time_s in rows:
                stamp = now if time_s is None else format_time(time_s)
                stamp_quoted = now_quoted if time_s is None else _encode_str(stamp)
                # The canonical form (canonical_bytes: sorted keys, no spaces, the JSON
                # encoder's own string escaping) written out field by field: the fields are
                # fixed, and all but the key repeat, so their quoted forms are kept. One
                # encoding per entry, hashed and then written with the hash spliced in (the
                # hot path of a node at thousands of releases per second).
                head = f'{{"action":{_quote(quoted, action)}'
                rest = (
                    f',"key":{_encode_str(key)},"kind":{_quote(quoted, kind)},"node":{node}'
                    f',"peer":{_quote(quoted, peer)},"prev":"{prev}"'
                    f',"rule":{_quote(quoted, rule)},"seq":{seq + 1}'
                    f',"time":{stamp_quoted}}}'
                )
                try:
                    head_bytes, rest_bytes = head.encode(), rest.encode()
                except UnicodeEncodeError as exc:
                    raise ValueError(f"entry text has no UTF-8 form: {exc.reason}") from None
                digest = hashlib.sha256(head_bytes + rest_bytes).hexdigest()
                lines.append(
                    b"".join((head_bytes, b',"hash":"', digest.encode(), b'"', rest_bytes, b"\n"))
                )
                if entries is not None:
                    entries.append(
                        AuditEntry(
                            seq + 1, stamp, self.node, action, kind, key, rule, peer, prev, digest
                        )
                    )
                seq, prev = seq + 1, digest
            # Everything that can fail on content has run; only now touch the file.
            self._handle.write(b"".join(lines))
            self._handle.flush()
            if self.sync:
                os.fsync(self._handle.fileno())
            self._seq, self._prev = seq, prev
        return seq, prev

    def flush_to_disk(self) -> None:
        """fsync what has been appended (for logs opened with ``sync=False``)."""
        with self._lock:
            if not self._handle.closed:
                self._handle.flush()
                os.fsync(self._handle.fileno())

    def close(self) -> None:
        with self._lock:
            self._handle.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _sync_dir(self) -> None:
        # A new file's directory entry must be durable too, or the whole log can vanish.
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _move_torn_tail(self, result: VerifyResult) -> None:
        data = self.path.read_bytes()
        cut = data.rfind(b"\n") + 1
        with Path(f"{self.path}.torn").open("ab") as torn:
            torn.write(data[cut:] + b"\n")
            torn.flush()
            os.fsync(torn.fileno())
        with self.path.open("r+b") as handle:
            handle.truncate(cut)
            handle.flush()
            os.fsync(handle.fileno())


def _is_torn_tail(result: VerifyResult) -> bool:
    failure = result.failure
    return failure is not None and failure.reason.startswith("last line is not terminated")


def verify_paths(path: str | Path) -> list[VerifyResult]:
    """Verify one log file, or every ``*.jsonl`` file directly in a directory (sorted)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.glob("*.jsonl") if p.is_file())
        if not files:
            raise AuditError(f"no *.jsonl audit logs in {path}")
        return [verify(p) for p in files]
    if not path.exists():
        raise AuditError(f"no such audit log: {path}")
    return [verify(path)]
