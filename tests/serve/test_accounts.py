"""Accounts (``dermaseg serve --auth``): the users CLI end to end, 401 on every /api route but the public
ones, login with a HttpOnly SameSite=Strict cookie, bearer tokens, rate-limited failed logins, per-account
isolation of images, the role matrix, and the append-only audit log."""

from __future__ import annotations

import io
import sqlite3

import pytest

from dermaseg.data.synthetic import make_image
from dermaseg.serve.auth import PERMISSIONS, ROLES, UserDB
from dermaseg.serve.gate import action_for

from ..clirun import run_cli_out_err
from .conftest import png_bytes

PW = {"ana": "ana-password-1", "rui": "rui-password-2", "eva": "eva-password-3"}
ROLE = {"ana": "annotator", "rui": "reviewer", "eva": "admin"}


@pytest.fixture(scope="module")
def users_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("acc") / "users.sqlite"
    db = UserDB(path, create=True)
    for name, pw in PW.items():
        db.add(name, ROLE[name], pw)
    return path


@pytest.fixture
def server(make_client, users_db):
    return make_client(users=users_db)


@pytest.fixture(scope="module")
def png():
    return png_bytes(make_image(64, 80, seed=3)[0])


def _login(c, name, pw=None):
    return c.post("/api/login", json={"name": name, "password": pw or PW[name]})


def _bearer(users_db, name) -> dict:
    return {"Authorization": f"Bearer {UserDB(users_db).new_token(name)}"}


def test_users_cli_end_to_end(tmp_path, capsys, monkeypatch):
    w = tmp_path / "ws"
    w.mkdir()
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-pass\n"))
    code, out, err = run_cli_out_err(["users", "add", "ana", "--role", "annotator", "--workspace", w], capsys)
    assert code == 0 and "added ana (annotator)" in out and (w / "users.sqlite").is_file()
    assert UserDB(w / "users.sqlite").verify("ana", "s3cret-pass").role == "annotator"
    assert UserDB(w / "users.sqlite").verify("ana", "s3cret-pass\n") is None
    code, token, _ = run_cli_out_err(["users", "token", "ana", "--workspace", w], capsys)
    assert code == 0 and UserDB(w / "users.sqlite").token_user(token.strip()).name == "ana"
    code, out, _ = run_cli_out_err(["users", "list", "--workspace", w], capsys)
    assert code == 0 and "ana" in out and "annotator" in out and "tokens 1" in out
    monkeypatch.setattr("sys.stdin", io.StringIO("another-pass\n"))
    assert run_cli_out_err(["users", "passwd", "ana", "--workspace", w], capsys)[0] == 0
    db = UserDB(w / "users.sqlite")
    assert db.verify("ana", "another-pass") and not db.verify("ana", "s3cret-pass")
    assert db.token_user(token.strip()) is None  # a new password revokes tokens
    for args, msg in ((["add", "bob", "--role", "boss"], "expected one of annotator, reviewer, admin"),
                      (["add", "ana", "--role", "admin"], "already exists"),
                      (["add", "bad name", "--role", "admin"], "user name"),
                      (["remove", "nobody"], "no such user")):
        monkeypatch.setattr("sys.stdin", io.StringIO("long-enough-pw\n"))
        code, out, err = run_cli_out_err(["users", *args, "--workspace", w], capsys)
        assert code == 2 and msg in err and err.count("\n") == 1, err
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    code, _, err = run_cli_out_err(["users", "add", "bob", "--role", "admin", "--workspace", w], capsys)
    assert code == 2 and "at least 8 characters" in err
    assert run_cli_out_err(["users", "remove", "ana", "--workspace", w], capsys)[0] == 0
    code, out, _ = run_cli_out_err(["users", "log", "--workspace", w], capsys)
    assert code == 0 and "user added" in out and "user removed" in out and "token issued" in out
    code, _, err = run_cli_out_err(["users", "list"], capsys)
    assert code == 2 and "--workspace" in err
    code, _, err = run_cli_out_err(["serve", "--host", "0.0.0.0", "--port", "0"], capsys)
    assert code == 2 and "--auth" in err


