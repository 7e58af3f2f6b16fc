"""``dermaseg serve``: prints its URL, warns when not bound to loopback, one-line error for a busy port."""

from __future__ import annotations

import socket

import pytest

from dermaseg.cli import main
from dermaseg.serve import run


@pytest.mark.parametrize("host,loop", [("127.0.0.1", True), ("localhost", True), ("::1", True), ("127.8.0.2", True),
                                       ("0.0.0.0", False), ("192.168.1.10", False), ("example.org", False)])
def test_is_loopback(host, loop):
    assert run.is_loopback(host) is loop


def test_refused_beyond_loopback_without_auth_served_with_it(monkeypatch, capsys, tmp_path):
    import uvicorn

    from dermaseg.serve.auth import UserDB

    served = []
    # never listen beyond loopback in a test: the socket is bound to 127.0.0.1 whatever --host says
    monkeypatch.setattr(run, "bind", lambda host, port: socket.create_server(("127.0.0.1", 0)))
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: served.append((self.config.app, sockets)))
    with pytest.raises(SystemExit) as e:
        main(["serve", "--host", "0.0.0.0", "--port", "0", "--sam", "none", "--cache-mb", "64"])
    out, err = capsys.readouterr()
    assert e.value.code == 2 and err.startswith("error: --host 0.0.0.0: reachable by others; run it with --auth")
    assert not served
    users = tmp_path / "users.sqlite"
    UserDB(users, create=True).add("eva", "admin", "eva-password")
    with pytest.raises(SystemExit) as e:
        main(["serve", "--host", "0.0.0.0", "--port", "0", "--sam", "none", "--cache-mb", "64", "--auth",
              "--users", str(users), "--allowed-host", "clinic.example"])
    assert e.value.code == 0
    out, err = capsys.readouterr()
    assert "dermaseg serve: http://127.0.0.1:" in out and "accounts required" in out
    app, sockets = served[0]
    assert app.state.engine.sam is None and app.state.store.cache_bytes == 64 * 2**20
    assert app.state.auth is not None and app.state.auth.db.path == users
    sockets[0].close()


def test_busy_port_is_a_one_line_error(capsys):
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        with pytest.raises(SystemExit) as e:
            main(["serve", "--port", str(port), "--sam", "none"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --host 127.0.0.1 --port {port}: cannot listen there") and err.count("\n") == 1


def test_missing_serve_extra_is_one_line_and_exit_2(monkeypatch, capsys):
    import importlib.util

    import pytest

    from dermaseg.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a))
    with pytest.raises(SystemExit) as e:
        main(["serve", "--port", "0"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: dermaseg serve needs uvicorn: pip install 'dermaseg[serve]'"]
