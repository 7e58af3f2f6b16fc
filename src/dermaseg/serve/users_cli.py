"""``dermaseg users add|list|remove|passwd|token|log``: the accounts of ``dermaseg serve --auth``.

Accounts live in ``W/users.sqlite`` of ``--workspace W`` or in ``--users FILE``
(:class:`dermaseg.serve.auth.UserDB`). A password is read from standard input when it is not a terminal
(one line: ``echo "$PW" | dermaseg users add ana --role annotator --workspace W``), else asked twice
without echo. It is never an option: command lines end up in shell histories and ``ps``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from dermaseg.errors import DermasegError
from dermaseg.serve.auth import MIN_PASSWORD, ROLES, UserDB, users_file

__all__ = ["users_app", "read_password"]

users_app = typer.Typer(no_args_is_help=True, help="Accounts for `dermaseg serve --auth` (roles: "
                        + ", ".join(ROLES) + ").")

WorkspaceOpt = typer.Option(None, "--workspace", help="A workspace folder: accounts in W/users.sqlite.")
UsersOpt = typer.Option(None, "--users", help="An accounts file instead of a workspace's.")


def read_password(prompt: str = "password") -> str:
    """A password from standard input (one line) when it is not a terminal, else typed twice."""
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        pw = line[:-1] if line.endswith("\n") else line
        if not pw:
            raise DermasegError("password: nothing on standard input")
        return pw.rstrip("\r")
    import getpass

    pw = getpass.getpass(f"{prompt} (at least {MIN_PASSWORD} characters): ")
    if getpass.getpass("again: ") != pw:
        raise DermasegError("password: the two entries differ")
    return pw


def _db(workspace: Path | None, users: Path | None, create: bool = False) -> UserDB:
    return UserDB(users_file(workspace, users), create=create)


@users_app.command("add")
def add_cmd(name: str = typer.Argument(..., help="User name."),
            role: str = typer.Option(..., "--role", help="annotator, reviewer or admin."),
            workspace: Optional[Path] = WorkspaceOpt, users: Optional[Path] = UsersOpt) -> None:
    """Add an account (password from standard input when it is not a terminal)."""
    if role not in ROLES:
        raise DermasegError(f"--role {role}: expected one of {', '.join(ROLES)}")
    db = _db(workspace, users, create=True)
    user = db.add(name, role, read_password())
    db.audit("cli", None, "user added", None, name=user.name, role=user.role)
    typer.echo(f"added {user.name} ({user.role}) to {db.path}")


@users_app.command("list")
def list_cmd(workspace: Optional[Path] = WorkspaceOpt, users: Optional[Path] = UsersOpt,
             as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the accounts (name, role, tokens)."""
    rows = _db(workspace, users).list()
    if as_json:
        typer.echo(json.dumps(rows, indent=1))
        return
    for r in rows:
        typer.echo(f"{r['name']:<24} {r['role']:<10} tokens {r['tokens']}  created {r['created']}")
    if not rows:
        typer.echo("no accounts")


@users_app.command("remove")
def remove_cmd(name: str = typer.Argument(...), workspace: Optional[Path] = WorkspaceOpt,
               users: Optional[Path] = UsersOpt) -> None:
    """Remove an account and its tokens (its sessions end at its next request)."""
    db = _db(workspace, users)
    db.remove(name)
    db.audit("cli", None, "user removed", None, name=name)
    typer.echo(f"removed {name}")


@users_app.command("passwd")
def passwd_cmd(name: str = typer.Argument(...), workspace: Optional[Path] = WorkspaceOpt,
               users: Optional[Path] = UsersOpt) -> None:
    """Set a new password (revokes the account's tokens)."""
    db = _db(workspace, users)
    db.passwd(name, read_password("new password"))
    db.audit("cli", None, "password changed", None, name=name)
    typer.echo(f"password of {name} changed; its tokens are revoked")


@users_app.command("token")
def token_cmd(name: str = typer.Argument(...), workspace: Optional[Path] = WorkspaceOpt,
              users: Optional[Path] = UsersOpt) -> None:
    """Print a new bearer token for scripts (Authorization: Bearer TOKEN); shown once."""
    db = _db(workspace, users)
    token = db.new_token(name)
    db.audit("cli", None, "token issued", None, name=name)
    typer.echo(token)


@users_app.command("log")
def log_cmd(workspace: Optional[Path] = WorkspaceOpt, users: Optional[Path] = UsersOpt,
            limit: int = typer.Option(100, "--limit", min=1, help="Last N events."),
            as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Print the server's append-only audit log (who, what, when, from where)."""
    rows = _db(workspace, users).log(limit=limit)
    if as_json:
        typer.echo(json.dumps(rows, indent=1))
        return
    for r in rows:
        detail = " ".join(f"{k}={v}" for k, v in r["detail"].items())
        typer.echo(f"{r['time']}  {r['user'] or '-':<16} {r['remote'] or '-':<15} {r['action']}"
                   f"{'  ' + r['image_id'] if r['image_id'] else ''}{'  ' + detail if detail else ''}")
