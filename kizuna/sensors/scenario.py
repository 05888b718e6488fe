"""Scenario files: launches, sensors, markings, the exercise flag and the seed, in YAML.

A scenario is validated once, here, with pydantic; every error names the file, the field (a
dotted path such as ``launches.0.apogee_km``) and the reason, as a
:class:`kizuna.errors.ConfigError` (one line, no traceback). The rest of the simulator trusts
the resolved :class:`Scenario` it gets.

Shape of a file (every key documented on the models below)::

    name: irbm-overflight
    description: One line for `kizuna scenarios`.
    start: "2026-11-25T03:00:00Z"      # RFC 3339 UTC; launch times are offsets from it
    exercise: true                     # required: exercise traffic never raises real alerts
    seed: 20170829                     # same seed -> byte-identical output
    launches:
      - id: L1
        site: sunan                    # a named launch area, or lat/lon
        time_s: 60
        azimuth_deg: 84.6              # or target: {lat, lon}
        range_km: 2700
        apogee_km: 550                 # or min_energy: true
        salvo: {count: 3, spacing_s: 20}
        kind: ballistic                # or satellite (then orbit: and no range/apogee)
    sensors:
      laydown: default                 # the sites of the package's laydown.yaml, or none
      exclude: [KOR-GPB-2]
      outages: [{sensor: JPN-FPS5-SADO, start_s: 100, end_s: 200}]
      radars: [...]                    # explicit sensors, added to (or replacing) the laydown
    markings:
      JPN: {classification: SECRET, releasable_to: [JPN, USA]}
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kizuna.contract import Marking
from kizuna.errors import ConfigError, InputError
from kizuna.geo.geodesic import inverse
from kizuna.timefmt import parse_time

NationCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
SensorId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]


class _Spec(BaseModel):
    # Unknown keys are errors in a scenario (a typo must not silently drop a setting).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class MarkingSpec(_Spec):
    classification: Literal["UNCLASSIFIED", "CONFIDENTIAL", "SECRET"]
    releasable_to: list[NationCode] = Field(min_length=1)

    def marking(self) -> Marking:
        return Marking(classification=self.classification, releasable_to=self.releasable_to)


class Window(_Spec):
    """A time window in seconds from the scenario start."""

    start_s: float = Field(ge=0.0)
    end_s: float

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end_s <= self.start_s:
            raise ValueError("end_s must be after start_s")
        return self


class RadarSigmaSpec(_Spec):
    range_m: float = Field(gt=0.0)
    azimuth_deg: float = Field(gt=0.0)
    elevation_deg: float = Field(gt=0.0)


class RadarSpec(_Spec):
    """A radar: site, coverage, noise (1-sigma), revisit, detection, clutter, outages."""

    id: SensorId
    nation: NationCode
    lat: float = Field(ge=-90.0, le=90.0)
    lon: float = Field(ge=-180.0, le=360.0)
    alt_m: float = Field(default=0.0, ge=-500.0, le=10_000.0)
    max_range_km: float = Field(gt=0.0, le=10_000.0)
    min_range_km: float = Field(default=1.0, ge=0.0)
    min_elevation_deg: float = Field(default=0.0, ge=-10.0, lt=90.0)
    max_elevation_deg: float = Field(default=90.0, gt=-10.0, le=90.0)
    boresight_deg: float = Field(default=0.0, ge=0.0, lt=360.0)
    field_of_regard_deg: float = Field(default=360.0, gt=0.0, le=360.0)
    sigma: RadarSigmaSpec
    revisit_s: float = Field(gt=0.0, le=600.0)
    p_detect: float = Field(default=1.0, ge=0.0, le=1.0)
    false_alarms_per_scan: float = Field(default=0.0, ge=0.0, le=1000.0)
    outages: list[Window] = Field(default_factory=list)
    marking: MarkingSpec | None = None
    source: str | None = Field(default=None, description="where the figures come from")

    @model_validator(mode="after")
    def _coverage(self) -> RadarSpec:
        if self.max_elevation_deg <= self.min_elevation_deg:
            raise ValueError("max_elevation_deg must exceed min_elevation_deg")
        if self.min_range_km >= self.max_range_km:
            raise ValueError("min_range_km must be below max_range_km")
        return self


class InfraredSpec(_Spec):
    """Space-based infrared launch detection: one ``launch`` report per launch it sees."""

    id: SensorId
    nation: NationCode
    lat: float = Field(ge=-90.0, le=90.0)
    lon: float = Field(ge=-180.0, le=360.0)
    alt_m: float = Field(default=35_786_000.0, ge=0.0, le=50_000_000.0)
    delay_s: float = Field(ge=0.0, le=600.0)
    sigma_m: float = Field(gt=0.0)
    p_detect: float = Field(default=1.0, ge=0.0, le=1.0)
    outages: list[Window] = Field(default_factory=list)
    marking: MarkingSpec | None = None


class NationalFeedSpec(_Spec):
    """A partner's own track picture: ``position`` reports with its own track numbers.

    ``sources`` lists the radars whose coverage the feed has (default: every radar of the
    feed's nation in the scenario); a track starts ``delay_s`` after an object first enters
    that coverage and then reports every ``interval_s``.
    """

    id: SensorId
    nation: NationCode
    lat: float = Field(ge=-90.0, le=90.0)
    lon: float = Field(ge=-180.0, le=360.0)
    alt_m: float = Field(default=0.0, ge=-500.0, le=10_000.0)
    sources: list[SensorId] | None = None
    interval_s: float = Field(gt=0.0, le=600.0)
    delay_s: float = Field(default=0.0, ge=0.0, le=600.0)
    sigma_m: float = Field(gt=0.0)
    velocity_sigma_mps: float | None = Field(default=None, gt=0.0)
    track_prefix: str = Field(default="T", pattern=r"^[A-Za-z0-9_\-]{1,16}$")
    outages: list[Window] = Field(default_factory=list)
    marking: MarkingSpec | None = None


class OutageSpec(Window):
    sensor: SensorId


class SensorsSpec(_Spec):
    laydown: Literal["default", "none"] = "default"
    exclude: list[SensorId] = Field(default_factory=list)
    radars: list[RadarSpec] = Field(default_factory=list)
    infrared: list[InfraredSpec] = Field(default_factory=list)
    national: list[NationalFeedSpec] = Field(default_factory=list)
    outages: list[OutageSpec] = Field(default_factory=list)
    false_alarms_per_scan: float | None = Field(
        default=None, ge=0.0, le=1000.0, description="overrides every radar's clutter rate"
    )


class VehicleSpec(_Spec):
    """Overrides of :class:`kizuna.physics.boost.Vehicle` (missiles only)."""

    liftoff_accel_mps2: float | None = Field(default=None, gt=9.9, le=200.0)
    mass_ratio: float | None = Field(default=None, gt=1.0, le=50.0)
    vertical_s: float | None = Field(default=None, ge=0.0, le=60.0)
    ballistic_coefficient_kg_m2: float | None = Field(default=None, gt=0.0)
    body_ballistic_coefficient_kg_m2: float | None = Field(default=None, gt=0.0)


class SalvoSpec(_Spec):
    count: int = Field(default=1, ge=1, le=50)
    spacing_s: float = Field(default=0.0, ge=0.0, le=3600.0)


class TargetSpec(_Spec):
    lat: float = Field(ge=-90.0, le=90.0)
    lon: float = Field(ge=-180.0, le=360.0)


class OrbitSpec(_Spec):
    insertion_km: float = Field(default=520.0, ge=200.0, le=2000.0)
    perigee_km: float = Field(default=460.0, ge=150.0, le=2000.0)

    @model_validator(mode="after")
    def _ordered(self) -> OrbitSpec:
        if self.perigee_km > self.insertion_km:
            raise ValueError("perigee_km must not exceed insertion_km")
        return self


class LaunchSpec(_Spec):
    """One launch (or salvo). Either ``site`` or ``lat``/``lon``; for a ballistic launch
    either ``azimuth_deg`` and ``range_km`` or ``target``, and either ``apogee_km`` or
    ``min_energy: true``; a satellite launch needs ``azimuth_deg`` and takes ``orbit``."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]{1,32}$")] | None = None
    kind: Literal["ballistic", "satellite"] = "ballistic"
    site: str | None = None
    lat: float | None = Field(default=None, ge=-90.0, le=90.0)
    lon: float | None = Field(default=None, ge=-180.0, le=360.0)
    alt_m: float = Field(default=0.0, ge=0.0, le=5000.0)
    time_s: float = Field(default=0.0, ge=0.0, le=86_400.0)
    azimuth_deg: float | None = Field(default=None, ge=0.0, lt=360.0)
    range_km: float | None = Field(default=None, gt=0.0, le=20_000.0)
    target: TargetSpec | None = None
    apogee_km: float | None = Field(default=None, gt=0.0, le=10_000.0)
    min_energy: bool = False
    salvo: SalvoSpec = Field(default_factory=SalvoSpec)
    vehicle: VehicleSpec | None = None
    stage_separation: bool = Field(
        default=False, description="drop the spent missile body at burnout as a 'stage'"
    )
    orbit: OrbitSpec | None = None
    follow_s: float = Field(
        default=1500.0, gt=0.0, le=86_400.0,
        description="satellites: how long after launch the satellite is followed",
    )
    source: str | None = Field(default=None, description="the public figures used")

    @model_validator(mode="after")
    def _consistent(self) -> LaunchSpec:
        if (self.site is None) == (self.lat is None or self.lon is None):
            raise ValueError("give either site or both lat and lon")
        if self.site is not None and (self.lat is not None or self.lon is not None):
            raise ValueError("give either site or lat/lon, not both")
        if self.kind == "satellite":
            if self.azimuth_deg is None:
                raise ValueError("a satellite launch needs azimuth_deg")
            for name in ("range_km", "target", "apogee_km", "vehicle"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} does not apply to a satellite launch")
            if self.min_energy:
                raise ValueError("min_energy does not apply to a satellite launch")
            return self
        if self.orbit is not None:
            raise ValueError("orbit applies only to kind: satellite")
        if self.target is None and (self.azimuth_deg is None or self.range_km is None):
            raise ValueError("give either target or both azimuth_deg and range_km")
        if self.target is not None and (self.azimuth_deg is not None or self.range_km):
            raise ValueError("give either target or azimuth_deg/range_km, not both")
        if (self.apogee_km is None) == (not self.min_energy):
            raise ValueError("give exactly one of apogee_km and min_energy: true")
        return self


