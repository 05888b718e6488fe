"""The node API: OpenAPI document, tokens, REST picture, WebSocket, release at every egress."""

from __future__ import annotations

import os
import random
import re
import stat

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from kizuna.contract import Marking
from kizuna.errors import ConfigError
from kizuna.interfaces.api import (
    MemoryNodeView,
    create_app,
    issue_token,
    load_or_create_key,
    node_data_dir,
)
from kizuna.interfaces.api.samples import T0, alert, marking, prediction, track, wrap
from kizuna.sharing import decide, load_agreement
from kizuna.timefmt import format_time

TRILATERAL = load_agreement("trilateral")
QUAD = load_agreement("quadrilateral")
KEY = bytes(range(32))


def _client(view: MemoryNodeView, agreement=TRILATERAL, key: bytes = KEY, **kw) -> TestClient:
    return TestClient(create_app(view, agreement, token_key=key, **kw))


def _auth(node: str, role: str = "viewer", agreement=TRILATERAL, key: bytes = KEY, **kw):
    token = issue_token(key, node=node, role=role, agreement=agreement.name, **kw)
    return {"Authorization": f"Bearer {token}"}


# --- OpenAPI ---------------------------------------------------------------------------------


def test_openapi_document_lists_every_route_with_bearer_auth_and_contract_schemas():
    client = _client(MemoryNodeView("JJOC"))
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    expected = {
        "/api/v1/tracks",
        "/api/v1/tracks/history",
        "/api/v1/predictions",
        "/api/v1/predictions/history",
        "/api/v1/alerts",
        "/api/v1/alerts/history",
        "/api/v1/whoami",
        "/api/v1/agreement",
        "/api/v1/command",
        "/api/v1/geo/regions",
        "/api/v1/geo/coastline",
        "/api/v1/reports",
        "/healthz",
        "/metrics",
    }
    assert expected <= set(doc["paths"])
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    history = doc["paths"]["/api/v1/tracks/history"]["get"]
    assert {p["name"] for p in history["parameters"]} == {"since", "until", "limit"}
    assert {"200", "401", "403"} <= set(history["responses"])
    # The items of the track list are contract tracks plus origin_node.
    served = doc["components"]["schemas"]["ServedTrack"]["properties"]
    assert {"track_id", "velocity_ecef_mps", "marking", "exercise", "origin_node"} <= set(served)
    assert doc["paths"]["/api/v1/reports"]["post"]["responses"]["202"]


# --- credentials ------------------------------------------------------------------------------


