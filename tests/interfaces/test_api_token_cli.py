"""``kizuna token``: a token the node's API accepts, signed with the node's own key."""

from __future__ import annotations

import stat

from fastapi.testclient import TestClient

from kizuna.interfaces.api import MemoryNodeView, create_app
from kizuna.interfaces.cli.main import main
from kizuna.sharing import load_agreement


def test_token_verb_prints_a_token_the_node_accepts(tmp_path, capsys):
    assert (
        main(["token", "--node", "ROK-JCS", "--role", "operator", "--data-dir", str(tmp_path)]) == 0
    )
    token = capsys.readouterr().out.strip()
    assert token.startswith("kz1.") and token.count(".") == 2
    key = tmp_path / "ROK-JCS" / "api-token.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    agreement = load_agreement("trilateral")
    app = create_app(MemoryNodeView("ROK-JCS"), agreement, data_dir=tmp_path)
    who = TestClient(app).get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    assert who.status_code == 200
    assert who.json()["role"] == "operator" and who.json()["nation"] == "KOR"
    other = create_app(MemoryNodeView("USFK"), agreement, data_dir=tmp_path)
    r = TestClient(other).get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403


def test_token_verb_errors_are_one_line_and_exit_2(tmp_path, capsys):
    assert main(["token", "--node", "NOPE", "--data-dir", str(tmp_path)]) == 2
    assert "unknown node 'NOPE'" in capsys.readouterr().err
    assert main(["token", "--node", "JJOC", "--role", "admin", "--data-dir", str(tmp_path)]) == 2
    assert "role must be one of viewer, operator" in capsys.readouterr().err
