"""``dermaseg workspace finetune | models | use``: the adapt loop from a terminal (the library is
:mod:`dermaseg.training.wsloop`, :mod:`dermaseg.workspace.current`). Registered on the ``workspace`` command group by :mod:`dermaseg.cli`;
imports only typer at its top."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

__all__ = ["add_model_commands"]


def _refresh(ws, device: Optional[str]) -> str:
    from dermaseg.training.wsloop import current_predict, refresh_auto
    from dermaseg.workspace.current import refresh_targets

    if not refresh_targets(ws):
        return "no automatic masks to re-compute"
    n = refresh_auto(ws, current_predict(ws, device=device))
    return f"re-computed {n} automatic masks of images not yet reviewed with {ws.model_version} " \
           "(edited, approved and skipped images untouched)"


def add_model_commands(group: typer.Typer) -> None:
    """Add ``finetune``, ``models`` and ``use`` to the ``workspace`` group."""

    @group.command("finetune")
    def workspace_finetune_cmd(
        folder: Path = typer.Argument(..., help="The workspace folder."),
        recipe: str = typer.Option("finetune", "--recipe", help="Training recipe (see docs/finetune.md)."),
        epochs: Optional[int] = typer.Option(None, "--epochs", min=1, help="Epochs (default: the recipe's)."),
        freeze: Optional[str] = typer.Option(None, "--freeze", help="encoder: train the decoder only."),
        seed: int = typer.Option(0, "--seed", help="Seed of the held-out split and of training."),
        device: Optional[str] = typer.Option(None, "--device", help="cuda, mps or cpu (default: the best)."),
        refresh: bool = typer.Option(True, "--refresh/--no-refresh", help="After a new current version, "
                                     "re-compute the automatic masks of images not yet reviewed."),
        as_json: bool = typer.Option(False, "--json", help="Print the version's metrics as JSON."),
    ) -> None:
        """Fine-tune the current model on the approved masks into DIR/models/vN/; it becomes current only
        if it is not worse on held-out approved images (paired difference ± SE printed)."""
        import json

        from dermaseg.training.wsloop import finetune_workspace, format_gate
        from dermaseg.workspace.store import Workspace

        with Workspace.open(folder) as ws:
            before = ws.model_version
            doc = finetune_workspace(ws, recipe=recipe, epochs=epochs, freeze=freeze, seed=seed, device=device)
            note = _refresh(ws, device) if refresh and doc["current"] != before else ""
        if as_json:
            typer.echo(json.dumps(doc, indent=2, default=float))
        else:
            typer.echo(format_gate(doc))
        if note:
            typer.echo(note)
        typer.echo(f"wrote {Path(folder) / 'models' / doc['version']}")

    @group.command("models")
    def workspace_models_cmd(folder: Path = typer.Argument(..., help="The workspace folder."),
                             as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """List the model versions (the bundled one first); * marks the current one."""
        import json

        from dermaseg.workspace.current import list_models
        from dermaseg.workspace.store import Workspace

        with Workspace.open(folder) as ws:
            rows = list_models(ws)
        if as_json:
            typer.echo(json.dumps(rows, indent=2, default=float))
            return
        for r in rows:
            gate = ""
            if r["difference"] is not None:
                se = f" ± {r['se']:.4f}" if r["se"] is not None else ""
                gate = f"  gate {r['difference']:+.4f}{se} on {r['n_heldout']} held out"
            acc = "" if r["accepted"] is None else ("  accepted" if r["accepted"] else "  not accepted")
            made = f"  {r['created']}  from {r['started_from']}  trained on {r['n_train']}" if r["created"] else ""
            typer.echo(f"{'*' if r['current'] else ' '} {r['version']}{made}{gate}{acc}")

    @group.command("use")
    def workspace_use_cmd(
        folder: Path = typer.Argument(..., help="The workspace folder."),
        version: str = typer.Argument(..., help="vN, or default (the bundled model)."),
        device: Optional[str] = typer.Option(None, "--device", help="cuda, mps or cpu (default: the best)."),
        refresh: bool = typer.Option(True, "--refresh/--no-refresh", help="Re-compute the automatic masks of "
                                     "images not yet reviewed with that version."),
    ) -> None:
        """Make a version current (rollback or roll forward)."""
        from dermaseg.workspace.current import use_version
        from dermaseg.workspace.store import Workspace

        with Workspace.open(folder) as ws:
            before = ws.model_version
            use_version(ws, version)
            typer.echo(f"current model: {version} (was {before})")
            if refresh and version != before:
                typer.echo(_refresh(ws, device))
