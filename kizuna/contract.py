"""The interchange contract (DESIGN.md section 4) as pydantic models.

This is the project's edge: every report is validated here exactly once, with the field and the
reason on failure, and the core downstream trusts the types it gets. Products (tracks,
predictions, alerts) are modelled here too so that outputs can be checked against the same
schema that outside tests read (:func:`json_schema`).

The module sits below every layer (it imports nothing from kizuna but errors and timefmt), so the
simulator can emit reports and the tracker can emit tracks without importing higher layers.
Only *optional* fields may ever be added to these models.
"""

from __future__ import annotations

import json
import math
import weakref
from collections.abc import Iterable, Iterator
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from kizuna.errors import InputError
from kizuna.timefmt import format_time, parse_time

Classification = Literal["UNCLASSIFIED", "CONFIDENTIAL", "SECRET"]
CLASSIFICATION_RANK: dict[str, int] = {"UNCLASSIFIED": 0, "CONFIDENTIAL": 1, "SECRET": 2}
NationCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 3166 alpha-3")]

Latitude = Annotated[float, Field(ge=-90.0, le=90.0, description="WGS84 geodetic, degrees")]
Longitude = Annotated[float, Field(ge=-180.0, le=360.0, description="WGS84, degrees east")]
Positive = Annotated[float, Field(gt=0.0)]


class _Model(BaseModel):
    # Unknown fields are ignored, not rejected: the contract grows by optional fields only, so an
    # older node must accept a newer node's reports.
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, frozen=True)


class Marking(_Model):
    """Security marking carried by every report and product."""

    classification: Classification
    releasable_to: list[NationCode] = Field(min_length=1)
    released_by: str | None = Field(
        default=None,
        description="The agreement rule that released a derived product, when a rule did.",
    )

    @field_validator("releasable_to")
    @classmethod
    def _canonical(cls, nations: list[str]) -> list[str]:
        return sorted(set(nations))

    def allows(self, nation: str) -> bool:
        return nation in self.releasable_to


def combine_markings(markings: Iterable[Marking]) -> Marking:
    """Marking of a product derived from several inputs (DESIGN.md section 4, Markings).

    The product is releasable only where *every* input is (set intersection) and is classified
    at the highest input level. An empty intersection is legal: such a product stays with its
    producer. Explicit release rules of an agreement are applied later, by the sharing layer.
    """
    markings = list(markings)
    if not markings:
        raise ValueError("combine_markings needs at least one marking")
    level = max(markings, key=lambda m: CLASSIFICATION_RANK[m.classification]).classification
    nations = set(markings[0].releasable_to)
    for marking in markings[1:]:
        nations &= set(marking.releasable_to)
    return Marking.model_construct(
        classification=level, releasable_to=sorted(nations), released_by=None
    )


class SensorRef(_Model):
    id: str = Field(min_length=1)
    nation: NationCode
    lat: Latitude
    lon: Longitude
    alt_m: float = Field(ge=-500.0, le=50_000_000.0)


class RadarSigma(_Model):
    range_m: Positive
    azimuth_deg: Positive
    elevation_deg: Positive


class _ReportBase(_Model):
    id: str = Field(min_length=1, max_length=256)
    time: str = Field(description="RFC 3339 UTC, e.g. 2026-11-25T03:12:45.250Z")
    sensor: SensorRef
    marking: Marking
    exercise: bool = False

    @field_validator("time")
    @classmethod
    def _rfc3339(cls, value: str) -> str:
        parse_time(value)  # raises InputError (a ValueError) with the reason
        return value

    @property
    def t(self) -> float:
        """Report time as POSIX seconds.

        Parsed once per report (a node reads it several times per report on its hot path):
        kept beside the fields with the text it was parsed from, so a ``model_copy`` with a
        new ``time`` parses again. Not a field: dumps, equality and hashing ignore it.
        """
        cached = self.__dict__.get("_t")
        if cached is None or cached[0] is not self.time:
            cached = (self.time, parse_time(self.time))
            self.__dict__["_t"] = cached
        return cached[1]  # type: ignore[no-any-return]

    def dump_json(self) -> str:
        """``model_dump_json()``, made once per report object: in laptop mode every node a
        report reaches stores the same object. Kept beside the fields with a weak reference to
        this object, so a ``model_copy`` (which copies them) dumps again. Not a field: dumps,
        equality and hashing ignore it.
        """
        cached = self.__dict__.get("_json")
        if cached is None or cached[0]() is not self:
            cached = (weakref.ref(self), self.model_dump_json())
            self.__dict__["_json"] = cached
        return cached[1]  # type: ignore[no-any-return]


class RadarReport(_ReportBase):
    """A radar plot: exactly pymap3d.ecef2aer of the target seen from the sensor."""

    kind: Literal["radar"] = "radar"
    range_m: Positive
    azimuth_deg: float = Field(ge=0.0, lt=360.0)
    elevation_deg: float = Field(ge=-90.0, le=90.0)
    sigma: RadarSigma


class LaunchReport(_ReportBase):
    """Space-based infrared launch detection; ``time`` is the launch time."""

    kind: Literal["launch"] = "launch"
    lat: Latitude
    lon: Longitude
    sigma_m: Positive