class ScenarioSpec(_Spec):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$")]
    description: str = Field(min_length=1, max_length=300)
    start: str
    exercise: bool
    seed: int = Field(ge=0, lt=2**63)
    duration_s: float | None = Field(default=None, gt=0.0, le=86_400.0)
    launches: list[LaunchSpec] = Field(min_length=1)
    sensors: SensorsSpec = Field(default_factory=SensorsSpec)
    markings: dict[NationCode, MarkingSpec] = Field(default_factory=dict)
    notes: str | None = None

    @field_validator("start")
    @classmethod
    def _rfc3339(cls, value: str) -> str:
        parse_time(value)  # InputError is a ValueError: pydantic reports its message
        return value

    @field_validator("description")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\n" in value.strip():
            raise ValueError("description must be one line")
        return value.strip()


# --- resolved scenario ------------------------------------------------------------------------


@dataclass(frozen=True)
class Launch:
    """A resolved launch of one object (a salvo expands into several)."""

    launch_id: str
    object_id: str
    kind: Literal["ballistic", "satellite"]
    site_name: str
    lat_deg: float
    lon_deg: float
    alt_m: float
    time_s: float  # POSIX seconds
    azimuth_deg: float
    range_m: float | None
    apogee_m: float | None
    min_energy: bool
    vehicle: dict[str, float]
    stage_separation: bool
    insertion_m: float
    perigee_m: float
    follow_s: float


