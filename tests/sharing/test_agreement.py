"""The agreement file: loading, readable validation errors, the dated command structure."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from kizuna.errors import ConfigError
from kizuna.interfaces.cli.main import main
from kizuna.sharing.agreement import (
    Agreement,
    load_agreement,
    parse_agreement,
    shipped_agreements,
    to_posix,
)

TRILATERAL_PATH = shipped_agreements()["trilateral"]


def _raw() -> dict[str, Any]:
    return yaml.safe_load(TRILATERAL_PATH.read_text())


def test_shipped_agreements_load_by_name_and_by_path() -> None:
    assert set(shipped_agreements()) >= {"trilateral", "quadrilateral"}
    by_name = load_agreement("trilateral")
    by_path = load_agreement(TRILATERAL_PATH)
    default = load_agreement()
    for agreement in (by_name, by_path, default):
        assert agreement.name == "trilateral"
        assert set(agreement.node_ids) == {"INDOPACOM", "USFJ-JFHQ", "USFK", "JJOC", "ROK-JCS"}
        assert set(agreement.nation_codes) == {"USA", "JPN", "KOR"}


def test_unknown_agreement_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ConfigError) as info:
        load_agreement("bilateral-typo")
    assert "bilateral-typo" in str(info.value)
    assert "trilateral" in str(info.value) and "quadrilateral" in str(info.value)


def test_usfj_reports_to_indopacom_before_and_after_reconstitution(trilateral: Agreement) -> None:
    before = trilateral.superior("USFJ-JFHQ", "2024-06-01")
    after = trilateral.superior("USFJ-JFHQ", "2026-01-01")
    assert before is not None and after is not None
    assert before.reports_to == "INDOPACOM" and after.reports_to == "INDOPACOM"
    # Same superior, different relation: the reconstitution is a dated entry, not a constant.
    assert "sub-unified" in before.role
    assert "Joint Force Headquarters" in after.role
    assert before is not after


def test_command_relations_are_half_open_in_utc(trilateral: Agreement) -> None:
    change = to_posix("2025-03-30")
    just_before = trilateral.superior("USFJ-JFHQ", change - 0.001)
    at_change = trilateral.superior("USFJ-JFHQ", change)
    assert just_before is not None and "sub-unified" in just_before.role
    assert at_change is not None and "Joint Force" in at_change.role
    # Before USFJ existed (established 1957) nothing is in force.
    assert trilateral.superior("USFJ-JFHQ", "1950-01-01") is None


def test_command_tree_and_chain(trilateral: Agreement) -> None:
    tree = trilateral.command_tree("2026-01-01")
    assert sorted(tree["INDOPACOM"]) == ["USFJ-JFHQ", "USFK"]
    assert set(trilateral.roots("2026-01-01")) == {"INDOPACOM", "JJOC", "ROK-JCS"}
    assert trilateral.chain_of_command("USFK", "2026-01-01") == ["USFK", "INDOPACOM"]


def test_japan_and_korea_link_to_the_us_not_to_each_other(trilateral: Agreement) -> None:
    jpn = {n.id for n in trilateral.nodes_of("JPN")}
    kor = {n.id for n in trilateral.nodes_of("KOR")}
    for a, b in trilateral.links_in_force("2026-01-01"):
        assert not ({a, b} & jpn and {a, b} & kor), (a, b)
    assert trilateral.neighbours("JJOC", "2026-01-01") == ["USFJ-JFHQ"]
    assert trilateral.neighbours("ROK-JCS", "2026-01-01") == ["USFK"]


def test_quadrilateral_only_adds_to_the_trilateral(
    trilateral: Agreement, quadrilateral: Agreement
) -> None:
    assert set(quadrilateral.nation_codes) - set(trilateral.nation_codes) == {"AUS"}
    assert set(trilateral.node_ids) < set(quadrilateral.node_ids)
    assert {r.id for r in trilateral.release} < {r.id for r in quadrilateral.release}
    # `to: all` alert rules reach the new partner without being edited.
    assert ("JPN", "alert", "AUS") in quadrilateral.release_matrix()
    assert ("JPN", "alert", "AUS") not in trilateral.release_matrix()
    assert ("JPN", "track", "AUS") not in quadrilateral.release_matrix()


def _mutate(path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(_raw())
    target: Any = data
    keys = path.split("/")
    for key in keys[:-1]:
        target = target[int(key)] if key.isdigit() else target[key]
    last = keys[-1]
    if value is _DELETE:
        del target[last]
    elif last.isdigit():
        target[int(last)] = value
    else:
        target[last] = value
    return data


_DELETE = object()

# (mutation path, new value, expected field in the message, expected words of the reason)
BAD_AGREEMENTS = [
    ("nodes/0/nation", "USX", "nodes[0].nation", "unknown nation 'USX'"),
    ("nodes/1/id", "usfj jfhq", "nodes[1].id", "must be a node id"),
    ("nodes/2/location", {"lat": 95.0, "lon": 127.0}, "nodes[2].location.lat", "less than"),
    ("command/0/reports_to", "PACOM", "command[0].reports_to", "unknown node 'PACOM'"),
    ("command/1/effective_from", "2025-01-01", "command[1].effective_from", "must not overlap"),
    ("command/0/effective_to", "1950-01-01", "command[0].effective_to", "after effective_from"),
    ("command/0/effective_from", "yesterday", "command[0].effective_from", "not a date"),
    ("links/0/between", ["JJOC", "ROK-JCS-X"], "links[0].between[1]", "unknown node"),
    ("release/1/to/0", "KOE", "release[1].to[0]", "unknown nation 'KOE'"),
    ("release/1/to/0", "usa", "release[1].to[0]", "nation code of 3 capital letters"),
    ("release/1/to", "everyone", "release[1].to", "list of nation codes or the word all"),
    ("release/1/effective_from", "2026-01-01T00:00:00", "release[1].effective_from", "no UTC"),
    ("release/1/to", ["JPN"], "release[1].to[0]", "does not release to itself"),
    ("release/1/kinds", ["report", "radar"], "release[1].kinds[1]", "Input should be"),
    ("release/1/overrides_marking", True, "release[1].overrides_marking", "raw reports"),
    ("release/2/id", "JPN-REPORT-USA", "release[2].id", "used twice"),
    ("release/3/overides_marking", True, "release[3].overides_marking", "unknown field"),
    ("release/4/from", _DELETE, "release[4].from", "field required"),
    ("nations", [], "nations", "at least 1"),
]


@pytest.mark.parametrize(("path", "value", "field", "reason"), BAD_AGREEMENTS)
def test_validation_errors_name_file_field_and_reason(
    tmp_path: Path, path: str, value: Any, field: str, reason: str
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_mutate(path, value), sort_keys=False))
    with pytest.raises(ConfigError) as info:
        load_agreement(bad)
    error = info.value
    assert error.source == str(bad)
    assert error.field == field
    assert reason in error.reason
    assert str(error).startswith(f"{bad}: {field}: ")
    assert "\n" not in str(error)


def test_command_cycle_is_rejected() -> None:
    data = _raw()
    data["command"].append(
        {"node": "INDOPACOM", "reports_to": "USFK", "effective_from": "2026-06-01"}
    )
    with pytest.raises(ConfigError) as info:
        Agreement.from_dict(data, source="cyclic.yaml")
    # Either relation of the cycle may be named; both are in it.
    assert info.value.field in {"command[2].reports_to", "command[3].reports_to"}
    assert "cycle" in info.value.reason and "2026-06-01" in info.value.reason


def test_duplicate_yaml_key_and_bad_yaml_are_readable() -> None:
    text = TRILATERAL_PATH.read_text().replace("name: trilateral", "name: trilateral\nname: x", 1)
    with pytest.raises(ConfigError) as info:
        parse_agreement(text, source="dup.yaml")
    assert "duplicate key 'name'" in str(info.value) and str(info.value).startswith("dup.yaml")
    with pytest.raises(ConfigError) as info:
        parse_agreement("nations: [\n  - {code: USA", source="broken.yaml")
    assert "line" in str(info.value) and "not valid YAML" in str(info.value)


def test_cli_reports_a_bad_agreement_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_mutate("release/1/to/0", "KOE"), sort_keys=False))
    status = main(["agreement", "show", str(bad)])
    err = capsys.readouterr().err
    assert status == 2
    assert (
        err.strip() == f"kizuna: error: {bad}: release[1].to[0]: unknown nation 'KOE' "
        "(known: USA, JPN, KOR)"
    )
    assert "Traceback" not in err


def test_cli_agreement_at_and_show(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["agreement", "at", "2024-06-01"]) == 0
    before = capsys.readouterr().out
    assert "USFJ-JFHQ reports to INDOPACOM as US Forces Japan, sub-unified" in before
    assert main(["agreement", "at", "2026-01-01", "--agreement", "quadrilateral"]) == 0
    after = capsys.readouterr().out
    assert "USFJ-JFHQ reports to INDOPACOM as Joint Force Headquarters" in after
    assert "ADF-JOC" in after
    assert main(["agreement", "show", "trilateral", "--at", "2026-01-01"]) == 0
    shown = capsys.readouterr().out
    assert "JPN-REPORT-USA" in shown and "USA-PICTURE*" in shown and "Release matrix" in shown
    assert main(["agreements"]) == 0
    listed = capsys.readouterr().out
    assert "trilateral (default)" in listed and "quadrilateral" in listed