def test_missing_malformed_forged_and_expired_tokens_get_401_with_a_clear_message():
    client = _client(MemoryNodeView("JJOC"))
    r = client.get("/api/v1/tracks")
    assert r.status_code == 401
    assert "missing bearer token" in r.json()["detail"]
    assert r.headers["www-authenticate"] == "Bearer"
    r = client.get("/api/v1/tracks", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401 and "malformed" in r.json()["detail"]
    forged = _auth("JJOC", key=b"k" * 32)  # right node, wrong key
    r = client.get("/api/v1/tracks", headers=forged)
    assert r.status_code == 401 and "signature" in r.json()["detail"]
    # A payload edited to claim operator invalidates the signature.
    good = issue_token(KEY, node="JJOC", role="viewer", agreement="trilateral")
    prefix, payload, sig = good.split(".")
    import base64
    import json

    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "operator"
    edited = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    r = client.get("/api/v1/tracks", headers={"Authorization": f"Bearer {prefix}.{edited}.{sig}"})
    assert r.status_code == 401
    old = _auth("JJOC", now_s=T0 - 10 * 86400, ttl_s=3600)
    r = client.get("/api/v1/tracks", headers=old)
    assert r.status_code == 401 and "expired" in r.json()["detail"]


def test_token_of_another_node_or_agreement_gets_403_and_a_viewer_cannot_submit():
    client = _client(MemoryNodeView("JJOC"))
    r = client.get("/api/v1/tracks", headers=_auth("ROK-JCS"))
    assert r.status_code == 403
    assert r.json()["detail"] == "token is for node 'ROK-JCS'; this is node 'JJOC'"
    r = client.get("/api/v1/tracks", headers=_auth("JJOC", agreement=QUAD))
    assert r.status_code == 403 and "agreement" in r.json()["detail"]
    r = client.post("/api/v1/reports", headers=_auth("JJOC", "viewer"), content=b"{}")
    assert r.status_code == 403 and "operator" in r.json()["detail"]


def test_token_for_node_a_cannot_read_node_b_even_with_one_data_dir(tmp_path):
    # Laptop mode: every node's key lives under one data dir, each in its own file.
    view_a, view_b = MemoryNodeView("JJOC"), MemoryNodeView("USFK")
    app_a = create_app(view_a, TRILATERAL, data_dir=tmp_path)
    app_b = create_app(view_b, TRILATERAL, data_dir=tmp_path)
    key_a = load_or_create_key(node_data_dir(tmp_path, "JJOC"))
    key_b = load_or_create_key(node_data_dir(tmp_path, "USFK"))
    assert key_a != key_b
    token_a = issue_token(key_a, node="JJOC", role="operator", agreement="trilateral")
    headers = {"Authorization": f"Bearer {token_a}"}
    assert TestClient(app_a).get("/api/v1/whoami", headers=headers).json()["node"] == "JJOC"
    assert TestClient(app_b).get("/api/v1/tracks", headers=headers).status_code == 403
    # Re-signing a token that names node B with A's key does not help either.
    forged = issue_token(key_a, node="USFK", role="operator", agreement="trilateral")
    r = TestClient(app_b).get("/api/v1/tracks", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401


def test_key_file_is_created_0600_once_and_a_readable_key_is_refused(tmp_path):
    node_dir = node_data_dir(tmp_path, "JJOC")
    key = load_or_create_key(node_dir)
    path = node_dir / "api-token.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) == 32 and load_or_create_key(node_dir) == key
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_or_create_key(node_dir)


# --- the picture -----------------------------------------------------------------------------


def _picture(view: MemoryNodeView, agreement=TRILATERAL) -> None:
    for i in range(5):
        view.publish(wrap(track("T1", t=T0 + i, lat=39 + 0.1 * i), "JJOC", agreement))
    us_mark = marking("JPN", "KOR", "USA", released_by="USA-PICTURE")
    view.publish(wrap(track("T2", t=T0 + 2, mark=us_mark), "USFJ-JFHQ", agreement))
    view.publish(wrap(prediction("T1", t=T0 + 4), "JJOC", agreement))
    view.publish(wrap(alert("A1", t=T0 + 3), "JJOC", agreement))
    view.publish(wrap(alert("A2", t=T0 + 3), "JJOC", agreement))
    view.publish(wrap(alert("A2", t=T0 + 4, status="cancelled"), "JJOC", agreement))


def test_current_and_history_with_time_filters():
    view = MemoryNodeView("JJOC")
    _picture(view)
    client = _client(view)
    h = _auth("JJOC")
    current = client.get("/api/v1/tracks", headers=h).json()
    assert current["count"] == 2
    latest = {i["track_id"]: i for i in current["items"]}
    assert latest["T1"]["time"] == format_time(T0 + 4) and latest["T1"]["lat"] == pytest.approx(
        39.4
    )
    assert latest["T2"]["origin_node"] == "USFJ-JFHQ"
    hist = client.get(
        "/api/v1/tracks/history",
        params={"since": format_time(T0 + 1), "until": format_time(T0 + 3)},
        headers=h,
    ).json()
    assert [i["time"] for i in hist["items"]] == [
        format_time(T0 + 1),
        format_time(T0 + 2),
        format_time(T0 + 2),
    ]
    numeric = client.get("/api/v1/tracks/history", params={"since": T0 + 4}, headers=h).json()
    assert numeric["count"] == 1
    assert client.get("/api/v1/tracks/history", params={"limit": 2}, headers=h).json()["count"] == 2
    bad = client.get("/api/v1/tracks/history", params={"since": "yesterday"}, headers=h)
    assert bad.status_code == 422 and "since" in bad.json()["detail"]
    alerts = client.get("/api/v1/alerts", headers=h).json()
    assert [a["alert_id"] for a in alerts["items"]] == ["A1"]  # A2 was cancelled
    assert client.get("/api/v1/alerts/history", headers=h).json()["count"] == 3
    preds = client.get("/api/v1/predictions", headers=h).json()["items"]
    assert preds[0]["impact"]["ellipse_95"]["semi_major_m"] == 60_000.0


def test_agreement_and_command_structure_in_force():
    client = _client(MemoryNodeView("USFJ-JFHQ"))
    h = _auth("USFJ-JFHQ")
    before = client.get("/api/v1/command", params={"at": "2024-06-01"}, headers=h).json()
    after = client.get("/api/v1/command", params={"at": "2025-06-01"}, headers=h).json()
    assert before["chain_of_command"] == after["chain_of_command"] == ["USFJ-JFHQ", "INDOPACOM"]

    def role(doc):
        return next(r["role"] for r in doc["relations"] if r["node"] == "USFJ-JFHQ")

    assert "administrative" in role(before) and "Joint Force Headquarters" in role(after)
    assert after["subordinates"]["INDOPACOM"] == ["USFJ-JFHQ", "USFK"]
    doc = client.get("/api/v1/agreement", params={"at": "2026-01-01"}, headers=h).json()
    assert doc["name"] == "trilateral"
    assert ["JJOC", "USFJ-JFHQ"] in doc["links_in_force"]
    rule = next(r for r in doc["release_rules_in_force"] if r["id"] == "USA-ALERT-ALL")
    assert rule["to"] == ["JPN", "KOR"] and rule["overrides_marking"] is True


def test_operator_submits_a_position_report_and_bad_reports_get_422():
    view = MemoryNodeView("JJOC")
    client = _client(view)
    report = {
        "id": "JPN-NAT-1:0001",
        "time": "2026-11-25T03:12:45.250Z",
        "sensor": {"id": "JPN-NAT-1", "nation": "JPN", "lat": 35.0, "lon": 139.0, "alt_m": 0.0},
        "kind": "position",
        "lat": 40.0,
        "lon": 135.0,
        "alt_m": 200000.0,
        "sigma_m": 500.0,
        "marking": {"classification": "SECRET", "releasable_to": ["JPN", "USA"]},
        "exercise": False,
    }
    r = client.post("/api/v1/reports", json=report, headers=_auth("JJOC", "operator"))
    assert r.status_code == 202 and r.json() == {"accepted": "JPN-NAT-1:0001", "kind": "position"}
    assert view.submitted[0][0].id == "JPN-NAT-1:0001"
    r = client.post(
        "/api/v1/reports", json={**report, "lat": 95.0}, headers=_auth("JJOC", "operator")
    )
    assert r.status_code == 422 and "lat" in r.json()["detail"]
    huge = client.post("/api/v1/reports", content=b" " * 70_000, headers=_auth("JJOC", "operator"))
    assert huge.status_code == 413


def test_healthz_is_open_and_metrics_are_prometheus_text_behind_a_token():
    view = MemoryNodeView("JJOC")
    _picture(view)
    client = _client(view)
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/metrics").status_code == 401
    h = _auth("JJOC")
    client.get("/api/v1/tracks", headers=h)
    client.get("/api/v1/tracks", headers=_auth("USFK"))
    r = client.get("/metrics", headers=h)
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = r.text
    sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?\d')
    for line in text.splitlines():
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or sample.match(line), line
    assert 'kizuna_products_served_total{channel="http",kind="track"} 2' in text
    assert 'kizuna_auth_failures_total{channel="http",status="403"} 1' in text
    assert 'kizuna_api_requests_total{route="/api/v1/tracks",status="200"} 1' in text
    assert "# TYPE kizuna_ws_clients gauge" in text


# --- leaks ------------------------------------------------------------------------------------


def test_products_the_agreement_keeps_from_the_node_are_never_served():
    # Quadrilateral: the US shares its picture with Australia only where the inputs' marking
    # already allows Australia (USA-PICTURE-AUS does not override), and Japan has no rule for
    # Australia at all. Publish into ADF-JOC's view what must not reach it.
    view = MemoryNodeView("ADF-JOC")
    leak_us = track("LEAK-US", mark=marking("JPN", "KOR", "USA", released_by="USA-PICTURE"))
    leak_jp = track("LEAK-JP", mark=marking("AUS", "JPN", "USA"))
    ok_us = track("OK-US", mark=marking("AUS", "USA"))
    view.publish(wrap(leak_us, "INDOPACOM", QUAD))
    view.publish(wrap(leak_jp, "JJOC", QUAD))
    view.publish(wrap(ok_us, "INDOPACOM", QUAD))
    view.publish(wrap(alert("A-JP"), "JJOC", QUAD))  # alerts: JPN-ALERT-ALL overrides
    client = _client(view, QUAD)
    h = _auth("ADF-JOC", agreement=QUAD)
    for path in ("/api/v1/tracks", "/api/v1/tracks/history"):
        body = client.get(path, headers=h).json()
        assert [i["track_id"] for i in body["items"]] == ["OK-US"]
        assert body["withheld"] == 2
    assert [a["alert_id"] for a in client.get("/api/v1/alerts", headers=h).json()["items"]] == [
        "A-JP"
    ]
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "auth", "token": h["Authorization"][7:]})
        assert ws.receive_json()["type"] == "hello"
        view.publish(wrap(track("LEAK-US", t=T0 + 1, mark=leak_us.marking), "INDOPACOM", QUAD))
        view.publish(wrap(track("OK-US", t=T0 + 1, mark=ok_us.marking), "INDOPACOM", QUAD))
        got = ws.receive_json()
        assert got["type"] == "product" and got["item"]["track_id"] == "OK-US"


