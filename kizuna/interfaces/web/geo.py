"""The map's geography, from data shipped with kizuna (nothing is fetched at run time).

* Regions (:mod:`kizuna.geo.regions`): prefectures, provinces, bases, approximate territorial
  seas and EEZs, simplified for display (~1 km on land, ~5 km at sea) and written as GeoJSON
  with their codes, so the page can highlight the regions an alert names.
* Coastlines of the whole theatre (China, the Korean peninsula, Russia's Far East, Taiwan) from
  Natural Earth 10 m (public domain), clipped and simplified once by
  :mod:`kizuna.interfaces.web.build_coastline` into ``data/coastline.geojson``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from shapely.geometry import mapping

COASTLINE_PATH = Path(__file__).parent / "data" / "coastline.geojson"

# Display tolerances in degrees (1e-2 deg ~ 1 km): the map shows the theatre, not cadastre.
_TOLERANCE_DEG = {
    "prefecture": 0.01,
    "province": 0.01,
    "base": 0.002,
    "territory": 0.03,
    "eez": 0.05,
}


def _rounded(coords: object, digits: int = 4) -> object:
    if isinstance(coords, (list, tuple)):
        if coords and isinstance(coords[0], (int, float)):
            return [round(float(c), digits) for c in coords]
        return [_rounded(c, digits) for c in coords]
    return coords


@lru_cache(maxsize=1)
def regions_geojson() -> bytes:
    """The shipped regions, simplified, as UTF-8 GeoJSON bytes (computed once per process)."""
    from kizuna.geo.regions import load

    features = []
    for region in load():
        geometry = region.geometry.simplify(_TOLERANCE_DEG[region.kind], preserve_topology=True)
        if geometry.is_empty:
            continue
        shape = mapping(geometry)
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "code": region.code,
                    "kind": region.kind,
                    "country": region.country,
                    "name_en": region.name_en,
                    "name_local": region.name_local,
                    "approximate": region.approximate,
                },
                "geometry": {"type": shape["type"], "coordinates": _rounded(shape["coordinates"])},
            }
        )
    collection = {"type": "FeatureCollection", "features": features}
    return json.dumps(collection, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@lru_cache(maxsize=1)
def coastline_geojson() -> bytes:
    """The theatre's coastlines (empty collection when the data file is absent)."""
    if COASTLINE_PATH.is_file():
        return COASTLINE_PATH.read_bytes()
    return b'{"type":"FeatureCollection","features":[]}'


__all__ = ["COASTLINE_PATH", "coastline_geojson", "regions_geojson"]
