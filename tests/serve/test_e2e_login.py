"""The sign-in page in a real browser (Debian's chromium through Playwright): ``/`` sends a signed-out browser
to ``/login``; a wrong password shows the server's message; the right one opens the app, which says who is
signed in; the CSP (no inline script or style) reports no violation on either page."""

from __future__ import annotations

import shutil

import pytest

from dermaseg.serve.auth import UserDB

from .conftest import LiveServer

pytestmark = pytest.mark.slow
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


def test_login_page_signs_in_and_the_app_says_who(auto_predictor, tmp_path):
    if CHROMIUM is None:
        pytest.skip("no chromium executable on PATH")
    sync_api = pytest.importorskip("playwright.sync_api")
    from dermaseg.serve.app import create_app

    users = tmp_path / "users.sqlite"
    UserDB(users, create=True).add("ana", "annotator", "ana-password-1")
    server = LiveServer(create_app(auto_predictor, None, users=users, prefetch_sam=False))
    try:
        with sync_api.sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            page = b.new_page()
            console: list[str] = []
            page.on("console", lambda m: console.append(m.text))
            page.goto(server.url + "/", timeout=60_000)
            assert page.url.endswith("/login")
            page.fill("#login-name", "ana")
            page.fill("#login-password", "wrong-password")
            page.click("button[type=submit]")
            page.wait_for_selector("#login-error:not(:empty)", timeout=30_000)  # (no eval: the CSP forbids it)
            assert "wrong user name or password" in page.text_content("#login-error")
            page.fill("#login-password", "ana-password-1")
            page.click("button[type=submit]")
            page.wait_for_url(server.url + "/", timeout=30_000)
            page.locator("#account", has_text="signed in").wait_for(timeout=30_000)
            assert page.text_content("#account") == "signed in as ana (annotator)"
            cookies = {c["name"]: c for c in page.context.cookies()}
            assert cookies["dermaseg_session"]["httpOnly"] and cookies["dermaseg_session"]["sameSite"] == "Strict"
            assert page.evaluate("document.cookie") == ""  # not readable by the page's scripts
            assert not [m for m in console if "Content Security Policy" in m], console
            b.close()
    finally:
        server.stop()