def test_random_markings_served_exactly_where_the_policy_allows():
    rng = random.Random(20261125)
    view = MemoryNodeView("ADF-JOC")
    nations = ["AUS", "JPN", "KOR", "USA"]
    origins = {"USA": "INDOPACOM", "JPN": "JJOC", "KOR": "ROK-JCS", "AUS": "ADF-JOC"}
    expected = set()
    for i in range(200):
        nation = rng.choice(nations)
        mark = Marking(
            classification=rng.choice(["UNCLASSIFIED", "CONFIDENTIAL", "SECRET"]),
            releasable_to=rng.sample(nations, rng.randint(1, 4)),
        )
        kind = rng.choice(["track", "alert"])
        product = (
            track(f"T{i}", mark=mark) if kind == "track" else alert(f"A{i}", f"T{i}", mark=mark)
        )
        env = wrap(product, origins[nation], QUAD)
        view.publish(env)
        if decide(kind, mark, nation, "ADF-JOC", QUAD, env.time).allowed:
            expected.add((kind, f"T{i}" if kind == "track" else f"A{i}"))
    client = _client(view, QUAD)
    h = _auth("ADF-JOC", agreement=QUAD)
    served = {
        ("track", i["track_id"])
        for i in client.get("/api/v1/tracks/history", headers=h).json()["items"]
    }
    served |= {
        ("alert", i["alert_id"])
        for i in client.get("/api/v1/alerts/history", headers=h).json()["items"]
    }
    assert served == expected
    assert 0 < len(expected) < 200  # both outcomes occurred