@dataclass(frozen=True)
class Scenario:
    """A validated scenario with the laydown and markings resolved."""

    name: str
    description: str
    path: str
    start_s: float
    exercise: bool
    seed: int
    duration_s: float | None
    launches: tuple[Launch, ...]
    radars: tuple[RadarSpec, ...]
    infrared: tuple[InfraredSpec, ...]
    national: tuple[NationalFeedSpec, ...]
    markings: dict[str, Marking]

    def marking_for(self, nation: str, override: MarkingSpec | None = None) -> Marking:
        if override is not None:
            return override.marking()
        if nation not in self.markings:
            raise ConfigError(
                f"no marking for nation {nation}; add it under markings:", source=self.path
            )
        return self.markings[nation]


# --- loading ----------------------------------------------------------------------------------

DEFAULT_SCENARIO = "default"
# Short names that point at another shipped file.
ALIASES = {"default": "irbm-overflight"}


@lru_cache(maxsize=1)
def default_laydown() -> dict[str, Any]:
    """The package's laydown.yaml (sites from sensors.csv; see the file's header)."""
    text = resources.files("kizuna.sensors").joinpath("data/laydown.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):  # a packaging error, not a user error
        raise RuntimeError("kizuna/sensors/data/laydown.yaml is malformed")
    return data


def launch_sites() -> dict[str, dict[str, Any]]:
    """Named launch areas usable as ``site:`` in a scenario."""
    return dict(default_laydown()["sites"])


def shipped_scenarios() -> dict[str, Path]:
    """Short name -> path of every scenario shipped in the package, sorted by name."""
    folder = resources.files("kizuna.sensors").joinpath("scenarios")
    found = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".yaml"):
            found[entry.name[: -len(".yaml")]] = Path(str(entry))
    return dict(sorted(found.items()))