def test_every_api_route_but_the_public_ones_needs_credentials(server, png):
    seen = 0
    for path, ops in server.get("/openapi.json").json()["paths"].items():  # every route the app has
        assert path.startswith("/api")
        for method in sorted(m.upper() for m in ops):
            url = path.replace("{image_id}", "0" * 32)
            r = server.request(method, url)
            if path in ("/api/health", "/api/login", "/api/logout", "/api/me"):
                assert r.status_code != 401, path
            else:
                assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", (method, path)
                seen += 1
    assert seen >= 10
    assert server.get("/api/me").json() == {"auth": True, "user": None, "role": None, "mode": "accounts"}
    r = server.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert server.get("/login").status_code == 200 and server.get("/static/login.js").status_code == 200
    for bad in ("Bearer nope", "Bearer ", "Basic YW5hOmFuYQ=="):
        assert server.get("/api/models", headers={"Authorization": bad}).status_code == 401
    r = server.post("/api/images", files={"file": ("a.png", png, "image/png")},
                    headers={"Cookie": "dermaseg_session=forged"})
    assert r.status_code == 401 and server.app.state.store.ids() == []


def test_login_cookie_and_rate_limit(server):
    r = _login(server, "ana")
    assert r.status_code == 200 and r.json() == {"user": "ana", "role": "annotator"}
    cookie = r.headers["set-cookie"]
    assert "dermaseg_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie.replace(
        "Strict", "strict") and "Path=/" in cookie
    assert server.get("/api/me").json()["user"] == "ana"
    assert server.get("/api/models").status_code == 200
    assert server.get("/", follow_redirects=False).status_code == 200
    server.post("/api/logout")
    server.cookies.clear()
    assert server.get("/api/models").status_code == 401
    for _ in range(5):
        assert _login(server, "rui", "wrong-password").status_code == 401
    r = _login(server, "rui")  # right password, but locked out
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert _login(server, "nobody", "x" * 9).status_code == 429  # the address is locked out too
    r = _login(server, "eva", "a" * 5000)
    assert r.status_code in (422, 429)


def test_each_account_sees_only_its_own_images(server, users_db, png):
    ana, eva = _bearer(users_db, "ana"), _bearer(users_db, "eva")
    iid = server.post("/api/images", files={"file": ("a.png", png, "image/png")}, headers=ana).json()["id"]
    assert server.get(f"/api/images/{iid}", headers=ana).status_code == 200
    before = server.get(f"/api/images/{iid}/mask.png", headers=ana).content
    for method, url, kw in (("GET", f"/api/images/{iid}", {}), ("GET", f"/api/images/{iid}/mask.png", {}),
                            ("GET", f"/api/images/{iid}/image.png", {}),
                            ("GET", f"/api/images/{iid}/measurements", {}),
                            ("POST", f"/api/images/{iid}/predict", {"json": {"box": [5, 5, 60, 50]}}),
                            ("PUT", f"/api/images/{iid}/mask", {"content": png}),
                            ("DELETE", f"/api/images/{iid}", {})):
        r = server.request(method, url, headers=eva, **kw)  # even an admin: another account's upload
        assert r.status_code == 404 and "no such image" in r.json()["detail"], (method, url)
        assert r.json() == server.get(f"/api/images/{'f' * 32}", headers=eva).json() | {
            "detail": r.json()["detail"]}
    assert server.get(f"/api/images/{iid}/mask.png", headers=ana).content == before
    assert server.get(f"/api/images/{iid}", headers=ana).json()["mask_kind"] == "auto"
    assert server.delete(f"/api/images/{iid}", headers=ana).status_code == 200


def test_role_matrix(server, users_db):
    heads = {n: _bearer(users_db, n) for n in PW}
    for name, h in heads.items():
        r = server.get("/api/stats", headers=h)
        assert r.status_code == (200 if ROLE[name] == "admin" else 403), name
        if r.status_code == 403:
            assert f"{name} ({ROLE[name]}) may not admin" in r.json()["detail"]
        # approving (a workspace route): the gate lets reviewers and admins through (the route itself
        # is not on this server: 404), and refuses annotators
        r = server.post(f"/api/images/{'0' * 32}/status", json={"status": "approved"}, headers=h)
        assert (r.status_code == 403) == (ROLE[name] == "annotator"), name
        r = server.post("/api/workspace/finetune", headers=h)  # reviewers and admins (404: no workspace)
        assert (r.status_code == 403) == (ROLE[name] == "annotator"), name
        r = server.post("/api/workspace/models/v1/current", headers=h)
        assert (r.status_code == 403) == (ROLE[name] == "annotator"), name
    table = {(a, r): r in PERMISSIONS[a] for a in PERMISSIONS for r in ROLES}
    assert not table[("approve", "annotator")] and table[("approve", "reviewer")]
    assert table[("delete", "admin")] and not table[("delete", "reviewer")]
    assert table[("finetune", "reviewer")] and not table[("finetune", "annotator")]
    assert action_for("DELETE", "/api/images/x") == "edit"  # ephemeral: one's own upload
    assert action_for("DELETE", "/api/images/x", workspace=True) == "delete"
    assert action_for("POST", "/api/something-new") == "admin"  # fail closed


