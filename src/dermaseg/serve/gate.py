"""Who may do what on a ``dermaseg serve --auth`` server: the authentication gate (ASGI middleware), the
route → permission table, per-account image ownership, the login/logout/me routes and the audit trail.

- Credentials: ``Authorization: Bearer TOKEN`` (``dermaseg users token``) or the ``dermaseg_session``
  cookie the login page gets (HttpOnly, SameSite=Strict, Secure over HTTPS). Without valid credentials
  every ``/api`` route but ``/api/health``, ``/api/login`` and ``/api/me`` answers 401, and the page at
  ``/`` sends the browser to ``/login``.
- :data:`ROUTE_ACTIONS`: which permission (:data:`dermaseg.serve.auth.PERMISSIONS`) each request needs;
  a state-changing route not in the table needs ``admin`` (fail closed). 403 when the role lacks it.
- Ownership (ephemeral mode): an image belongs to the account that uploaded it; another account's image
  id answers 404 exactly as an unknown id does (nothing says it exists).
- Every state-changing request (and each login) is appended to the audit log with the account, the
  client address, the action, the image id and the answer's status.

Without ``--auth`` the gate is not installed: behaviour as before, and ``GET /api/me`` says
``"local, no accounts"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from dermaseg.serve.auth import PERMISSIONS, LoginLimiter, Sessions, User, UserDB, allowed
from dermaseg.serve.security import SAFE_METHODS, send_json

__all__ = ["AuthGate", "AuthState", "ROUTE_ACTIONS", "action_for", "auth_router", "COOKIE", "current_user"]

COOKIE = "dermaseg_session"
#: (method, path pattern, permission); first match wins; GET/HEAD not listed need "view"
ROUTE_ACTIONS: list[tuple[str, re.Pattern[str], str]] = [
    (m, re.compile(p), a) for m, p, a in [
        ("GET", r"^/api/(stats|audit)$", "admin"),
        ("POST", r"^/api/images$", "upload"),
        ("POST", r"^/api/segment$", "upload"),
        ("POST", r"^/api/images/[^/]+/predict$", "edit"),
        ("PUT", r"^/api/images/[^/]+/mask$", "edit"),
        ("POST", r"^/api/images/[^/]+/status$", "edit"),  # approving also needs "approve" (wsapi)
        ("DELETE", r"^/api/images/[^/]+$", "delete-own"),
        ("POST", r"^/api/workspace/finetune$", "finetune"),
        ("POST", r"^/api/workspace/models/[^/]+/current$", "finetune"),
    ]
]
_PUBLIC = {"/api/health", "/api/login", "/api/logout", "/api/me", "/login"}
_IMAGE = re.compile(r"^/api/images/([^/]+)")


def action_for(method: str, path: str, workspace: bool = False) -> str:
    """The permission a request needs. Deleting an image: in ephemeral mode one's own upload (``edit``);
    in a workspace, a shared image (``delete``)."""
    for m, pat, action in ROUTE_ACTIONS:
        if m == method and pat.match(path):
            if action == "delete-own":
                return "delete" if workspace else "edit"
            return action
    return "view" if method in SAFE_METHODS else "admin"


@dataclass
class AuthState:
    """The accounts of one server: the file, the browser sessions, the failed-login limiter."""

    db: UserDB
    sessions: Sessions = field(default_factory=Sessions)
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    workspace: bool = False


def _headers(scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}


def _remote(scope) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


def authenticate(auth: AuthState, headers: dict[str, str]) -> User | None:
    """The account behind a request's bearer token or session cookie, or None."""
    authz = headers.get("authorization", "")
    if authz[:7].lower() == "bearer ":
        return auth.db.token_user(authz[7:].strip())
    if "cookie" in headers:
        c = SimpleCookie()
        try:
            c.load(headers["cookie"])
        except Exception:  # a malformed Cookie header authenticates no one
            return None
        if COOKIE in c:
            return auth.sessions.get(c[COOKIE].value)
    return None


