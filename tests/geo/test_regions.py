"""The shipped regions: codes, known places, launches.csv impact points, metric helpers."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import shapely

from kizuna.errors import InputError
from kizuna.geo import regions
from kizuna.geo.geodesic import direct, inverse
from kizuna.geo.regions.names import BASES, JP_PREFECTURES, KR_PROVINCES

SHARED_DATA = Path(__file__).parents[2].parent / "shared" / "data"


@pytest.fixture(scope="module")
def rs() -> regions.RegionSet:
    return regions.load()


def codes_at(rs: regions.RegionSet, lat: float, lon: float) -> list[str]:
    return [r.code for r in rs.regions_under(lat, lon)[0]]


def test_every_code_is_present_with_names(rs):
    jp = [f"JP-{n:02d}" for n in range(1, 48)]
    kr = [
        "KR-11",
        "KR-26",
        "KR-27",
        "KR-28",
        "KR-29",
        "KR-30",
        "KR-31",
        "KR-41",
        "KR-42",
        "KR-43",
        "KR-44",
        "KR-45",
        "KR-46",
        "KR-47",
        "KR-48",
        "KR-49",
        "KR-50",
    ]
    zones = ["JPN-EEZ", "KOR-EEZ", "JPN-TS", "KOR-TS"]
    bases = [
        "BASE-YOKOTA",
        "BASE-YOKOSUKA",
        "BASE-MISAWA",
        "BASE-KADENA",
        "BASE-IWAKUNI",
        "BASE-SASEBO",
        "BASE-HUMPHREYS",
        "BASE-OSAN",
        "BASE-ANDERSEN",
    ]
    assert sorted(rs.codes()) == sorted(jp + kr + zones + bases)
    assert len(JP_PREFECTURES) == 47 and len(KR_PROVINCES) == 17 and len(BASES) == 9
    for r in rs:
        assert r.name_en and r.name_local
        assert r.geometry.is_valid and not r.geometry.is_empty
    assert all(rs[c].kind == "prefecture" and rs[c].name_local[-1] in "都道府県" for c in jp)
    assert all(rs[c].kind == "province" for c in kr)
    assert rs["KR-11"].name_local == "서울특별시"


def test_sea_zones_are_marked_approximate(rs):
    for code in ("JPN-EEZ", "KOR-EEZ", "JPN-TS", "KOR-TS"):
        assert rs[code].approximate
        assert "approximate" in rs[code].name_en
        assert "概略" in rs[code].name_local or "근사" in rs[code].name_local
    assert not rs["JP-13"].approximate
    assert rs["JPN-EEZ"].kind == "eez" and rs["JPN-TS"].kind == "territory"


@pytest.mark.parametrize(
    ("place", "lat", "lon", "code"),
    [
        ("Tokyo (Marunouchi)", 35.681, 139.767, "JP-13"),
        ("Seoul (City Hall)", 37.5665, 126.978, "KR-11"),
        ("Naha", 26.2124, 127.6809, "JP-47"),
        ("Sapporo", 43.062, 141.354, "JP-01"),
        ("Busan", 35.18, 129.075, "KR-26"),
        ("Sejong", 36.48, 127.289, "KR-50"),
        # islands the brief names: Okinawa, Sado, Oki, Tsushima, Jeju, Ulleung
        ("Okinawa Island (Nago)", 26.59, 127.98, "JP-47"),
        ("Sado", 38.02, 138.37, "JP-15"),
        ("Oki (Dogo)", 36.25, 133.30, "JP-32"),
        ("Tsushima", 34.40, 129.33, "JP-42"),
        ("Jeju", 33.38, 126.55, "KR-49"),
        ("Ulleung-do", 37.50, 130.86, "KR-47"),
        ("Hachijo-jima", 33.11, 139.79, "JP-13"),
        ("Amami Oshima", 28.30, 129.40, "JP-46"),
        ("Ishigaki", 24.40, 124.18, "JP-47"),
    ],
)
def test_known_places(rs, place, lat, lon, code):
    assert codes_at(rs, lat, lon) == [code], place


def test_sea_off_aomori_is_eez_not_a_prefecture(rs):
    # 100 km due east of the Hachinohe coast (Aomori), along the geodesic.
    lat, lon = direct(40.52, 141.53, 90.0, 100_000.0)
    assert codes_at(rs, float(lat), float(lon)) == ["JPN-EEZ"]


def test_territorial_sea_then_eez_off_choshi(rs):
    # Inubo-saki (Choshi): 10 km out is inside 12 nmi (22.2 km), 40 km is beyond it.
    for distance_m, expected in ((10_000.0, ["JPN-TS"]), (40_000.0, ["JPN-EEZ"])):
        lat, lon = direct(35.70, 140.87, 90.0, distance_m)
        assert codes_at(rs, float(lat), float(lon)) == expected


def test_mid_pacific_is_in_no_region(rs):
    assert codes_at(rs, 30.0, -170.0) == []
    assert codes_at(rs, 30.0, 190.0) == []  # same point, longitude past 180


def _launch_rows() -> dict[str, dict[str, str]]:
    path = SHARED_DATA / "launches.csv"
    if not path.exists():
        pytest.skip(f"{path} not present (shared data absent)")
    with path.open(newline="", encoding="utf-8") as fh:
        return {row["id"]: row for row in csv.DictReader(fh)}


@pytest.mark.parametrize(
    ("row_id", "expected"),
    [
        # launches.csv row 2017-11-29: "Sea of Japan inside EEZ ~250 km W of Aomori", eez=inside
        ("2017-11-29", ["JPN-EEZ"]),
        # launches.csv row 2022-11-18: "inside EEZ ~200 km W of Oshima-Oshima", eez=inside
        ("2022-11-18", ["JPN-EEZ"]),
        # launches.csv row 2017-08-29: "Pacific ~1,180 km E of Cape Erimo", eez=outside
        ("2017-08-29", []),
        # launches.csv row 2022-10-04: "Pacific outside EEZ ~3,200 km E of Tohoku", eez=outside
        ("2022-10-04", []),
        # launches.csv row 2019-10-02: "inside EEZ ~350 km N of Dogo (Oki)", eez=inside, as
        # Japan's government reported. The point is nearer Takeshima/Dokdo than Ulleung-do
        # and nearer Ulleung-do than Oki: inside Japan's claim and inside Korea's (see
        # SOURCES.md), so both zones are named.
        ("2019-10-02", ["JPN-EEZ", "KOR-EEZ"]),
    ],
)
def test_launches_csv_impact_points(rs, row_id, expected):
    row = _launch_rows()[row_id]
    assert row["eez"] == ("inside" if expected else "outside")
    assert codes_at(rs, float(row["impact_lat"]), float(row["impact_lon"])) == expected


def test_ellipse_polygon_is_metric_and_oriented():
    lat0, lon0, a, b, theta = 40.0, 140.0, 50_000.0, 20_000.0, 30.0
    poly = regions.ellipse_polygon(lat0, lon0, a, b, theta, n_vertices=8)
    ring = np.asarray(poly.exterior.coords)[:-1]
    dist, az = inverse(lat0, lon0, ring[:, 1], ring[:, 0])
    # Vertex 0 is the major-axis end at the orientation azimuth; vertex 2 the minor-axis end.
    assert dist[0] == pytest.approx(a, abs=0.01)
    assert az[0] == pytest.approx(theta, abs=1e-6)
    assert dist[2] == pytest.approx(b, abs=0.01)
    assert az[2] == pytest.approx(theta + 90.0, abs=1e-6)
    assert dist[4] == pytest.approx(a, abs=0.01) and az[4] == pytest.approx(theta + 180.0)


def test_circle_area_matches_pi_r_squared():
    poly = regions.circle_polygon(35.0, 139.0, 30_000.0, n_vertices=720)
    laea = "+proj=laea +lat_0=35 +lon_0=139 +datum=WGS84 +units=m"
    from pyproj import Transformer

    t = Transformer.from_crs("EPSG:4326", laea, always_xy=True)
    xy = np.column_stack(t.transform(*np.asarray(poly.exterior.coords).T))
    assert shapely.Polygon(xy).area == pytest.approx(np.pi * 30_000.0**2, rel=1e-4)


def test_regions_hit_by_ellipse(rs):
    # A 1 km circle on Kadena's runway: the base and Okinawa prefecture.
    assert [r.code for r in rs.regions_hit(regions.circle_polygon(26.3556, 127.7675, 1000.0))] == [
        "JP-47",
        "BASE-KADENA",
    ]
    # The 2017-11-29 impact point with a 20 km x 8 km ellipse: only the EEZ.
    hit = rs.regions_hit_by_ellipse(40.57, 136.97, 20_000.0, 8_000.0, 90.0)
    assert [r.code for r in hit] == ["JPN-EEZ"]
    # Across the antimeridian: wraps without error, and there is nothing there.
    assert rs.regions_hit_by_ellipse(33.7, 179.95, 100_000.0, 50_000.0, 90.0) == []
    assert rs.regions_hit_by_ellipse(33.7, -179.95, 100_000.0, 50_000.0, 90.0) == []


def test_membership_equals_pointwise_contains(rs):
    rng = np.random.default_rng(20261125)
    lat = rng.uniform(24.0, 46.0, 400)
    lon = rng.uniform(122.0, 148.0, 400)
    member = rs.membership(lat, lon)
    assert member.shape == (400, len(rs))
    for i in range(0, 400, 7):
        point = shapely.Point(lon[i], lat[i])
        expected = [r.geometry.intersects(point) for r in rs]
        assert member[i].tolist() == expected
    # Each point is in at most one of {land, territorial sea, EEZ} of a nation: the zones
    # exclude land and the EEZ excludes the territorial sea.
    idx = {r.code: j for j, r in enumerate(rs)}
    land = member[:, [j for j, r in enumerate(rs) if r.kind == "prefecture"]].any(axis=1)
    ts, eez = member[:, idx["JPN-TS"]], member[:, idx["JPN-EEZ"]]
    assert not np.any(land & eez) and not np.any(ts & eez)


def test_bad_input_is_rejected(rs):
    with pytest.raises(InputError):
        rs.membership([1.0, 2.0], [1.0])
    with pytest.raises(InputError):
        regions.load(Path("/nonexistent/regions.geojson"))


def test_load_once_and_small_data():
    assert regions.load() is regions.load()
    assert regions.DATA_PATH.stat().st_size < 3_000_000
    assert (regions.DATA_PATH.parent / "SOURCES.md").exists()


def test_regions_hit_accepts_a_contract_impact_point(rs):
    from kizuna.contract import ImpactPoint

    impact = ImpactPoint(
        time="2026-11-25T03:12:45.250Z",
        lat=40.57,
        lon=136.97,
        ellipse_95={"semi_major_m": 20_000.0, "semi_minor_m": 8_000.0, "orientation_deg": 90.0},
    )
    assert rs.regions_hit(impact) == rs.regions_hit_by_ellipse(40.57, 136.97, 2e4, 8e3, 90.0)
    assert [r.to_contract().code for r in rs.regions_hit(impact)] == ["JPN-EEZ"]


def test_takeshima_dokdo_zones_follow_each_nations_claim(rs):
    # The islet (KR-47 in the NGII data) is Japan's coast for Japan's zones and Korea's for
    # Korea's: its waters are in both territorial seas, and the EEZs overlap east of
    # Ulleung-do, while Ulleung-do's own waters and the sea west of it stay Korean only.
    assert codes_at(rs, 37.2417, 131.8667) == ["KR-47", "JPN-TS"]
    lat, lon = direct(37.2417, 131.8667, 0.0, 15_000.0)  # 15 km north: inside 12 nmi
    assert codes_at(rs, float(lat), float(lon)) == ["JPN-TS", "KOR-TS"]
    assert codes_at(rs, 37.9, 131.0) == ["KOR-EEZ"]  # north of Ulleung-do
    assert "JPN-TS" not in codes_at(rs, 37.5, 130.7)
    # Distances behind the 2019-10-02 case (launches.csv impact 39.4 N 133.3 E), in km.
    d_takeshima, _ = inverse(39.4, 133.3, 37.2417, 131.8667)
    d_ulleung, _ = inverse(39.4, 133.3, 37.53, 130.92)
    assert float(d_takeshima) < float(d_ulleung) < 370_400.0