# --- WebSocket --------------------------------------------------------------------------------


def test_websocket_streams_live_products_after_auth_message():
    view = MemoryNodeView("JJOC")
    client = _client(view)
    token = _auth("JJOC")["Authorization"][7:]
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "auth", "token": token})
        hello = ws.receive_json()
        assert hello == {
            "type": "hello",
            "node": "JJOC",
            "role": "viewer",
            "agreement": "trilateral",
        }
        view.publish(wrap(track("T9", lat=41.0), "JJOC", TRILATERAL))
        view.publish(wrap(alert("A9", "T9", exercise=True), "JJOC", TRILATERAL))
        first, second = ws.receive_json(), ws.receive_json()
        assert first["kind"] == "track" and first["item"]["lat"] == 41.0
        assert second["kind"] == "alert" and second["item"]["exercise"] is True
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}


def test_websocket_with_header_token_and_refusals():
    view = MemoryNodeView("JJOC")
    client = _client(view)
    with client.websocket_connect("/ws", headers=_auth("JJOC")) as ws:
        assert ws.receive_json()["type"] == "hello"
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "auth", "token": "nonsense"})
        error = ws.receive_json()
        assert error["type"] == "error" and error["status"] == 401
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4401
    with client.websocket_connect("/ws", headers=_auth("USFK")) as ws:
        error = ws.receive_json()
        assert error["status"] == 403 and "USFK" in error["detail"]
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4403
    assert view.subscriber_count == 0
