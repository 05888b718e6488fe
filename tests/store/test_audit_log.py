"""Hash-chained audit log: every kind of tampering is detected and the right entry is named."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_samples import T0_S, alert, report, track
from typer.testing import CliRunner

from kizuna.store.audit import (
    GENESIS,
    AuditError,
    AuditEvent,
    AuditLog,
    canonical_bytes,
    entry_hash,
    verify,
    verify_paths,
)
from kizuna.timefmt import format_time


def _write_log(path: Path, n: int = 6, node: str = "JJOC") -> list[bytes]:
    """A log of ``n`` entries mixing actions and kinds; returns its lines (with newlines)."""
    with AuditLog(path, node, sync=False) as log:
        for i in range(n):
            item = (report, track, alert)[i % 3]
            obj = (
                item(f"R:{i}", T0_S + i) if item is report else item(f"X{i}", format_time(T0_S + i))
            )
            action = ("received", "released", "refused")[i % 3]
            rule = None if action == "received" else f"rule-{i}"
            log.record(action, obj, rule, peer="INDOPACOM", time_s=T0_S + i + 0.5)
    return path.read_bytes().splitlines(keepends=True)


def _failure_seq(path: Path) -> int:
    result = verify(path)
    assert result.failure is not None, "tampering went undetected"
    return result.failure.seq


def test_a_fresh_log_verifies_and_chains(tmp_path: Path) -> None:
    path = tmp_path / "JJOC.jsonl"
    lines = _write_log(path)
    entries = [json.loads(line) for line in lines]
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5, 6]
    assert entries[0]["prev"] == GENESIS
    for before, after in itertools.pairwise(entries):
        assert after["prev"] == before["hash"]
    for e in entries:
        assert e["hash"] == entry_hash(e)
        assert canonical_bytes(e) + b"\n" in lines
    assert entries[1]["action"] == "released"
    assert entries[1]["kind"] == "track"
    assert entries[1]["key"] == "track:X1:2026-11-25T03:00:01.000Z"
    assert entries[1]["rule"] == "rule-1"
    result = verify(path)
    assert result.ok
    assert (result.entries, result.head_seq, result.head_hash) == (6, 6, entries[-1]["hash"])


def test_reopening_continues_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "JJOC.jsonl"
    _write_log(path, 3)
    with AuditLog(path, "JJOC") as log:
        assert log.head[0] == 3
        entry = log.append("released", "alert", "alert:A:t:issued", "alerts-all", peer="USFK")
    assert entry.seq == 4
    assert verify(path).head_seq == 4


def test_edited_field_is_named(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    lines = _write_log(path)
    entry = json.loads(lines[2])
    entry["rule"] = "rule-that-allows-everything"  # content changed, hash left as it was
    lines[2] = canonical_bytes(entry) + b"\n"
    path.write_bytes(b"".join(lines))
    result = verify(path)
    assert result.failure is not None
    assert (result.failure.seq, result.failure.line) == (3, 3)
    assert "hash does not match" in result.failure.reason
    assert result.entries == 2  # entries before the failure verified


def test_edited_and_rehashed_entry_breaks_the_next_link(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    lines = _write_log(path)
    entry = json.loads(lines[2])
    assert entry["action"] == "refused"
    entry["action"] = "released"
    entry["hash"] = entry_hash(entry)  # a forger who recomputes the entry's own hash
    lines[2] = canonical_bytes(entry) + b"\n"
    path.write_bytes(b"".join(lines))
    failure = verify(path).failure
    assert failure is not None
    assert failure.seq == 4
    assert "prev does not match the hash of entry seq 3" in failure.reason


def test_dropped_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    lines = _write_log(path)
    path.write_bytes(b"".join(lines[:3] + lines[4:]))  # entry 4 removed
    failure = verify(path).failure
    assert failure is not None
    assert failure.seq == 4
    assert "found seq 5 where seq 4 was due" in failure.reason


def test_swapped_lines_are_named(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    lines = _write_log(path)
    lines[1], lines[2] = lines[2], lines[1]
    path.write_bytes(b"".join(lines))
    assert _failure_seq(path) == 2


def test_inserted_forged_entry_is_named(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    lines = _write_log(path)
    previous = json.loads(lines[3])
    forged = {
        "seq": 5,
        "time": previous["time"],
        "node": "JJOC",
        "action": "released",
        "kind": "report",
        "key": "report:KOR-LRR-1:1",
        "rule": None,
        "peer": "USFK",
        "prev": previous["hash"],
    }
    forged["hash"] = entry_hash(forged)
    path.write_bytes(b"".join([*lines[:4], canonical_bytes(forged) + b"\n", *lines[4:]]))
    failure = verify(path).failure
    assert failure is not None
    # The forgery links perfectly to entry 4; the genuine entry 5 after it no longer does.
    assert (failure.seq, failure.line) == (6, 6)


def test_truncated_last_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    lines = _write_log(path)
    path.write_bytes(b"".join(lines)[:-20])
    failure = verify(path).failure
    assert failure is not None
    assert failure.seq == 6
    assert "not terminated" in failure.reason


def test_removing_whole_tail_entries_needs_the_recorded_head(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    lines = _write_log(path)
    head = verify(path)
    path.write_bytes(b"".join(lines[:-2]))
    # A shorter chain is still a valid chain ...
    assert verify(path).ok
    # ... which the head recorded elsewhere exposes.
    result = verify(path, expect_head=(head.head_seq, head.head_hash))
    assert result.failure is not None
    assert result.failure.seq == 5
    assert "entries removed from the end" in result.failure.reason
    assert verify(tmp_path / "log.jsonl", expect_head=(4, head.head_hash)).failure is not None
    assert verify(path, expect_head=(4, json.loads(lines[3])["hash"])).ok


def test_entries_of_another_node_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    _write_log(path, 2, node="USFK")
    assert verify(path, node="JJOC").failure is not None
    with pytest.raises(AuditError, match="belongs to"):
        AuditLog(path, "JJOC")


def test_appending_to_a_broken_log_is_refused_unless_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    lines = _write_log(path, 4)
    path.write_bytes(b"".join(lines[:3]) + lines[3][:15])  # a crash mid-write of entry 4
    with pytest.raises(AuditError, match="broken audit log"):
        AuditLog(path, "JJOC")
    with AuditLog(path, "JJOC", recover_torn_tail=True) as log:
        assert log.head[0] == 3
        log.append("received", "report", "report:x", None)
    assert verify(path).head_seq == 4
    assert Path(f"{path}.torn").read_bytes() == lines[3][:15] + b"\n"

    tampered = tmp_path / "edited.jsonl"
    edited = _write_log(tampered, 3)
    tampered.write_bytes(edited[0].replace(b"INDOPACOM", b"INDOPACOX") + b"".join(edited[1:]))
    with pytest.raises(AuditError, match="seq 1"):
        AuditLog(tampered, "JJOC", recover_torn_tail=True)  # never "repairs" an edit


def test_batch_append_equals_sequential_appends(tmp_path: Path) -> None:
    events = [
        AuditEvent.of("received", report(f"R:{i}", T0_S + i), None, peer="USFK", time_s=T0_S + i)
        for i in range(5)
    ] + [AuditEvent("released", "track", "track:T:1", "rule-x", "JJOC", T0_S + 9.0)]
    with AuditLog(tmp_path / "one.jsonl", "INDOPACOM") as log:
        one_by_one = [
            log.append(e.action, e.kind, e.key, e.rule, peer=e.peer, time_s=e.time_s)
            for e in events
        ]
    with AuditLog(tmp_path / "batch.jsonl", "INDOPACOM") as log:
        assert log.append_many(events[:2]) == one_by_one[:2]
        assert log.append_many([]) == []
        assert log.append_many(events[2:]) == one_by_one[2:]
        assert log.head == (6, one_by_one[-1].hash)
    with AuditLog(tmp_path / "extend.jsonl", "INDOPACOM") as log:
        assert log.extend(events[:3]) == (3, one_by_one[2].hash)  # the head, no entries
        assert log.extend(events[3:]) == log.head == (6, one_by_one[-1].hash)
    for name in ("batch.jsonl", "extend.jsonl"):
        assert (tmp_path / "one.jsonl").read_bytes() == (tmp_path / name).read_bytes()
        assert verify(tmp_path / name).entries == 6


@given(
    action=st.sampled_from(["received", "released", "refused"]),
    key=st.text(min_size=1, max_size=20),
    rule=st.one_of(st.none(), st.text(max_size=12)),
    peer=st.one_of(st.none(), st.text(max_size=12)),
    kind=st.one_of(st.just("report"), st.text(max_size=8)),
    node=st.one_of(st.just("JJOC"), st.text(min_size=1, max_size=8)),
)
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_written_line_is_the_canonical_form_of_the_entry(
    tmp_path: Path, action: str, key: str, rule: str | None, peer: str | None, kind: str, node: str
) -> None:
    # The writer encodes each entry once and splices the hash in; the bytes must be exactly the
    # canonical form verify() recomputes (quotes, escapes and non-ASCII text included).
    path = tmp_path / "splice.jsonl"
    path.unlink(missing_ok=True)
    with AuditLog(path, node, sync=False) as log:
        try:
            entries = log.append_many(
                [AuditEvent(action, kind, key, rule, peer), AuditEvent(action, "track", "k")]  # type: ignore[arg-type]
            )
        except ValueError as refused:  # text with no UTF-8 form (lone surrogates) is refused
            assert "UTF-8" in str(refused)
            texts = (action, kind, key, rule, peer, node)
            assert not all(_encodable(t) for t in texts if t is not None)
            return
    lines = path.read_bytes().splitlines(keepends=True)
    assert lines == [canonical_bytes(e.to_dict()) + b"\n" for e in entries]
    assert all(e.hash == entry_hash(e.to_dict()) for e in entries)
    assert verify(path).ok
    # The writer thread's path (extend_rows) writes the same bytes.
    path.unlink()
    with AuditLog(path, node, sync=False) as log:
        log.extend_rows([(e.action, e.kind, e.key, e.rule, e.peer) for e in entries])
    assert verify(path).ok and verify(path).entries == 2


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def test_unwritable_text_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    with AuditLog(path, "JJOC") as log:
        log.append("received", "report", "report:ok", None)
        with pytest.raises(ValueError, match="UTF-8"):
            log.append_many(
                [
                    AuditEvent("received", "report", "report:fine", None),
                    AuditEvent("received", "report", "report:\ud800", None),
                ]
            )
        with pytest.raises(TypeError, match="rule"):
            log.append("released", "track", "k", 7)  # type: ignore[arg-type]
        assert log.head[0] == 1
    assert verify(path).entries == 1


def test_bad_action_is_refused(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "a.jsonl", "JJOC") as log, pytest.raises(ValueError, match="action"):
        log.append("leaked", "track", "k", None)  # type: ignore[arg-type]


def test_empty_log_verifies(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    result = verify(path)
    assert result.ok and result.entries == 0 and result.head_hash == GENESIS


_ACTION = st.sampled_from(["received", "released", "refused"])
_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    fields=st.lists(
        st.tuples(
            st.sampled_from(["received", "released", "refused"]), _TEXT, _TEXT, _TEXT | st.none()
        ),
        min_size=1,
        max_size=5,
    ),
    where=st.floats(0.0, 1.0, exclude_max=True),
    new_byte=st.integers(0, 255),
    edit=st.sampled_from(["replace", "delete", "insert"]),
)
def test_any_single_byte_change_is_detected(
    tmp_path_factory: pytest.TempPathFactory,
    fields: list[tuple[str, str, str, str | None]],
    where: float,
    new_byte: int,
    edit: str,
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "log.jsonl"
    with AuditLog(path, "ROK-JCS", sync=False) as log:
        for i, (action, kind, key, rule) in enumerate(fields):
            log.append(action, kind, key, rule, peer=key or None, time_s=T0_S + i)  # type: ignore[arg-type]
    data = bytearray(path.read_bytes())
    assert verify(path).ok
    at = int(where * len(data))
    if edit == "replace":
        if data[at] == new_byte:
            new_byte = (new_byte + 1) % 256
        data[at] = new_byte
    elif edit == "delete":
        del data[at]
    else:
        data.insert(at, new_byte)
    path.write_bytes(bytes(data))
    result = verify(path)
    assert result.failure is not None, f"{edit} of byte {at} went undetected"
    # The failure names an entry that exists in the original chain, or the one after it.
    assert 1 <= result.failure.seq <= len(fields) + 1


def test_cli_verify_file_and_directory(tmp_path: Path) -> None:
    from kizuna.interfaces.cli import audit  # noqa: F401  (registers the verb)
    from kizuna.interfaces.cli.main import app

    runner = CliRunner()
    good = tmp_path / "logs" / "JJOC.jsonl"
    bad = tmp_path / "logs" / "USFK.jsonl"
    _write_log(good)
    lines = _write_log(bad, node="USFK")
    ok = runner.invoke(app, ["audit", "verify", str(good)])
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("OK")
    assert "6 entries" in ok.output

    bad.write_bytes(b"".join([lines[0], lines[2], *lines[3:]]))
    failed = runner.invoke(app, ["audit", "verify", str(tmp_path / "logs")])
    assert failed.exit_code == 1
    out = failed.output.splitlines()
    assert out[0].startswith("OK") and "JJOC.jsonl" in out[0]
    assert out[1].startswith("FAIL") and "USFK.jsonl" in out[1] and "entry seq 2" in out[1]

    missing = runner.invoke(app, ["audit", "verify", str(tmp_path / "nope")])
    assert isinstance(missing.exception, AuditError)
    with pytest.raises(AuditError, match=r"no \*\.jsonl"):
        verify_paths(tmp_path)