class AuthGate:
    """ASGI middleware enforcing accounts, roles and ownership (see the module docstring)."""

    def __init__(self, app, auth: AuthState, store) -> None:
        self.app, self.auth, self.store = app, auth, store

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, method = scope.get("path", ""), scope.get("method", "GET").upper()
        protected = path.startswith("/api") and path not in _PUBLIC
        if not protected and path != "/":
            return await self.app(scope, receive, send)
        from starlette.concurrency import run_in_threadpool

        user = await run_in_threadpool(authenticate, self.auth, _headers(scope))
        if user is None:
            if path == "/":
                await send({"type": "http.response.start", "status": 303,
                            "headers": [(b"location", b"/login"), (b"content-length", b"0")]})
                return await send({"type": "http.response.body", "body": b""})
            if method not in SAFE_METHODS:
                await run_in_threadpool(self.auth.db.audit, None, _remote(scope), f"{method} {path}",
                                        None, status=401)
            return await send_json(send, 401, "sign in first: send Authorization: Bearer TOKEN (dermaseg "
                                    "users token NAME) or log in at /login", {"www-authenticate": "Bearer"})
        scope.setdefault("state", {})["user"] = user
        action = action_for(method, path, self.auth.workspace)
        m = _IMAGE.match(path)
        image_id = m.group(1) if m else None
        if image_id is not None:
            entry = self.store.peek(image_id)
            if entry is not None and entry.owner is not None and entry.owner != user.name:
                return await self._refuse(scope, send, user, method, path, image_id, 404,
                                          f"image {image_id[:64]}: no such image (never uploaded, deleted "
                                          "or expired)")
        if not allowed(user.role, action):
            return await self._refuse(scope, send, user, method, path, image_id, 403,
                                      f"{user.name} ({user.role}) may not {action}: that needs the role "
                                      + " or ".join(sorted(_roles(action))))
        if method in SAFE_METHODS:
            return await self.app(scope, receive, send)
        status: dict[str, int] = {}

        async def send_status(msg):
            if msg["type"] == "http.response.start":
                status["code"] = msg["status"]
            await send(msg)

        try:
            await self.app(scope, receive, send_status)
        finally:
            await run_in_threadpool(self.auth.db.audit, user.name, _remote(scope), f"{method} {path}",
                                    image_id, status=status.get("code", 500), permission=action)

    async def _refuse(self, scope, send, user: User, method: str, path: str, image_id, code: int,
                      msg: str) -> None:
        from starlette.concurrency import run_in_threadpool

        await run_in_threadpool(self.auth.db.audit, user.name, _remote(scope), f"{method} {path}", image_id,
                                status=code)
        await send_json(send, code, msg)


def _roles(action: str) -> frozenset[str]:
    return PERMISSIONS.get(action, frozenset({"admin"}))


def current_user(request: Request) -> User | None:
    """The signed-in account of a request (None without ``--auth``)."""
    return getattr(request.state, "user", None)


# ---------------------------------------------------------------------- routes
auth_router = APIRouter(prefix="/api")


class LoginIn(BaseModel):
    name: str = Field(..., max_length=64)
    password: str = Field(..., max_length=1024)


def _auth(request: Request) -> AuthState | None:
    return getattr(request.app.state, "auth", None)


@auth_router.get("/me", summary="Who this request is signed in as (and whether the server has accounts)")
def me(request: Request) -> dict[str, Any]:
    auth = _auth(request)
    if auth is None:
        return {"auth": False, "user": "local", "role": None, "mode": "local, no accounts"}
    user = authenticate(auth, {k.lower(): v for k, v in request.headers.items()})
    return {"auth": True, "user": user.name if user else None, "role": user.role if user else None,
            "mode": "accounts"}


@auth_router.post("/login", summary="Sign in: sets the HttpOnly session cookie")
def login(request: Request, response: Response, body: LoginIn) -> Any:
    from fastapi.responses import JSONResponse

    auth = _auth(request)
    if auth is None:
        return JSONResponse({"detail": "this server runs without accounts (local, no accounts)"}, 404)
    remote = request.client.host if request.client else None
    keys = (f"ip:{remote}", f"name:{body.name}")
    wait = auth.limiter.retry_after(*keys)
    if wait:
        auth.db.audit(body.name, remote, "login refused (rate limit)", None)
        return JSONResponse({"detail": f"too many failed logins: try again in {wait} s"}, 429,
                            headers={"Retry-After": str(wait)})
    user = auth.db.verify(body.name, body.password)
    if user is None:
        auth.limiter.failed(*keys)
        auth.db.audit(body.name, remote, "login failed", None)
        return JSONResponse({"detail": "wrong user name or password"}, 401)
    auth.limiter.succeeded(f"name:{body.name}")
    auth.db.audit(user.name, remote, "login", None)
    response.set_cookie(COOKIE, auth.sessions.new(user), httponly=True, samesite="strict", path="/",
                        secure=request.url.scheme == "https", max_age=int(auth.sessions.ttl_s))
    return {"user": user.name, "role": user.role}


@auth_router.post("/logout", summary="End this browser session")
def logout(request: Request, response: Response) -> dict[str, Any]:
    auth = _auth(request)
    if auth is not None:
        sid = request.cookies.get(COOKIE)
        user = auth.sessions.get(sid)
        auth.sessions.end(sid)
        if user is not None:
            auth.db.audit(user.name, request.client.host if request.client else None, "logout", None)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return {"signed_out": True}


@auth_router.get("/audit", summary="The server's audit log (admin)")
def audit(request: Request, limit: int = 200) -> list[dict[str, Any]]:
    auth = _auth(request)
    return [] if auth is None else auth.db.log(limit=max(1, min(int(limit), 10000)))
