"""Message templates: what, where, when, what to do, in en/ja/ko; EXERCISE banners."""

from __future__ import annotations

import pytest

from kizuna.geo import regions
from kizuna.warning.messages import EXERCISE_BANNER, MAX_NAMED_REGIONS, render

from .conftest import NOW


@pytest.fixture(scope="module")
def rs():
    return regions.load()


def test_local_names_and_minutes(rs):
    msg = render("impact", "warning", [rs["JP-02"], rs["KR-49"]], NOW + 389.0, NOW, False)
    assert msg["en"].startswith("MISSILE WARNING") and "Aomori, Jeju" in msg["en"]
    assert "6 min" in msg["en"]  # 389 s rounds to 6 minutes
    assert "青森県" in msg["ja"] and "Jeju" in msg["ja"] and "6分" in msg["ja"]
    assert "제주특별자치도" in msg["ko"] and "Aomori" in msg["ko"] and "6분" in msg["ko"]
    assert "避難" in msg["ja"] and "대피" in msg["ko"] and "shelter" in msg["en"]


def test_long_region_lists_are_shortened(rs):
    many = [rs[f"JP-{n:02d}"] for n in range(1, 13)]
    msg = render("overflight", "warning", many, NOW + 60.0, NOW, False)
    assert f"and {12 - MAX_NAMED_REGIONS} more" in msg["en"]
    assert "Tochigi" not in msg["en"]  # the 9th is left out
    assert f"ほか{12 - MAX_NAMED_REGIONS}地域" in msg["ja"]


def test_every_status_has_three_languages_and_exercise_banner(rs):
    cases = [
        ("impact", "warning"),
        ("impact", "advisory"),
        ("impact", "notice"),
        ("impact", "cancelled"),
        ("impact", "impacted"),
        ("overflight", "warning"),
        ("overflight", "cancelled"),
        ("overflight", "passed"),
    ]
    for kind, key in cases:
        real = render(kind, key, [rs["JPN-EEZ"]], NOW + 120.0, NOW, False)
        drill = render(kind, key, [rs["JPN-EEZ"]], NOW + 120.0, NOW, True)
        assert set(real) == {"en", "ja", "ko"}
        for lang in real:
            assert "EXERCISE" not in real[lang]
            assert drill[lang] == EXERCISE_BANNER[lang] + real[lang]
            assert "EXERCISE" in drill[lang]


def test_past_events_never_say_negative_minutes(rs):
    msg = render("impact", "advisory", [rs["JPN-EEZ"]], NOW - 30.0, NOW, False)
    assert "about 0 min" in msg["en"]
