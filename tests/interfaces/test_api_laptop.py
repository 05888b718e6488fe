"""Laptop mode: every node behind one port, each request served by its token's node."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from kizuna.interfaces.api import MemoryNodeView, issue_token
from kizuna.interfaces.api.multi import claimed_node, create_laptop_app
from kizuna.interfaces.api.samples import marking, track, wrap
from kizuna.sharing import load_agreement

AGREEMENT = load_agreement("trilateral")
KEYS = {"JJOC": b"j" * 32, "USFK": b"u" * 32, "ROK-JCS": b"r" * 32}


def _token(node: str, key_of: str | None = None) -> str:
    return issue_token(KEYS[key_of or node], node=node, role="viewer", agreement="trilateral")


@pytest.fixture
def laptop():
    views = {node: MemoryNodeView(node) for node in KEYS}
    us_only = marking("USA", released_by=None)
    views["USFK"].publish(wrap(track("US-ONLY", mark=us_only), "USFK", AGREEMENT))
    views["JJOC"].publish(wrap(track("JP-1"), "JJOC", AGREEMENT))
    app = create_laptop_app(views, AGREEMENT, default_node="JJOC", token_keys=KEYS)
    return views, TestClient(app)


def test_each_token_reads_its_own_node(laptop):
    _, client = laptop
    for node, expected in (("JJOC", ["JP-1"]), ("USFK", ["US-ONLY"]), ("ROK-JCS", [])):
        r = client.get("/api/v1/tracks", headers={"Authorization": f"Bearer {_token(node)}"})
        assert r.status_code == 200 and r.json()["node"] == node
        assert [i["track_id"] for i in r.json()["items"]] == expected
    # The page and health need no token and come from the default node.
    assert client.get("/").status_code == 200
    assert client.get("/healthz").json()["node"] == "JJOC"


def test_naming_another_node_with_the_wrong_key_gains_nothing(laptop):
    _, client = laptop
    forged = _token("USFK", key_of="JJOC")  # names USFK, signed with JJOC's key
    assert claimed_node(forged) == "USFK"
    r = client.get("/api/v1/tracks", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401  # USFK's app checked it with USFK's key
    stranger = issue_token(b"x" * 32, node="INDOPACOM", role="viewer", agreement="trilateral")
    r = client.get("/api/v1/tracks", headers={"Authorization": f"Bearer {stranger}"})
    assert r.status_code == 403  # not served here: the default node refuses it


def test_websocket_routed_by_query_and_verified_by_that_node(laptop):
    views, client = laptop
    with client.websocket_connect("/ws?node=USFK") as ws:
        ws.send_json({"type": "auth", "token": _token("USFK")})
        assert ws.receive_json()["node"] == "USFK"
        views["USFK"].publish(wrap(track("US-2", mark=marking("USA")), "USFK", AGREEMENT))
        assert ws.receive_json()["item"]["track_id"] == "US-2"
    with client.websocket_connect("/ws?node=USFK") as ws:
        ws.send_json({"type": "auth", "token": _token("JJOC")})
        assert ws.receive_json()["status"] == 403