def test_audit_log_records_who_what_when_where(server, users_db, png):
    ana = _bearer(users_db, "ana")
    n0 = len(UserDB(users_db).log())
    iid = server.post("/api/images", files={"file": ("a.png", png, "image/png")}, headers=ana).json()["id"]
    server.post(f"/api/images/{iid}/predict", json={"box": [5, 5, 60, 50]}, headers=ana)
    server.delete(f"/api/images/{iid}", headers=_bearer(users_db, "rui"))  # not rui's: 404, logged
    _login(server, "eva", "wrong-password-x")
    log = UserDB(users_db).log()[n0:]
    rows = [(e["user"], e["action"], e["image_id"], e["detail"].get("status")) for e in log]
    assert ("ana", "POST /api/images", None, 201) in rows
    assert ("ana", f"POST /api/images/{iid}/predict", iid, 200) in rows
    assert ("rui", f"DELETE /api/images/{iid}", iid, 404) in rows
    assert ("eva", "login failed", None, None) in rows
    assert all(e["remote"] == "testclient" and e["time"].endswith("+00:00") for e in log)
    with sqlite3.connect(users_db) as db, pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE audit SET user='x'")
    with sqlite3.connect(users_db) as db, pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM audit")


def test_without_auth_the_page_says_local_no_accounts(make_client):
    c = make_client()
    assert c.get("/api/me").json()["mode"] == "local, no accounts"
    assert c.get("/api/models").status_code == 200 and c.get("/", follow_redirects=False).status_code == 200
    assert c.post("/api/login", json={"name": "a", "password": "b"}).status_code == 404


def test_workspace_review_log_names_the_signed_in_account(make_client, tmp_path, capsys):
    import shutil
    from pathlib import Path

    import numpy as np

    from dermaseg.workspace.store import Workspace

    data = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "isic2017" / "ISIC-2017_Validation_Data"
    if not data.is_dir():
        pytest.skip("needs ../shared/data/isic2017")
    src = tmp_path / "in"
    src.mkdir()
    for p in sorted(data.glob("*.jpg"))[:1]:
        shutil.copy(p, src / p.name)
    Workspace.init(tmp_path / "ws", [src]).close()
    db = UserDB(tmp_path / "ws" / "users.sqlite", create=True)
    db.add("ana", "annotator", PW["ana"])
    db.add("rui", "reviewer", PW["rui"])
    c = make_client(workspace=tmp_path / "ws", auto_background=False, users=tmp_path / "ws" / "users.sqlite")
    ana = {"Authorization": f"Bearer {db.new_token('ana')}"}
    rui = {"Authorization": f"Bearer {db.new_token('rui')}"}
    assert c.get("/api/workspace/images").status_code == 401
    img = c.get("/api/workspace/images", headers=ana).json()[0]
    iid, h, w = img["id"], img["height"], img["width"]
    mask = np.zeros((h, w), np.uint8)
    mask[10:50, 10:60] = 255
    assert c.put(f"/api/images/{iid}/mask", content=png_bytes(mask), headers=ana).status_code == 200
    r = c.post(f"/api/images/{iid}/status", json={"status": "approved"}, headers=ana)
    assert r.status_code == 403  # annotators do not approve
    r = c.post(f"/api/images/{iid}/status", json={"status": "skipped", "note": "blurred"}, headers=ana)
    assert r.status_code == 200, r.text  # but they may skip
    assert c.post(f"/api/images/{iid}/status", json={"status": "approved"}, headers=rui).status_code == 200
    assert c.delete(f"/api/images/{iid}", headers=rui).status_code == 403  # delete: admin only
    log = c.get("/api/workspace/log", params={"image": iid}, headers=ana).json()
    who = [(e["user"], e["remote"], e["action"]) for e in log if e["action"] in ("mask", "status")]
    assert who == [("ana", "testclient", "mask"), ("ana", "testclient", "status"), ("rui", "testclient", "status")]
    code, out, _ = run_cli_out_err(["workspace", "log", tmp_path / "ws"], capsys)
    assert code == 0 and "ana" in out and "rui" in out
