"""The release policy: the trilateral release matrix, default deny, re-marking, multi-hop routes."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from kizuna.contract import Marking, combine_markings
from kizuna.sharing.agreement import Agreement, shipped_agreements, to_posix
from kizuna.sharing.policy import decide, reachable_nations, remark, route

T = "2026-01-01"
NATIONS = ("USA", "JPN", "KOR")
NODE_OF = {"USA": "INDOPACOM", "JPN": "JJOC", "KOR": "ROK-JCS"}

# The trilateral agreement as a table written out by hand from the public mechanism: raw reports
# bilateral with the US; tracks, predictions and alerts among all three (overriding markings).
# (originator, kind) -> {destination nation: rule id, or None for refused}
EXPECTED = {
    ("USA", "report"): {"JPN": "USA-REPORT", "KOR": "USA-REPORT"},
    ("JPN", "report"): {"USA": "JPN-REPORT-USA", "KOR": None},
    ("KOR", "report"): {"USA": "KOR-REPORT-USA", "JPN": None},
    ("USA", "track"): {"JPN": "USA-PICTURE", "KOR": "USA-PICTURE"},
    ("JPN", "track"): {"USA": "JPN-PICTURE", "KOR": "JPN-PICTURE"},
    ("KOR", "track"): {"USA": "KOR-PICTURE", "JPN": "KOR-PICTURE"},
    ("USA", "prediction"): {"JPN": "USA-PICTURE", "KOR": "USA-PICTURE"},
    ("JPN", "prediction"): {"USA": "JPN-PICTURE", "KOR": "JPN-PICTURE"},
    ("KOR", "prediction"): {"USA": "KOR-PICTURE", "JPN": "KOR-PICTURE"},
    ("USA", "alert"): {"JPN": "USA-ALERT-ALL", "KOR": "USA-ALERT-ALL"},
    ("JPN", "alert"): {"USA": "JPN-ALERT-ALL", "KOR": "JPN-ALERT-ALL"},
    ("KOR", "alert"): {"USA": "KOR-ALERT-ALL", "JPN": "KOR-ALERT-ALL"},
}


def _marking(*nations: str, classification: str = "SECRET", by: str | None = None) -> Marking:
    return Marking(classification=classification, releasable_to=list(nations), released_by=by)


def _variant(edit: Any) -> Agreement:
    data = yaml.safe_load(shipped_agreements()["trilateral"].read_text())
    edit(data)
    return Agreement.from_dict(copy.deepcopy(data), source="variant.yaml")


@pytest.mark.parametrize(("originator", "kind"), sorted(EXPECTED))
def test_release_matrix_with_a_marking_open_to_all(
    trilateral: Agreement, originator: str, kind: str
) -> None:
    marking = _marking(*NATIONS)
    for node in trilateral.nodes:
        decision = decide(kind, marking, originator, node.id, trilateral, T)
        if node.nation == originator:
            assert decision.allowed and decision.rule is None, decision
            continue
        expected = EXPECTED[(originator, kind)][node.nation]
        assert decision.allowed == (expected is not None), (node.id, decision)
        assert decision.rule == expected


@pytest.mark.parametrize(("originator", "kind"), sorted(EXPECTED))
def test_a_marking_limited_to_the_originator(
    trilateral: Agreement, originator: str, kind: str
) -> None:
    """Raw reports never leave a nation their marking keeps them in; derived products leave
    only by an overriding rule, which the decision names."""
    marking = _marking(originator)
    for nation in NATIONS:
        if nation == originator:
            continue
        decision = decide(kind, marking, originator, NODE_OF[nation], trilateral, T)
        if kind == "report":
            assert not decision.allowed
            has_rule = EXPECTED[(originator, kind)][nation] is not None
            expected_reason = "marking does not release" if has_rule else "no rule of"
            assert expected_reason in decision.reason
        else:
            assert decision.allowed and decision.rule == EXPECTED[(originator, kind)][nation]
            assert trilateral.rule(decision.rule).overrides_marking
            assert "beyond the inputs' marking" in decision.reason


def test_default_deny(trilateral: Agreement) -> None:
    marking = _marking(*NATIONS)
    cases = [
        ("report", marking, "JPN", "NOWHERE"),  # unknown node
        ("rumour", marking, "JPN", "INDOPACOM"),  # unknown kind
        ("report", marking, "PRK", "INDOPACOM"),  # originator outside the agreement
        ("report", marking, "JPN", "ROK-JCS"),  # no rule
        ("track", _marking("USA"), "USA", "JJOC", "forged"),
    ]
    for kind, mark, originator, node, *forged in cases:
        if forged:
            mark = _marking("USA", "JPN", by="NO-SUCH-RULE")
        decision = decide(kind, mark, originator, node, trilateral, T)
        assert not decision.allowed and decision.rule is None, decision
    own = decide("report", _marking("USA"), "JPN", "JJOC", trilateral, T)
    assert not own.allowed  # even the originating nation needs its marking


def test_classification_ceiling_and_dated_rules() -> None:
    def edit(data: dict[str, Any]) -> None:
        rule = next(r for r in data["release"] if r["id"] == "JPN-REPORT-USA")
        rule["max_classification"] = "CONFIDENTIAL"
        rule["effective_from"] = "2025-01-01"
        rule["effective_to"] = "2027-01-01"

    agreement = _variant(edit)
    conf = _marking("JPN", "USA", classification="CONFIDENTIAL")
    secret = _marking("JPN", "USA", classification="SECRET")
    assert decide("report", conf, "JPN", "INDOPACOM", agreement, T).allowed
    assert not decide("report", secret, "JPN", "INDOPACOM", agreement, T).allowed
    assert not decide("report", conf, "JPN", "INDOPACOM", agreement, "2024-12-31").allowed
    assert not decide("report", conf, "JPN", "INDOPACOM", agreement, "2027-01-01").allowed


def test_remark_applies_overriding_rules_and_records_them(
    trilateral: Agreement, quadrilateral: Agreement
) -> None:
    korean = _marking("KOR", "USA")
    # Raw reports are never widened.
    assert remark("report", korean, "KOR", trilateral, T) == korean
    fused = remark("track", combine_markings([korean, _marking("USA")]), "USA", trilateral, T)
    assert fused.releasable_to == ["JPN", "KOR", "USA"]
    assert fused.released_by == "USA-PICTURE"
    # Nothing to widen: the marking is returned as it was, with no rule recorded.
    already = _marking(*NATIONS)
    assert remark("track", already, "USA", trilateral, T).released_by is None
    # Quadrilateral: the US->AUS rule does not override, so AUS is not added.
    quad = remark("prediction", _marking("USA"), "USA", quadrilateral, T)
    assert quad.releasable_to == ["JPN", "KOR", "USA"] and quad.released_by == "USA-PICTURE"
    alert = remark("alert", _marking("JPN"), "JPN", quadrilateral, T)
    assert alert.releasable_to == ["AUS", "JPN", "KOR", "USA"]
    assert alert.released_by == "JPN-ALERT-ALL"


def test_remark_product_rewrites_the_model(trilateral: Agreement) -> None:
    from sharing_helpers import report, track

    from kizuna.contract import RadarReport, TrackProduct, parse_report
    from kizuna.sharing.policy import remark_product

    combined = _marking("KOR", "USA").model_dump(mode="json")
    product = TrackProduct.model_validate(track("USFK-T7", combined))
    remarked = remark_product(product, "USA", trilateral)
    assert remarked.marking.released_by == "USA-PICTURE"
    assert remarked.marking.releasable_to == ["JPN", "KOR", "USA"]
    assert remarked.track_id == product.track_id and product.marking.released_by is None
    raw = parse_report(report("KOR-R1:5", "KOR", ["KOR", "USA"]))
    assert not isinstance(raw, RadarReport)
    assert remark_product(raw, "KOR", trilateral) is raw  # reports are never re-marked


def test_a_remarked_product_cannot_outlive_its_rule() -> None:
    def edit(data: dict[str, Any]) -> None:
        rule = next(r for r in data["release"] if r["id"] == "USA-PICTURE")
        rule["effective_to"] = "2026-06-01"

    agreement = _variant(edit)
    widened = remark("track", _marking("KOR", "USA"), "USA", agreement, "2026-01-01")
    assert widened.released_by == "USA-PICTURE"
    assert decide("track", widened, "USA", "JJOC", agreement, "2026-01-01").allowed
    late = decide("track", widened, "USA", "JJOC", agreement, "2026-07-01")
    assert not late.allowed and "not in force" in late.reason
    # A marking naming a rule that does not override is refused too.
    forged = _marking("KOR", "USA", "JPN", by="KOR-REPORT-USA")
    assert not decide("track", forged, "USA", "USFK", agreement, "2026-01-01").allowed


def test_korean_raw_report_never_reaches_japan_over_any_route(trilateral: Agreement) -> None:
    routing = route("report", _marking("KOR", "USA"), "KOR", "ROK-JCS", trilateral, T)
    assert routing.reached == {"USFK", "INDOPACOM", "USFJ-JFHQ"}
    assert routing.paths["USFJ-JFHQ"] == ("ROK-JCS", "USFK", "INDOPACOM", "USFJ-JFHQ")
    [hop] = routing.refused
    assert (hop.from_node, hop.to_node) == ("USFJ-JFHQ", "JJOC")
    assert "KOR" in hop.decision.reason


def test_korean_only_launch_reaches_jjoc_through_indopacom_as_a_track(
    trilateral: Agreement,
) -> None:
    track_marking = remark("track", _marking("KOR", "USA"), "USA", trilateral, T)
    routing = route("track", track_marking, "USA", "USFK", trilateral, T)
    assert routing.paths["JJOC"] == ("USFK", "INDOPACOM", "USFJ-JFHQ", "JJOC")
    assert routing.decisions["JJOC"].rule == "USA-PICTURE"
    assert routing.reached == {"ROK-JCS", "INDOPACOM", "USFJ-JFHQ", "JJOC"}


def test_every_hop_is_checked_against_the_originators_rules() -> None:
    # Japan releases tracks to Korea but (in this variant) not to the US: Korea may see them,
    # yet the only path runs through US nodes, so they never reach Seoul.
    def edit(data: dict[str, Any]) -> None:
        rule = next(r for r in data["release"] if r["id"] == "JPN-PICTURE")
        rule["to"] = ["KOR"]

    agreement = _variant(edit)
    marking = _marking(*NATIONS)
    assert decide("track", marking, "JPN", "ROK-JCS", agreement, T).allowed  # one hop alone
    routing = route("track", marking, "JPN", "JJOC", agreement, T)
    assert routing.reached == frozenset()
    assert [(h.from_node, h.to_node) for h in routing.refused] == [("JJOC", "USFJ-JFHQ")]
    assert "KOR" not in reachable_nations("track", "JPN", agreement, T)
    # And the neighbour's own rules never stand in for the originator's: the US releases its
    # reports to Korea, but a Japanese report relayed by US nodes stops there.
    routing = route("report", marking, "JPN", "JJOC", agreement, T)
    assert routing.reached == {"USFJ-JFHQ", "INDOPACOM", "USFK"}
    assert [(h.from_node, h.to_node) for h in routing.refused] == [("USFK", "ROK-JCS")]


def test_dated_links_change_the_routes() -> None:
    def edit(data: dict[str, Any]) -> None:
        data["links"][0]["effective_from"] = "2025-03-24"  # JJOC <-> USFJ-JFHQ

    agreement = _variant(edit)
    marking = _marking("JPN", "USA")
    assert route("report", marking, "JPN", "JJOC", agreement, "2025-01-01").reached == set()
    later = route("report", marking, "JPN", "JJOC", agreement, to_posix("2025-03-24"))
    assert later.reached == {"USFJ-JFHQ", "INDOPACOM", "USFK"}