class PositionReport(_ReportBase):
    """One point of a partner nation's own track."""

    kind: Literal["position"] = "position"
    lat: Latitude
    lon: Longitude
    alt_m: float
    sigma_m: Positive
    velocity_enu_mps: tuple[float, float, float] | None = None
    velocity_sigma_mps: Positive | None = None
    track_ref: str | None = None


AnyReport = RadarReport | LaunchReport | PositionReport
"""Any report kind, once parsed (use :data:`Report` to parse one by its ``kind``)."""
Report = Annotated[AnyReport, Field(discriminator="kind")]
_REPORT_ADAPTER: TypeAdapter[AnyReport] = TypeAdapter(Report)


def _explain(exc: ValidationError) -> tuple[str, str]:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "(report)"
    return field, first["msg"]


def parse_report(data: str | bytes | dict[str, Any], *, source: str | None = None) -> AnyReport:
    """Validate one report (a JSON line or a decoded object).

    Raises :class:`InputError` naming the first offending field and the reason.
    """
    try:
        if isinstance(data, (str, bytes)):
            return _REPORT_ADAPTER.validate_json(data)
        return _REPORT_ADAPTER.validate_python(data)
    except ValidationError as exc:
        field, reason = _explain(exc)
        raise InputError(reason, field=field, source=source) from None


def read_reports(
    lines: Iterable[str], *, source: str = "reports"
) -> Iterator[tuple[int, AnyReport | InputError]]:
    """Yield ``(line_number, report_or_error)`` for each non-blank JSON line.

    Errors are yielded, not raised, so one malformed line never stops a stream.
    """
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield number, parse_report(line, source=f"{source}:{number}")
        except InputError as exc:
            yield number, exc


# --- products -------------------------------------------------------------------------------

Phase = Literal["boost", "midcourse", "terminal", "unknown"]
Category = Literal["ballistic", "orbital", "unknown"]


class TrackProduct(_Model):
    product: Literal["track"] = "track"
    track_id: str
    time: str
    lat: Latitude
    lon: Longitude
    alt_m: float
    velocity_ecef_mps: tuple[float, float, float]
    position_sigma_m: float = Field(ge=0.0)
    sensors: list[str]
    nations: list[NationCode]
    phase: Phase
    marking: Marking
    exercise: bool
    track_refs: dict[str, str] | None = Field(
        default=None, description="Partner track numbers by nation (optional)."
    )


class Ellipse95(_Model):
    semi_major_m: float = Field(ge=0.0)
    semi_minor_m: float = Field(ge=0.0)
    orientation_deg: float = Field(ge=0.0, lt=180.0, description="clockwise from north")


class ImpactPoint(_Model):
    time: str
    lat: Latitude
    lon: Longitude
    ellipse_95: Ellipse95


class LaunchPoint(_Model):
    time: str
    lat: Latitude
    lon: Longitude
    sigma_m: float = Field(ge=0.0)


class PredictionProduct(_Model):
    product: Literal["prediction"] = "prediction"
    track_id: str
    time: str
    category: Category
    impact: ImpactPoint | None
    launch: LaunchPoint | None
    apogee_km: float | None
    range_km: float | None
    marking: Marking
    exercise: bool


class Region(_Model):
    kind: Literal["prefecture", "province", "eez", "territory", "base"]
    code: str
    name: str


class Messages(_Model):
    en: str
    ja: str
    ko: str


class AlertProduct(_Model):
    product: Literal["alert"] = "alert"
    alert_id: str
    track_id: str
    time: str
    kind: Literal["impact", "overflight"]
    level: Literal["warning", "advisory", "notice"]
    status: Literal["issued", "updated", "cancelled", "impacted", "passed"]
    regions: list[Region]
    impact_time: str | None
    message: Messages
    marking: Marking
    exercise: bool


AnyProduct = TrackProduct | PredictionProduct | AlertProduct
PRODUCT_MODELS: dict[str, type[AnyProduct]] = {
    "track": TrackProduct,
    "prediction": PredictionProduct,
    "alert": AlertProduct,
}
"""The model of each product kind (the ``product`` field of records and envelopes)."""


def json_schema(model: type[BaseModel] | Any) -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a contract model or of the :data:`Report` union."""
    if isinstance(model, type) and issubclass(model, BaseModel):
        return model.model_json_schema()
    return TypeAdapter(model).json_schema()


def dumps(product: BaseModel) -> str:
    """One compact JSON line, keys in declaration order, as written to ``*.jsonl`` files."""
    return json.dumps(product.model_dump(mode="json"), separators=(",", ":"), ensure_ascii=False)


def finite(value: float) -> float:
    """Guard for values written into products: a NaN or inf here is a bug upstream."""
    if not math.isfinite(value):
        raise ValueError(f"non-finite value {value!r} in a product")
    return value


__all__ = [
    "PRODUCT_MODELS",
    "AlertProduct",
    "AnyProduct",
    "AnyReport",
    "LaunchReport",
    "Marking",
    "PositionReport",
    "PredictionProduct",
    "RadarReport",
    "Report",
    "TrackProduct",
    "combine_markings",
    "dumps",
    "format_time",
    "json_schema",
    "parse_report",
    "parse_time",
    "read_reports",
]