def resolve_path(name_or_path: str | Path) -> Path:
    """A path as given, or the shipped scenario of that short name (``default`` included)."""
    text = str(name_or_path)
    shipped = shipped_scenarios()
    short = ALIASES.get(text, text)
    if short in shipped and not Path(text).suffix:
        return shipped[short]
    path = Path(text)
    if not path.exists():
        names = ", ".join([*ALIASES, *shipped])
        raise ConfigError(f"no such scenario file or shipped scenario (shipped: {names})",
                          source=text)
    return path


def _location(loc: Iterable[Any]) -> str:
    return ".".join(str(part) for part in loc) or "(scenario)"


def parse_spec(data: Any, source: str) -> ScenarioSpec:
    """Validate decoded YAML; raise :class:`ConfigError` naming source, field and reason."""
    if not isinstance(data, dict):
        raise ConfigError("a scenario must be a mapping of keys to values", source=source)
    try:
        return ScenarioSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        reason = first["msg"]
        if reason.startswith("Value error, "):
            reason = reason[len("Value error, "):]
        raise ConfigError(reason, field=_location(first["loc"]), source=source) from None


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Read, validate and resolve a scenario file (or a shipped scenario's short name)."""
    path = resolve_path(name_or_path)
    source = str(path)
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the file ({exc.strerror})", source=source) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{problem}{where}", source=source) from None
    return resolve(parse_spec(data, source), source)


def _merge_outages(windows: list[Window], extra: list[OutageSpec], sensor_id: str) -> list[Window]:
    return [*windows, *(Window(start_s=o.start_s, end_s=o.end_s) for o in extra
                        if o.sensor == sensor_id)]


