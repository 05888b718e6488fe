"""The envelope every product travels in between nodes, and its wire form.

An :class:`Envelope` carries one contract object (a report or a track/prediction/alert, as the
JSON object of DESIGN.md section 4) plus what the release policy needs without parsing it: the
product kind, the originating nation, the publishing node, the release instant and the marking.
Its ``id`` is stable for one version of one product, so a re-publication is recognised as a
duplicate (in memory by the in-process bus, by ``Nats-Msg-Id`` in JetStream).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kizuna.contract import AnyReport, Marking, Report, parse_report
from kizuna.errors import InputError
from kizuna.sharing.agreement import Agreement, ProductKind
from kizuna.timefmt import parse_time

_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
"""The wire's JSON encoder (built once: ``json.dumps`` with options builds one per call)."""


def product_kind_of(product: dict[str, Any]) -> ProductKind:
    """``report`` for the three report kinds, else the product's ``product`` field."""
    declared = product.get("product")
    if declared in ("track", "prediction", "alert"):
        return declared  # type: ignore[return-value]
    if product.get("kind") in ("radar", "launch", "position") and "sensor" in product:
        return "report"
    raise InputError("cannot tell the product kind (no `product` field, not a report)")


def product_key(kind: str, product: dict[str, Any], origin_node: str) -> str:
    """Stable id of one version of one product.

    Reports keep their own id (the contract makes a repeated id a duplicate wherever it comes
    from). Derived products are named by their producing node, because two nodes' trackers may
    both call a track ``T1``; an alert update is a new version (time and status).
    """
    try:
        if kind == "report":
            return f"report:{product['id']}"
        if kind in ("track", "prediction"):
            return f"{kind}:{origin_node}:{product['track_id']}:{product['time']}"
        if kind == "alert":
            return (
                f"alert:{origin_node}:{product['alert_id']}:{product['time']}:{product['status']}"
            )
    except KeyError as exc:
        raise InputError(f"{kind} without field {exc.args[0]!r}") from None
    raise InputError(f"unknown product kind {kind!r}")


_CHECKED: dict[tuple[Any, ...], Marking] = {}
"""Validated markings by (classification, nations, released_by): a run has a few dozen."""


def checked_marking(marking: Marking) -> Marking:
    """The validated, canonical form of a marking model (nations sorted, each once); raises
    :class:`InputError` for one the contract refuses (no nation, a code not of three capital
    letters, an unknown classification). Cached, so the check costs one dict look-up."""
    fields = marking.__dict__
    key = (
        fields.get("classification"),
        tuple(fields.get("releasable_to") or ()),
        fields.get("released_by"),
    )
    found = _CHECKED.get(key)
    if found is None:
        try:
            found = Marking(classification=key[0], releasable_to=list(key[1]), released_by=key[2])
        except (ValidationError, TypeError) as exc:
            raise InputError(f"invalid marking {key}: {exc}", field="marking") from None
        if len(_CHECKED) < 4096:
            _CHECKED[key] = found
    return found


