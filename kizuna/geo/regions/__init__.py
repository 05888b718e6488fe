"""Regions at risk: Japan's prefectures, South Korea's provinces, EEZs, territorial seas, bases.

The shapes ship inside the package (``data/regions.geojson``, built offline by
:mod:`kizuna.geo.regions.build` from the datasets listed in ``data/SOURCES.md``); nothing is
fetched at run time. :func:`load` reads them once and indexes them with a shapely STRtree.

Geometries are WGS84 longitude/latitude in degrees (shapely's x = lon, y = lat). Every metric
operation (ellipses, circles, buffers) is done in a local azimuthal-equidistant projection
(metres) and only the result is expressed in degrees.

The EEZ (``JPN-EEZ``, ``KOR-EEZ``) and territorial-sea (``JPN-TS``, ``KOR-TS``) shapes are
APPROXIMATE: 200 / 12 nautical-mile distance zones clipped at the median line with the
neighbours; ``Region.approximate`` is true for them and their names say so.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from pyproj import Transformer
from shapely.geometry import LineString, Polygon, box, shape
from shapely.geometry.base import BaseGeometry

from kizuna.errors import InputError
from kizuna.geo.geodesic import direct

DATA_PATH = Path(__file__).parent / "data" / "regions.geojson"

RegionKind = Literal["prefecture", "province", "eez", "territory", "base"]
LAND_KINDS: frozenset[str] = frozenset({"prefecture", "province", "base"})
_KIND_ORDER = {"prefecture": 0, "province": 1, "base": 2, "territory": 3, "eez": 4}
_WORLD = box(-180.0, -90.0, 180.0, 90.0)


@dataclass(frozen=True)
class Region:
    """One region. ``geometry`` is a (Multi)Polygon in WGS84 lon/lat degrees."""

    code: str
    kind: RegionKind
    country: str
    name_en: str
    name_local: str
    approximate: bool
    geometry: BaseGeometry = field(compare=False, repr=False)
    radius_m: float | None = None  # bases only: the circle's radius

    def to_contract(self):  # -> kizuna.contract.Region (imported lazily: contract is pydantic)
        from kizuna.contract import Region as ContractRegion

        return ContractRegion(kind=self.kind, code=self.code, name=self.name_en)


def _aeqd(lat_deg: float, lon_deg: float) -> tuple[Transformer, Transformer]:
    """(to_metres, to_degrees) transformers of the azimuthal-equidistant projection at a point."""
    return _aeqd_cached(float(lat_deg), float(lon_deg))


@lru_cache(maxsize=256)
def _aeqd_cached(lat_deg: float, lon_deg: float) -> tuple[Transformer, Transformer]:
    crs = f"+proj=aeqd +lat_0={lat_deg} +lon_0={lon_deg} +datum=WGS84 +units=m +no_defs"
    return (
        Transformer.from_crs("EPSG:4326", crs, always_xy=True),
        Transformer.from_crs(crs, "EPSG:4326", always_xy=True),
    )


def _unwrap_lon(lon_deg: NDArray[np.float64], lon0_deg: float) -> NDArray[np.float64]:
    """Longitudes made continuous around ``lon0_deg`` (no jump at the antimeridian)."""
    return lon0_deg + (lon_deg - lon0_deg + 180.0) % 360.0 - 180.0


def ellipse_polygon(
    lat_deg: float,
    lon_deg: float,
    semi_major_m: float,
    semi_minor_m: float,
    orientation_deg: float,
    n_vertices: int = 72,
) -> Polygon:
    """The ellipse on the ground as a lon/lat polygon.

    The ellipse is laid out in the azimuthal-equidistant projection centred on its centre
    (distances from the centre are true there), its major axis pointing ``orientation_deg``
    clockwise from true north, and the vertices are projected back to WGS84 degrees.
    Longitudes are continuous around the centre, so an ellipse across the antimeridian may hold
    values beyond +-180; :meth:`RegionSet.regions_hit` handles that.
    A degenerate axis (0 m) is widened to 1 m so the result is always a polygon.
    """
    a = max(float(semi_major_m), 1.0)
    b = max(float(semi_minor_m), 1.0)
    if not (np.isfinite(a) and np.isfinite(b) and np.isfinite(orientation_deg)):
        raise InputError("ellipse axes and orientation must be finite", field="ellipse")
    theta = np.radians(orientation_deg)
    t = np.linspace(0.0, 2.0 * np.pi, n_vertices, endpoint=False)
    # Major-axis unit vector in (east, north) is (sin theta, cos theta); minor is perpendicular.
    east = a * np.cos(t) * np.sin(theta) + b * np.sin(t) * np.cos(theta)
    north = a * np.cos(t) * np.cos(theta) - b * np.sin(t) * np.sin(theta)
    # A plane point (range, azimuth) of the ellipsoidal azimuthal-equidistant projection is by
    # definition the end of the geodesic of that length and initial azimuth from the centre,
    # so the inverse projection is a geodesic "direct" problem (no per-centre projection).
    lat, lon = direct(lat_deg, lon_deg, np.degrees(np.arctan2(east, north)), np.hypot(east, north))
    return Polygon(np.column_stack([_unwrap_lon(lon, float(lon_deg)), lat]))


def circle_polygon(
    lat_deg: float, lon_deg: float, radius_m: float, n_vertices: int = 64
) -> Polygon:
    """A circle of ``radius_m`` (geodesic, from the centre) as a lon/lat polygon."""
    return ellipse_polygon(lat_deg, lon_deg, radius_m, radius_m, 0.0, n_vertices)


def buffer_path(lat_deg: ArrayLike, lon_deg: ArrayLike, distance_m: float) -> Polygon:
    """The ground within ``distance_m`` of a path (a polyline of lat/lon points) as a polygon.

    Buffered in the azimuthal-equidistant projection centred on the path's middle point, so the
    distance is metric (good to about 1 % within 1,500 km of the middle).
    """
    lat = np.atleast_1d(np.asarray(lat_deg, float))
    lon = np.atleast_1d(np.asarray(lon_deg, float))
    mid = len(lat) // 2
    # The projection centre only needs to be near the path: rounding it to whole degrees lets
    # successive calls for one flight share a cached projection (costs <0.2 % in distance).
    to_m, to_deg = _aeqd(round(lat[mid]), round(lon[mid]))
    x, y = to_m.transform(_unwrap_lon(lon, lon[mid]), lat)
    pts = np.column_stack([x, y])
    geom = LineString(pts) if len(pts) > 1 else shapely.points(pts[0])
    buf = geom.buffer(float(distance_m), quad_segs=8)
    ring = np.asarray(buf.exterior.coords)
    blon, blat = to_deg.transform(ring[:, 0], ring[:, 1])
    return Polygon(np.column_stack([_unwrap_lon(np.asarray(blon), lon[mid]), blat]))


def _wrapped(geom: BaseGeometry) -> BaseGeometry:
    """A lon/lat geometry that may stick out past +-180 degrees folded back into [-180, 180]."""
    minx, _, maxx, _ = geom.bounds
    if minx >= -180.0 and maxx <= 180.0:
        return geom
    pieces = [
        shapely.transform(geom, lambda xy, s=shift: xy + np.array([s, 0.0])).intersection(_WORLD)
        for shift in (-360.0, 0.0, 360.0)
    ]
    return shapely.union_all([p for p in pieces if not p.is_empty])


class _EllipseLike(Protocol):
    semi_major_m: float
    semi_minor_m: float
    orientation_deg: float


class _ImpactLike(Protocol):
    lat: float
    lon: float
    ellipse_95: _EllipseLike


class RegionSet:
    """An immutable, STRtree-indexed set of regions.

    Results are always ordered canonically (prefectures, provinces, bases, territorial seas,
    EEZs; then by code), so the same input gives the same list.
    """

    def __init__(self, regions: Sequence[Region]):
        ordered = sorted(regions, key=lambda r: (_KIND_ORDER[r.kind], r.code))
        self.regions: tuple[Region, ...] = tuple(ordered)
        self.by_code: dict[str, Region] = {r.code: r for r in self.regions}
        if len(self.by_code) != len(self.regions):
            raise InputError("duplicate region codes", field="code")
        self._geoms = np.array([r.geometry for r in self.regions], dtype=object)
        shapely.prepare(self._geoms)
        self._tree = shapely.STRtree(self._geoms)
        self._subtrees: dict[frozenset[str], tuple[NDArray[np.intp], shapely.STRtree]] = {}

    def __len__(self) -> int:
        return len(self.regions)

    def __iter__(self) -> Iterator[Region]:
        return iter(self.regions)

    def __getitem__(self, code: str) -> Region:
        return self.by_code[code]

    def codes(self) -> list[str]:
        return [r.code for r in self.regions]

    def regions_hit(self, area: BaseGeometry | _ImpactLike) -> list[Region]:
        """Regions intersecting ``area``.

        ``area`` is a lon/lat shapely geometry (e.g. from :func:`ellipse_polygon`) or an object
        with ``lat``, ``lon`` and ``ellipse_95`` (``semi_major_m``, ``semi_minor_m``,
        ``orientation_deg``), such as the contract's ``ImpactPoint``.
        """
        if not isinstance(area, BaseGeometry):
            ell = area.ellipse_95
            area = ellipse_polygon(
                area.lat, area.lon, ell.semi_major_m, ell.semi_minor_m, ell.orientation_deg
            )
        idx = self._tree.query(_wrapped(area), predicate="intersects")
        return [self.regions[i] for i in sorted(set(int(i) for i in np.atleast_1d(idx)))]

    def regions_hit_by_ellipse(
        self,
        lat_deg: float,
        lon_deg: float,
        semi_major_m: float,
        semi_minor_m: float,
        orientation_deg: float,
    ) -> list[Region]:
        """Regions intersecting the ellipse (axes in metres, orientation clockwise from north)."""
        return self.regions_hit(
            ellipse_polygon(lat_deg, lon_deg, semi_major_m, semi_minor_m, orientation_deg)
        )

    def _subtree(self, kinds: frozenset[str] | None) -> tuple[NDArray[np.intp], shapely.STRtree]:
        """(region indices, STRtree of their geometries) for a subset of kinds (cached)."""
        if kinds is None:
            return np.arange(len(self.regions)), self._tree
        if kinds not in self._subtrees:
            idx = np.array([j for j, r in enumerate(self.regions) if r.kind in kinds], dtype=int)
            self._subtrees[kinds] = (idx, shapely.STRtree(self._geoms[idx]))
        return self._subtrees[kinds]

    def membership(
        self, lat_deg: ArrayLike, lon_deg: ArrayLike, kinds: Iterable[str] | None = None
    ) -> NDArray[np.bool_]:
        """Which regions hold each point: boolean array of shape ``(n_points, len(self))``.

        Points on a boundary count as inside. Longitudes are wrapped into [-180, 180).
        ``kinds`` (e.g. ``{"prefecture", "province"}``) restricts the test to those kinds (the
        other columns are False), which is much faster than testing points against the EEZs.
        """
        lat = np.atleast_1d(np.asarray(lat_deg, float)).ravel()
        lon = np.atleast_1d(np.asarray(lon_deg, float)).ravel()
        if lat.shape != lon.shape:
            raise InputError("lat_deg and lon_deg must have the same shape", field="lat_deg")
        lon = (lon + 180.0) % 360.0 - 180.0
        out = np.zeros((lat.size, len(self.regions)), dtype=bool)
        columns, tree = self._subtree(None if kinds is None else frozenset(kinds))
        if lat.size and columns.size:
            pairs = tree.query(shapely.points(lon, lat), predicate="intersects")
            out[pairs[0], columns[pairs[1]]] = True
        return out

    def regions_under(self, lat_deg: ArrayLike, lon_deg: ArrayLike) -> list[list[Region]]:
        """For each point (flattened), the regions that contain it (canonical order)."""
        member = self.membership(lat_deg, lon_deg)
        return [[self.regions[j] for j in np.flatnonzero(row)] for row in member]


def _from_feature(feature: dict) -> Region:
    props = feature["properties"]
    geom = shape(feature["geometry"])
    radius = props.get("radius_m")
    if props["kind"] == "base":
        geom = circle_polygon(geom.y, geom.x, float(radius))
    return Region(
        code=props["code"],
        kind=props["kind"],
        country=props["country"],
        name_en=props["name_en"],
        name_local=props["name_local"],
        approximate=bool(props.get("approximate", False)),
        geometry=geom,
        radius_m=float(radius) if radius is not None else None,
    )


def load(path: str | Path | None = None) -> RegionSet:
    """The shipped regions (read and indexed once per process), or those of a GeoJSON file."""
    if path is None:
        return _load_default()
    return _load_path(Path(path))


@lru_cache(maxsize=1)
def _load_default() -> RegionSet:
    return _load_path(DATA_PATH)


def _load_path(path: Path) -> RegionSet:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return RegionSet([_from_feature(f) for f in data["features"]])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"cannot read regions: {exc}", source=str(path)) from None


__all__ = [
    "DATA_PATH",
    "LAND_KINDS",
    "Region",
    "RegionSet",
    "buffer_path",
    "circle_polygon",
    "ellipse_polygon",
    "load",
]
