"""Alert messages in English, Japanese and Korean, from fixed templates.

Every message says what (impact or overflight), where (the regions, approximate zones named as
approximate), when (minutes from now, and the UTC time) and what to do. Exercise products
start with an EXERCISE banner in all three languages, so an exercise message can never be
mistaken for a real one even when read alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kizuna.geo.regions import Region
from kizuna.timefmt import format_time

MAX_NAMED_REGIONS = 8

EXERCISE_BANNER = {
    "en": "EXERCISE EXERCISE EXERCISE. ",
    "ja": "【訓練 EXERCISE】",
    "ko": "[훈련 EXERCISE] ",
}

_SEA_OUTSIDE = {
    "en": "the sea outside every exclusive economic zone",
    "ja": "いずれの排他的経済水域の外の海上",
    "ko": "모든 배타적 경제수역 밖의 해상",
}

_TEMPLATES: dict[tuple[str, str], dict[str, str]] = {
    ("impact", "warning"): {
        "en": "MISSILE WARNING: a missile is predicted to fall in {where} in about {minutes} "
        "min ({time} UTC). Take shelter now in a sturdy building or underground; away from "
        "windows.",
        "ja": "ミサイル落下予測：約{minutes}分後（{time} UTC）、{where}に落下するおそれがあります。"
        "直ちに頑丈な建物や地下に避難し、窓から離れてください。",
        "ko": "미사일 낙하 예측: 약 {minutes}분 후({time} UTC) {where}에 낙하할 우려가 있습니다. "
        "즉시 튼튼한 건물 안이나 지하로 대피하고 창문에서 떨어지십시오.",
    },
    ("impact", "advisory"): {
        "en": "MISSILE ADVISORY: a missile is predicted to fall in {where} in about {minutes} "
        "min ({time} UTC). Ships and aircraft: keep clear, watch for falling objects and do "
        "not approach debris.",
        "ja": "ミサイル落下予測：約{minutes}分後（{time} UTC）、{where}に落下するおそれがあります。"
        "船舶・航空機は落下物に注意し、近づかないでください。",
        "ko": "미사일 낙하 예측: 약 {minutes}분 후({time} UTC) {where}에 낙하할 우려가 있습니다. "
        "선박과 항공기는 낙하물에 주의하고 접근하지 마십시오.",
    },
    ("impact", "notice"): {
        "en": "MISSILE NOTICE: a missile is predicted to fall in {where} in about {minutes} min "
        "({time} UTC). Information only; no action needed.",
        "ja": "お知らせ：ミサイルは約{minutes}分後（{time} UTC）、{where}に落下すると予測されます。"
        "特段の行動は必要ありません。",
        "ko": "알림: 미사일은 약 {minutes}분 후({time} UTC) {where}에 낙하할 것으로 예측됩니다. "
        "별도의 조치는 필요하지 않습니다.",
    },
    ("overflight", "warning"): {
        "en": "MISSILE WARNING: a missile is predicted to pass over {where} in about {minutes} "
        "min ({time} UTC){fall}. Take shelter now in a sturdy building or underground; away from "
        "windows.",
        "ja": "ミサイル通過予測：約{minutes}分後（{time} "
        "UTC）、{where}の上空を通過するおそれがあります{fall}。"
        "直ちに頑丈な建物や地下に避難し、窓から離れてください。",
        "ko": "미사일 통과 예측: 약 {minutes}분 후({time}"
        " UTC) {where} 상공을 통과할 우려가 있습니다{fall}. "
        "즉시 튼튼한 건물 안이나 지하로 대피하고 창문에서 떨어지십시오.",
    },
    ("impact", "cancelled"): {
        "en": "CANCELLED: the missile is no longer predicted to fall in {where}. No further "
        "action is needed there.",
        "ja": "解除：{where}への落下予測は解除されました。これ以上の行動は必要ありません。",
        "ko": "해제: {where}에 대한 낙하 예측이 해제되었습니다. "
        "더 이상의 조치는 필요하지 않습니다.",
    },
    ("overflight", "cancelled"): {
        "en": "CANCELLED: the missile is no longer predicted to pass over {where}{fall}. No "
        "further action is needed there.",
        "ja": "解除：{where}上空の通過予測は解除されました{fall}。これ以上の行動は必要ありません。",
        "ko": "해제: {where} 상공 통과 예측이 해제되었습니다{fall}. "
        "더 이상의 조치는 필요하지 않습니다.",
    },
    # A duplicate's alert closed in favour of the live track's alert on the same object
    # (AlertEngine.tracks_ended: a track with alerts of its own dropped beside another): status
    # ``cancelled``, but not "no longer predicted" -- the threat stands, under {other}.
    ("impact", "superseded"): {
        "en": "CANCELLED: this alert is withdrawn; the same missile is followed under alert "
        "{other}. Follow that alert.",
        "ja": "解除：この情報は取り消されました。同じミサイルは{other}で引き続き追跡しています。"
        "そちらの情報に従ってください。",
        "ko": "해제: 이 경보는 취소되었습니다. 같은 미사일은 {other}(으)로 계속 추적하고 "
        "있습니다. 해당 경보를 따르십시오.",
    },
    ("overflight", "superseded"): {
        "en": "CANCELLED: this warning for {where} is withdrawn; the same missile is followed "
        "under alert {other}. Follow that alert.",
        "ja": "解除：{where}上空の通過予測の情報は取り消されました。同じミサイルは{other}で"
        "引き続き追跡しています。そちらの情報に従ってください。",
        "ko": "해제: {where} 상공 통과 경보는 취소되었습니다. 같은 미사일은 {other}(으)로 계속 "
        "추적하고 있습니다. 해당 경보를 따르십시오.",
    },
    ("impact", "impacted"): {
        "en": "IMPACT: the missile is assessed to have fallen in {where} at {time} UTC. Do not "
        "approach any fallen object; report it to the police, fire service or coast guard.",
        "ja": "落下：ミサイルは{time} UTCに{where}に落下したとみられます。落下物には近づかず、"
        "警察・消防・海上保安庁に通報してください。",
        "ko": "낙하: 미사일은 {time} UTC에 {where}"
        "에 낙하한 것으로 보입니다. 낙하물에 접근하지 말고 "
        "경찰, 소방서 또는 해양경찰에 신고하십시오.",
    },
    ("overflight", "passed"): {
        "en": "PASSED: the missile has passed over {where}{fall}. Do not approach any fallen "
        "object; report it to the police or fire service.",
        "ja": "通過：ミサイルは{where}の上空を通過しま"
        "した{fall}。落下物を発見したら近づかず、警察・消防に"
        "通報してください。",
        "ko": "통과: 미사일이 {where} 상공을 통과했습니"
        "다{fall}. 낙하물을 발견하면 접근하지 말고 경찰이나 "
        "소방서에 신고하십시오.",
    },
}

# An overflight line also says when the object is predicted to come down (its ``impact_time``
# field), so the message and the field can never tell different times. Placed before the
# sentence's full stop.
_FALL = {
    "en": ", and to come down at {impact} UTC",
    "ja": "（落下予測時刻 {impact} UTC）",
    "ko": "(낙하 예상 시각 {impact} UTC)",
}
_FALL_PASSED = {
    "en": "; it is predicted to come down at {impact} UTC",
    "ja": "（落下予測時刻 {impact} UTC）",
    "ko": "(낙하 예상 시각 {impact} UTC)",
}
_FALL_CANCELLED = {
    "en": " (it is predicted to come down at {impact} UTC)",
    "ja": "（落下予測時刻 {impact} UTC）",
    "ko": "(낙하 예상 시각 {impact} UTC)",
}

_LIST_SEP = {"en": ", ", "ja": "、", "ko": ", "}
_AND_MORE = {"en": " and {n} more", "ja": "ほか{n}地域", "ko": " 외 {n}개 지역"}
_LOCAL_COUNTRY = {"ja": "JPN", "ko": "KOR"}


def region_names(regions: Sequence[Region], lang: str) -> str:
    """The regions as a list in ``lang``; names in the local language where the data has them.

    Approximate zones carry "(approximate)" / "（概略）" / "(근사)" in their names already.
    """
    if not regions:
        return _SEA_OUTSIDE[lang]
    names = []
    for region in regions[:MAX_NAMED_REGIONS]:
        local = lang in _LOCAL_COUNTRY and region.country == _LOCAL_COUNTRY[lang]
        names.append(region.name_local if local else region.name_en)
    text = _LIST_SEP[lang].join(names)
    if len(regions) > MAX_NAMED_REGIONS:
        text += _AND_MORE[lang].format(n=len(regions) - MAX_NAMED_REGIONS)
    return text


def render(
    kind: str,
    key: str,
    regions: Sequence[Region],
    event_time_s: float | None,
    now_s: float,
    exercise: bool,
    impact_time_s: float | None = None,
    other: str | None = None,
) -> dict[str, str]:
    """Messages ``{"en", "ja", "ko"}`` for one alert line.

    ``key`` is the level for issued/updated lines and the status for closing lines
    (``cancelled``, ``impacted``, ``passed``). ``event_time_s`` is the impact or first
    overflight time (POSIX seconds): the "when" of the message, in minutes from ``now_s`` and
    as UTC. ``impact_time_s`` (overflight lines only) is the object's predicted impact time,
    the line's ``impact_time`` field: stated too when not None, so field and text agree.
    ``other``: for ``superseded`` (a cancelled duplicate), the alert id that carries on.
    """
    template = _TEMPLATES[(kind, key)]
    if event_time_s is None:
        minutes, when = "?", "?"
    else:
        minutes = str(_minutes(event_time_s - now_s))
        when = _clock(event_time_s)
    fall_texts = {"passed": _FALL_PASSED, "cancelled": _FALL_CANCELLED}.get(key, _FALL)
    out = {}
    for lang in ("en", "ja", "ko"):
        fall = ""
        if kind == "overflight" and impact_time_s is not None:
            fall = fall_texts[lang].format(impact=_clock(impact_time_s))
        text = template[lang].format(
            where=region_names(regions, lang), minutes=minutes, time=when, fall=fall,
            other=other or "?",
        )
        out[lang] = (EXERCISE_BANNER[lang] + text) if exercise else text
    return out


def _clock(t_s: float) -> str:
    """hh:mm:ss UTC of a POSIX time (the clock part of its RFC 3339 string)."""
    return format_time(t_s)[11:19]


def _minutes(dt_s: float) -> int:
    """Whole minutes from now for "in about N min": rounded half up (Python's round() rounds
    half to even, so 150 s would say 2 min and 210 s 4 min), never negative."""
    return max(0, int(np.floor(dt_s / 60.0 + 0.5)))