@dataclass(frozen=True)
class Envelope:
    """One product on its way between nodes.

    ``originator`` is the nation whose release rules govern the product (the sensor's nation
    for a report, the producing node's nation otherwise); ``time`` is the release instant in
    POSIX seconds (UTC), at which the policy evaluates the agreement; ``product`` is the
    contract JSON object, whose ``marking`` equals ``marking``.
    """

    id: str
    kind: ProductKind
    originator: str
    origin_node: str
    time: float
    marking: Marking
    product: dict[str, Any]

    @classmethod
    def of(
        cls,
        product: BaseModel | dict[str, Any],
        *,
        origin_node: str,
        agreement: Agreement,
        at_time: float | None = None,
    ) -> Envelope:
        """Wrap a contract object published by ``origin_node``.

        ``at_time`` defaults to the product's own ``time`` (for a live node the two agree; a
        replay passes the replay clock).
        """
        model_marking = getattr(product, "marking", None)
        body = product.model_dump(mode="json") if isinstance(product, BaseModel) else product
        kind = product_kind_of(body)
        node = agreement.node(origin_node)
        if kind == "report":
            try:
                originator = body["sensor"]["nation"]
            except (KeyError, TypeError):
                raise InputError("report without sensor.nation") from None
        else:
            originator = node.nation
        if isinstance(model_marking, Marking):
            # A model's marking may have been built without validation (model_construct, as
            # the tracker and combine_markings do for speed): checked against its validated,
            # canonical form (cached), as a receiver decoding it from the wire would.
            marking = checked_marking(model_marking)
            if marking.releasable_to != model_marking.releasable_to and isinstance(
                product, BaseModel
            ):
                product = product.model_copy(update={"marking": marking})
                body = {**body, "marking": marking.model_dump(mode="json")}
        else:
            try:
                marking = Marking.model_validate(body["marking"])
            except (KeyError, ValidationError):
                raise InputError(f"{kind} without a valid marking") from None
            # The canonical marking (sorted nations, explicit released_by) travels in the
            # product.
            body = {**body, "marking": marking.model_dump(mode="json")}
        if at_time is None and not isinstance(body.get("time"), str):
            raise InputError(f"{kind} without a time")
        if at_time is not None:
            when = float(at_time)
        elif isinstance(product, AnyReport):
            when = product.t  # parsed once per report, kept with it
        else:
            when = parse_time(body["time"])
        envelope = cls(
            id=product_key(kind, body, origin_node),
            kind=kind,
            originator=originator,
            origin_node=origin_node,
            time=when,
            marking=marking,
            product=body,
        )
        if isinstance(product, BaseModel) and isinstance(model_marking, Marking):
            envelope.__dict__["_model"] = product  # body is exactly its dump
        return envelope

    @classmethod
    def _of_report(cls, wire: _Wire, report: AnyReport, source: str) -> Envelope:
        """A decoded report envelope, once it agrees with its report as Envelope.of writes
        them: same marking, the sensor's nation as originator, the report's own id."""
        if report.marking != wire.marking:
            raise InputError("product marking differs from envelope marking", source=source)
        if report.sensor.nation != wire.originator:
            raise InputError(
                f"{wire.originator} is not the sensor's nation {report.sensor.nation}",
                field="originator",
                source=source,
            )
        if wire.id != f"report:{report.id}":
            raise InputError(f"not report:{report.id}", field="id", source=source)
        envelope = cls(
            wire.id,
            "report",
            wire.originator,
            wire.origin_node,
            wire.time,
            wire.marking,
            # The canonical form, as Envelope.of gives it for a report model (unknown fields
            # of a newer node are dropped, as the store drops them).
            report.model_dump(mode="json"),
        )
        envelope.__dict__["_model"] = report
        return envelope

    def with_marking(self, marking: Marking) -> Envelope:
        """The same envelope with a new marking, written into the product too."""
        body = dict(self.product)
        body["marking"] = marking.model_dump(mode="json")
        return Envelope(
            self.id, self.kind, self.originator, self.origin_node, self.time, marking, body
        )

    @property
    def model(self) -> BaseModel | None:
        """The (frozen, validated) contract model of the product: the one :meth:`of` was given,
        or the report :meth:`from_bytes` validated with its envelope; None for a derived
        product decoded from bytes and for a re-marked envelope. A receiver uses it instead of
        validating the product again."""
        return self.__dict__.get("_model")

    @property
    def product_json(self) -> str:
        """The product as compact JSON text (non-ASCII kept), encoded once per envelope: the
        wire form and the record line both reuse it. (The product dict is never changed once
        it is in an envelope; :meth:`with_marking` makes a new one.)"""
        cached = self.__dict__.get("_product_json")
        if cached is None:
            # Not a field (equality and repr ignore it); set past the frozen __setattr__.
            cached = _COMPACT.encode(self.product)
            self.__dict__["_product_json"] = cached
        return cached

    def to_bytes(self) -> bytes:
        head = _COMPACT.encode(
            {
                "id": self.id,
                "kind": self.kind,
                "originator": self.originator,
                "origin_node": self.origin_node,
                "time": self.time,
                "marking": self.marking.model_dump(mode="json"),
            }
        )
        # The same bytes as dumping the whole object with "product" last.
        return f'{head[:-1]},"product":{self.product_json}}}'.encode()

    @classmethod
    def from_bytes(cls, data: bytes, *, source: str = "bus") -> Envelope:
        """Decode and validate a wire envelope; :class:`InputError` names the field.

        A report envelope is validated in one pass from the bytes, its report included (the
        envelope then carries the report's model, :attr:`model`, so the receiver does not
        validate it again); anything else, and an envelope that fails that pass, goes through
        the general decoder, which names the first offending field. Either way a report
        envelope is returned only if its report is valid, carries the envelope's marking, is
        the sensor nation's (``originator``) and keeps its own id (``report:<id>``).
        """
        fast = None
        # Only what looks like a report tries the report pass (to_bytes writes the compact
        # form): a track or alert would fail it, at ~40 % of its decode, on every delivery.
        if b'"kind":"report"' in data:
            # On failure the general decoder below says what is wrong, if anything is.
            with contextlib.suppress(ValidationError):
                fast = _ReportWire.model_validate_json(data)
        if fast is not None:
            return cls._of_report(fast, fast.product, source)
        try:
            wire = _Wire.model_validate_json(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "(envelope)"
            raise InputError(first["msg"], field=field, source=source) from None
        if wire.kind == "report":
            # Not valid as a whole but valid as an envelope: the report itself is wrong.
            try:
                report = parse_report(wire.product)
            except InputError as exc:
                inner = exc.field if exc.field not in (None, "(report)") else None
                field = f"product.{inner}" if inner else "product"
                raise InputError(exc.reason, field=field, source=source) from None
            return cls._of_report(wire, report, source)
        inner_raw = wire.product.get("marking")
        # Usually the product carries the canonical dump of the envelope's marking (what
        # Envelope.of writes): equal dicts need no second validation.
        if inner_raw != wire.marking.model_dump(mode="json"):
            try:
                inner = Marking.model_validate(inner_raw)
            except ValidationError:
                raise InputError("product without a valid marking", source=source) from None
        else:
            inner = wire.marking
        if inner != wire.marking:
            raise InputError("product marking differs from envelope marking", source=source)
        return cls(
            wire.id,
            wire.kind,
            wire.originator,
            wire.origin_node,
            wire.time,
            wire.marking,
            wire.product,
        )


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    id: str = Field(min_length=1, max_length=512)
    kind: ProductKind
    originator: str = Field(pattern=r"^[A-Z]{3}$")
    origin_node: str = Field(min_length=1, max_length=64)
    time: float
    marking: Marking
    product: dict[str, Any]


class _ReportWire(_Wire):
    """A report envelope, its report validated in the same pass (:meth:`Envelope.from_bytes`)."""

    kind: Literal["report"]  # type: ignore[assignment]
    product: Report  # type: ignore[assignment]


__all__ = ["Envelope", "checked_marking", "product_key", "product_kind_of"]