def resolve(spec: ScenarioSpec, source: str = "scenario") -> Scenario:
    """Expand salvos, look up named sites, merge the default laydown, and check references."""
    start_s = parse_time(spec.start)
    laydown = default_laydown()
    sites = launch_sites()

    launches: list[Launch] = []
    used_ids: set[str] = set()
    for index, item in enumerate(spec.launches):
        field = f"launches.{index}"
        launch_id = item.id or f"L{index + 1}"
        if launch_id in used_ids:
            raise ConfigError(f"duplicate launch id {launch_id!r}", field=f"{field}.id",
                              source=source)
        used_ids.add(launch_id)
        if item.site is not None:
            key = item.site.strip().lower()
            if key not in sites:
                raise ConfigError(
                    f"unknown launch site {item.site!r} (known: {', '.join(sorted(sites))})",
                    field=f"{field}.site", source=source,
                )
            lat, lon, site_name = sites[key]["lat"], sites[key]["lon"], sites[key]["name"]
        else:
            lat, lon, site_name = float(item.lat), float(item.lon), f"{item.lat}, {item.lon}"  # type: ignore[arg-type]
        azimuth, range_m = item.azimuth_deg, (item.range_km * 1e3 if item.range_km else None)
        if item.target is not None:
            distance, azimuth_arr = inverse(lat, lon, item.target.lat, item.target.lon)
            azimuth, range_m = float(azimuth_arr), float(distance)
            if range_m < 1e3:
                raise ConfigError("target is less than 1 km from the launch site",
                                  field=f"{field}.target", source=source)
        vehicle = item.vehicle.model_dump(exclude_none=True) if item.vehicle else {}
        orbit = item.orbit or OrbitSpec()
        prefix = "V" if item.kind == "satellite" else "M"
        for k in range(item.salvo.count):
            launches.append(Launch(
                launch_id=launch_id,
                object_id=f"{launch_id}-{prefix}{k + 1}",
                kind=item.kind,
                site_name=site_name,
                lat_deg=float(lat),
                lon_deg=float(lon),
                alt_m=item.alt_m,
                # Whole milliseconds: report times are written to the millisecond, and the
                # truth must be evaluated at exactly the written time.
                time_s=round((start_s + item.time_s + k * item.salvo.spacing_s) * 1000) / 1000,
                azimuth_deg=float(azimuth),  # type: ignore[arg-type]
                range_m=range_m,
                apogee_m=item.apogee_km * 1e3 if item.apogee_km else None,
                min_energy=item.min_energy,
                vehicle=vehicle,
                stage_separation=item.stage_separation,
                insertion_m=orbit.insertion_km * 1e3,
                perigee_m=orbit.perigee_km * 1e3,
                follow_s=item.follow_s,
            ))

    sensors = spec.sensors
    radars = list(sensors.radars)
    infrared = list(sensors.infrared)
    national = list(sensors.national)
    if sensors.laydown == "default":
        explicit = {s.id for s in [*radars, *infrared, *national]}
        radars = [RadarSpec.model_validate(r) for r in laydown["radars"]
                  if r["id"] not in explicit] + radars
        infrared = [InfraredSpec.model_validate(r) for r in laydown["infrared"]
                    if r["id"] not in explicit] + infrared
        national = [NationalFeedSpec.model_validate(r) for r in laydown["national"]
                    if r["id"] not in explicit] + national
    all_ids = [s.id for s in [*radars, *infrared, *national]]
    for i, sid in enumerate(sensors.exclude):
        if sid not in all_ids:
            raise ConfigError(f"no sensor {sid!r} to exclude", field=f"sensors.exclude.{i}",
                              source=source)
    duplicates = {sid for sid in all_ids if all_ids.count(sid) > 1}
    if duplicates:
        raise ConfigError(f"duplicate sensor ids: {', '.join(sorted(duplicates))}",
                          field="sensors", source=source)
    for i, outage in enumerate(sensors.outages):
        if outage.sensor not in all_ids:
            raise ConfigError(f"no sensor {outage.sensor!r}",
                              field=f"sensors.outages.{i}.sensor", source=source)
    excluded = set(sensors.exclude)
    radars = [r.model_copy(update={
        "outages": _merge_outages(r.outages, sensors.outages, r.id),
        **({"false_alarms_per_scan": sensors.false_alarms_per_scan}
           if sensors.false_alarms_per_scan is not None else {}),
    }) for r in radars if r.id not in excluded]
    infrared = [s.model_copy(update={"outages": _merge_outages(s.outages, sensors.outages, s.id)})
                for s in infrared if s.id not in excluded]
    national = [s.model_copy(update={"outages": _merge_outages(s.outages, sensors.outages, s.id)})
                for s in national if s.id not in excluded]
    radar_ids = {r.id for r in radars}
    for i, feed in enumerate(national):
        for sid in feed.sources or []:
            if sid not in radar_ids:
                raise ConfigError(f"feed {feed.id} names unknown radar {sid!r}",
                                  field=f"sensors.national.{i}.sources", source=source)

    markings = {nation: Marking.model_validate(m) for nation, m in laydown["markings"].items()}
    markings.update({nation: m.marking() for nation, m in spec.markings.items()})
    for sensor in [*radars, *infrared, *national]:
        if sensor.marking is None and sensor.nation not in markings:
            raise ConfigError(f"no marking for nation {sensor.nation} (sensor {sensor.id})",
                              field="markings", source=source)

    return Scenario(
        name=spec.name, description=spec.description, path=source, start_s=start_s,
        exercise=spec.exercise, seed=spec.seed, duration_s=spec.duration_s,
        launches=tuple(launches), radars=tuple(radars), infrared=tuple(infrared),
        national=tuple(national), markings=markings,
    )


def describe_shipped() -> list[tuple[str, str]]:
    """(short name, one-line description) of every shipped scenario, aliases first."""
    rows = []
    shipped = shipped_scenarios()
    for alias, target in ALIASES.items():
        rows.append((alias, f"-> {target}"))
    for name, path in shipped.items():
        try:
            data = yaml.safe_load(path.read_text("utf-8"))
            description = str(data.get("description", "")).strip()
        except (OSError, yaml.YAMLError, AttributeError) as exc:
            description = f"(unreadable: {exc})"
        rows.append((name, description))
    return rows


__all__ = [
    "ALIASES",
    "DEFAULT_SCENARIO",
    "InfraredSpec",
    "InputError",
    "Launch",
    "NationalFeedSpec",
    "RadarSpec",
    "Scenario",
    "ScenarioSpec",
    "default_laydown",
    "describe_shipped",
    "launch_sites",
    "load_scenario",
    "parse_spec",
    "resolve",
    "resolve_path",
    "shipped_scenarios",
]
