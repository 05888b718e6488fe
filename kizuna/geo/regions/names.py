"""Codes and names of the first-level divisions of Japan and South Korea, and the allied bases.

These tables are the single place where codes and names are written down; the build script
(:mod:`kizuna.geo.regions.build`) stamps them onto the shipped geometry and the loader reads
them back from there.

Codes are ISO 3166-2 (JIS X 0401 numbering for Japan). The Korean codes are those of the
iso-codes database (as shipped by PyPI ``pycountry``), which lists Gangwon as ``KR-42``
"Gangwon-teukbyeoljachido" and North Jeolla as ``KR-45``; the Korean names below are the
current ones (Gangwon and Jeonbuk became special self-governing provinces in 2023 and 2024).
"""

from __future__ import annotations

from dataclasses import dataclass

# (JIS X 0401 number, English name, Japanese name)
JP_PREFECTURES: tuple[tuple[int, str, str], ...] = (
    (1, "Hokkaido", "北海道"),
    (2, "Aomori", "青森県"),
    (3, "Iwate", "岩手県"),
    (4, "Miyagi", "宮城県"),
    (5, "Akita", "秋田県"),
    (6, "Yamagata", "山形県"),
    (7, "Fukushima", "福島県"),
    (8, "Ibaraki", "茨城県"),
    (9, "Tochigi", "栃木県"),
    (10, "Gunma", "群馬県"),
    (11, "Saitama", "埼玉県"),
    (12, "Chiba", "千葉県"),
    (13, "Tokyo", "東京都"),
    (14, "Kanagawa", "神奈川県"),
    (15, "Niigata", "新潟県"),
    (16, "Toyama", "富山県"),
    (17, "Ishikawa", "石川県"),
    (18, "Fukui", "福井県"),
    (19, "Yamanashi", "山梨県"),
    (20, "Nagano", "長野県"),
    (21, "Gifu", "岐阜県"),
    (22, "Shizuoka", "静岡県"),
    (23, "Aichi", "愛知県"),
    (24, "Mie", "三重県"),
    (25, "Shiga", "滋賀県"),
    (26, "Kyoto", "京都府"),
    (27, "Osaka", "大阪府"),
    (28, "Hyogo", "兵庫県"),
    (29, "Nara", "奈良県"),
    (30, "Wakayama", "和歌山県"),
    (31, "Tottori", "鳥取県"),
    (32, "Shimane", "島根県"),
    (33, "Okayama", "岡山県"),
    (34, "Hiroshima", "広島県"),
    (35, "Yamaguchi", "山口県"),
    (36, "Tokushima", "徳島県"),
    (37, "Kagawa", "香川県"),
    (38, "Ehime", "愛媛県"),
    (39, "Kochi", "高知県"),
    (40, "Fukuoka", "福岡県"),
    (41, "Saga", "佐賀県"),
    (42, "Nagasaki", "長崎県"),
    (43, "Kumamoto", "熊本県"),
    (44, "Oita", "大分県"),
    (45, "Miyazaki", "宮崎県"),
    (46, "Kagoshima", "鹿児島県"),
    (47, "Okinawa", "沖縄県"),
)

# (ISO 3166-2 code, Korean statistical (KOSTAT/NGII) code used by the source data,
#  English name, Korean name)
KR_PROVINCES: tuple[tuple[str, str, str, str], ...] = (
    ("KR-11", "11", "Seoul", "서울특별시"),
    ("KR-26", "26", "Busan", "부산광역시"),
    ("KR-27", "27", "Daegu", "대구광역시"),
    ("KR-28", "28", "Incheon", "인천광역시"),
    ("KR-29", "29", "Gwangju", "광주광역시"),
    ("KR-30", "30", "Daejeon", "대전광역시"),
    ("KR-31", "31", "Ulsan", "울산광역시"),
    ("KR-41", "41", "Gyeonggi", "경기도"),
    ("KR-42", "42", "Gangwon", "강원특별자치도"),
    ("KR-43", "43", "North Chungcheong", "충청북도"),
    ("KR-44", "44", "South Chungcheong", "충청남도"),
    ("KR-45", "45", "North Jeolla", "전북특별자치도"),
    ("KR-46", "46", "South Jeolla", "전라남도"),
    ("KR-47", "47", "North Gyeongsang", "경상북도"),
    ("KR-48", "48", "South Gyeongsang", "경상남도"),
    ("KR-49", "50", "Jeju", "제주특별자치도"),
    ("KR-50", "36", "Sejong", "세종특별자치시"),
)


@dataclass(frozen=True)
class BaseSite:
    """An allied base modelled as a circle: centre (WGS84 degrees) and radius (m)."""

    code: str
    name_en: str
    name_local: str
    country: str  # ISO 3166 alpha-3 of the host territory
    lat_deg: float
    lon_deg: float
    radius_m: float


# Centres are the public airfield / fleet-activity locations, rounded to about 100 m; the
# radius is a deliberately generous protection circle (installation plus its approaches), not a
# fence line. They are operator-tunable in the shipped GeoJSON.
BASES: tuple[BaseSite, ...] = (
    BaseSite("BASE-YOKOTA", "Yokota Air Base", "横田基地", "JPN", 35.7485, 139.3485, 5000.0),
    BaseSite(
        "BASE-YOKOSUKA", "Yokosuka Naval Base", "横須賀海軍施設", "JPN", 35.2880, 139.6600, 5000.0
    ),
    BaseSite("BASE-MISAWA", "Misawa Air Base", "三沢飛行場", "JPN", 40.7032, 141.3686, 5000.0),
    BaseSite("BASE-KADENA", "Kadena Air Base", "嘉手納飛行場", "JPN", 26.3556, 127.7675, 5000.0),
    BaseSite("BASE-IWAKUNI", "MCAS Iwakuni", "岩国飛行場", "JPN", 34.1439, 132.2360, 5000.0),
    BaseSite(
        "BASE-SASEBO", "Sasebo Naval Base", "佐世保海軍施設", "JPN", 33.1600, 129.7150, 5000.0
    ),
    BaseSite("BASE-HUMPHREYS", "Camp Humphreys", "캠프 험프리스", "KOR", 36.9633, 127.0311, 5000.0),
    BaseSite("BASE-OSAN", "Osan Air Base", "오산 공군기지", "KOR", 37.0906, 127.0297, 5000.0),
    BaseSite(
        "BASE-ANDERSEN",
        "Andersen Air Force Base",
        "Andersen Air Force Base",
        "USA",
        13.5840,
        144.9300,
        5000.0,
    ),
)
