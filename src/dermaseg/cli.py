"""The ``dermaseg`` command. Each subcommand is a few lines that call the library.

Heavy modules are imported inside the commands, so ``dermaseg --help`` starts fast. Any
:class:`~dermaseg.errors.DermasegError` becomes a one-line ``error: ...`` on stderr and exit code 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from dermaseg.errors import DermasegError
from dermaseg.serve.users_cli import users_app
from dermaseg.serve.workspace_cli import add_model_commands

__all__ = ["app", "main", "usage_line"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help text is plain: "pip install 'dermaseg[ray]'" keeps its brackets
    help="Skin-lesion segmentation for dermoscopic images.",
)


def _version(value: bool) -> None:
    if value:
        from dermaseg import __version__

        typer.echo(f"dermaseg {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Skin-lesion segmentation for dermoscopic images."""


data_app = typer.Typer(no_args_is_help=True, help="Check datasets and make leak-free splits.")
app.add_typer(data_app, name="data")
app.add_typer(users_app, name="users")
workspace_app = typer.Typer(no_args_is_help=True, help="Workspaces: a folder of images under review, kept on "
                            "disk (see docs/workspaces.md).")
app.add_typer(workspace_app, name="workspace")

FormatOpt = typer.Option("auto", "--format", help="Dataset layout: auto, ham10000, isic, ph2, folder.")
DeviceOpt = typer.Option(None, "--device", help="cuda, mps or cpu (default: the best available).")
BackendOpt = typer.Option("torch", "--backend", help="Where the networks run: torch, onnx (onnxruntime; "
                          "graphs exported once per model and cached) or onnx-int8 (needs dermaseg[onnx]).")
ExecutorOpt = typer.Option("local", "--executor", help="local: one run after another here; ray: each run a "
                           "Ray Tune trial on a Ray cluster (pip install 'dermaseg[ray]').")
AddressOpt = typer.Option(None, "--address", help="With --executor ray: the cluster (auto, HOST:PORT, "
                          "ray://HOST:PORT); default: a local cluster on this machine.")
CpusPerRunOpt = typer.Option(1, "--cpus-per-run", min=1, help="With --executor ray on a cluster without GPUs: "
                             "CPUs (and torch threads) per run; with GPUs each run takes one GPU.")
TrackOpt = typer.Option(None, "--track", help="Log the runs to mlflow (OUT/mlruns) or tensorboard "
                       "(OUT/tensorboard): parameters, epochs, final metrics, report and model; a CV or sweep "
                       "as a parent run (pip install 'dermaseg[track]').")
TrackingUriOpt = typer.Option(None, "--tracking-uri", help="With --track: an MLflow tracking URI (a server "
                              "http://HOST:5000, sqlite:///FILE, a folder) or the TensorBoard log folder.")


@app.command("models")
def models_cmd(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List every model: input size, parameters, weight source and whether the weights are here."""
    from dermaseg.inference.backends import backend_status
    from dermaseg.models.registry import print_models

    print_models(as_json=as_json)
    if not as_json:
        print(backend_status())


@data_app.command("check")
def data_check(path: Path = typer.Argument(..., help="Dataset folder."), fmt: str = FormatOpt,
               verbose: bool = typer.Option(False, "--verbose", "-v",
                                            help="List every problem, not the first 10 of each kind.")) -> None:
    """Report format, counts, sizes, class balance and every problem found. Never modifies the data."""
    from dermaseg.data.check import check_dataset

    report = check_dataset(path, format=fmt)
    report.print(verbose=verbose)
    raise typer.Exit(0 if report.ok else 1)


@data_app.command("split")
def data_split(
    path: Path = typer.Argument(..., help="Dataset folder."),
    folds: int = typer.Option(5, "--folds", min=2, help="Number of folds."),
    out: Path = typer.Option(..., "--out", help="splits.json to write (re-used if it exists)."),
    seed: int = typer.Option(0, "--seed"),
    test_fraction: float = typer.Option(0.0, "--test-fraction", min=0.0, max=0.5,
                                        help="Hold out this fraction as a test set before making folds."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing splits.json."),
    fmt: str = FormatOpt,
) -> None:
    """Seeded K-fold grouped by lesion and stratified by diagnosis, saved as JSON."""
    from dermaseg.data.readers import load_dataset
    from dermaseg.data.splits import get_or_make_splits
    from dermaseg.io import check_out

    check_out(out, kind="file")
    splits = get_or_make_splits(load_dataset(path, format=fmt), out, folds=folds, seed=seed,
                                test_fraction=test_fraction, overwrite=overwrite)
    splits.print_summary()


@app.command("segment")
def segment_cmd(
    inputs: list[Path] = typer.Argument(..., help="Image files, folders of images, or dataset folders (any "
                                        "supported layout: its images are segmented, never its masks)."),
    out: Path = typer.Option(..., "--out", help="Output folder (not a folder holding input images)."),
    model: str = typer.Option("default", "--model", help="Model name (see `dermaseg models`) or a saved model file."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="Weights for sam-vit-b/l/h."),
    box: Optional[str] = typer.Option(None, "--box", help="x0,y0,x1,y1 in input pixels, for every image."),
    point: Optional[str] = typer.Option(None, "--point", help="x,y of one lesion point, in input pixels."),
    prompts: Optional[Path] = typer.Option(None, "--prompts", help="CSV: image,x0,y0,x1,y1,px,py (one row per image)."),
    prompt: Optional[str] = typer.Option(None, "--prompt", help="box-from-model: prompt a SAM-family model with "
                                         "the box of the bundled automatic model's mask."),
    auto: Optional[str] = typer.Option(None, "--auto", help="Automatic pipeline: cnn or cnn+sam."),
    tta: Optional[bool] = typer.Option(None, "--tta/--no-tta", help="Flip test-time augmentation."),
    postprocess: bool = typer.Option(True, "--postprocess/--no-postprocess",
                                     help="Keep the largest component and fill holes."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Walk sub-folders; outputs mirror them under OUT."),
    skip_existing: bool = typer.Option(False, "--skip-existing", help="Skip images whose outputs and results.csv "
                                       "row exist (resume a killed run)."),
    save: str = typer.Option("mask,prob,overlay", "--save", help="Outputs to write: any of mask,prob,overlay,dicom-seg "
                      "(dicom-seg: <name>_seg.dcm, a DICOM SEG, for DICOM inputs)."),
    overlay_format: str = typer.Option("auto", "--overlay-format", help="png, jpg, or auto (JPEG above 4 "
                                       "megapixels)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, hidden=True,
                                             help="Ignored (images run one at a time)."),
    measure: bool = typer.Option(False, "--measure", help="Add each mask's lesion measurements to results.csv "
                                 "(the columns of `dermaseg measure`)."),
    pixel_size: Optional[float] = typer.Option(None, "--pixel-size", help="Millimetres per pixel: implies "
                                               "--measure and fills the mm columns."),
    device: Optional[str] = DeviceOpt,
    backend: str = BackendOpt,
    executor: str = typer.Option("local", "--executor", help="local: the images one after another here; ray: "
                                 "Ray Data actors on a Ray cluster, the model loaded once per actor (pip install "
                                 "'dermaseg[ray]')."),
    address: Optional[str] = AddressOpt,
    cpus_per_run: int = typer.Option(1, "--cpus-per-run", min=1, help="With --executor ray on a cluster without "
                                     "GPUs: CPUs (and torch threads) per worker; with GPUs each takes one GPU."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="With --executor ray: the number of "
                                          "workers (default: as many as the cluster has room for)."),
) -> None:
    """Segment images: <name>_mask.png, <name>_prob.png, <name>_overlay.png|jpg and results.csv; prints a summary."""
    from dermaseg.inference.segment import segment_files

    summary = segment_files(inputs, out, model=model, checkpoint=checkpoint, box=box, point=point,
                            prompts_csv=prompts, prompt=prompt, auto=auto, tta=tta, postprocess=postprocess,
                            device=device, recursive=recursive, skip_existing=skip_existing, save=save,
                            overlay_format=overlay_format, batch_size=batch_size, pixel_size=pixel_size,
                            measure_masks=measure, backend=backend, executor=executor, address=address,
                            cpus_per_run=cpus_per_run, workers=workers)
    raise typer.Exit(1 if summary.failed else 0)


@app.command("evaluate")
def evaluate_cmd(
    data: Path = typer.Option(..., "--data", help="Dataset folder (any supported layout)."),
    model: str = typer.Option("default", "--model", help="Model name or saved model file."),
    prompt: str = typer.Option("none", "--prompt",
                               help="none, box, point, box+point (SkinSAM, from the truth), center, "
                                    "center-box (not from the truth), box-from-model."),
    out: Path = typer.Option(..., "--out", help="Output folder: metrics.json, per_image.csv, report.html."),
    split: str = typer.Option("auto", "--split", help="train, val, test, all, or auto (test, else val, else all)."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Score N images: a seeded sample "
                                        "stratified by diagnosis (see --limit-mode)."),
    limit_mode: str = typer.Option("stratified", "--limit-mode", help="stratified (seeded by --seed, every "
                                   "diagnosis represented when N allows) or first (the first N images)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the simulated prompts and of the --limit sample."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="Weights for sam-vit-b/l/h."),
    auto: Optional[str] = typer.Option(None, "--auto", help="Automatic pipeline: cnn or cnn+sam."),
    tta: Optional[bool] = typer.Option(None, "--tta/--no-tta"),
    postprocess: bool = typer.Option(True, "--postprocess/--no-postprocess"),
    report: bool = typer.Option(True, "--report/--no-report", help="Render report.html and figures."),
    fmt: str = FormatOpt,
    device: Optional[str] = DeviceOpt,
    backend: str = BackendOpt,
    on_error: str = typer.Option("skip", "--on-error", help="An unreadable image or mask: skip (report it, go "
                                 "on; listed in metrics.json) or stop."),
) -> None:
    """Score a model on a dataset: per-image mean and pooled metrics, per diagnosis, with a report."""
    from dermaseg.evaluation.evaluate import evaluate_cli

    evaluate_cli(data=data, model=model, prompt=prompt, out=out, split=split, limit=limit, limit_mode=limit_mode,
                 seed=seed,
                 checkpoint=checkpoint, auto=auto, tta=tta, postprocess=postprocess, report=report,
                 format=fmt, device=device, backend=backend, on_error=on_error)


@app.command("train", context_settings={"allow_extra_args": False})
def train_cmd(
    ctx: typer.Context,
    data: Path = typer.Option(..., "--data", help="Dataset folder (any supported layout)."),
    recipe: str = typer.Option("default", "--recipe", help="unet-paper, fpn-paper, skinsam, melseg, default (the bundled model's), default-mobilenet, finetune (from --init)."),
    out: Path = typer.Option(..., "--out", help="Run folder."),
    folds: Optional[int] = typer.Option(None, "--folds", min=0, help="Run K-fold cross-validation (K >= 2); "
                                        "0 trains one run on the train/val split even when the recipe has folds."),
    fold: Optional[int] = typer.Option(None, "--fold", min=0, help="Run only fold I of the K folds."),
    model: Optional[str] = typer.Option(None, "--model", help="Override the recipe's model."),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1),
    lr: Optional[float] = typer.Option(None, "--lr"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1),
    image_size: Optional[int] = typer.Option(None, "--image-size", min=32),
    loss: Optional[str] = typer.Option(None, "--loss", help="bce, dice, dicece, focal."),
    optimizer: Optional[str] = typer.Option(None, "--optimizer", help="adam, adamw, sgd."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1,
                                        help="Use N training images: a seeded sample stratified by diagnosis "
                                             "(with --folds: the sample is folded)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=0),
    seed: int = typer.Option(0, "--seed"),
    init: Optional[str] = typer.Option(None, "--init", help="Start from a trained model: default (the bundled "
                                       "one) or a model file / run folder (docs/finetune.md)."),
    freeze: Optional[str] = typer.Option(None, "--freeze", help="encoder: train the decoder only."),
    final: str = typer.Option("refit", "--final", help="After --folds K: refit on all images for the "
                              "CV-chosen epochs into OUT/final.pt (refit) or not (none)."),
    on_error: str = typer.Option("skip", "--on-error", help="An unreadable image or mask: skip (report it, "
                                 "train on the rest) or stop."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT's last.pt."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="SAM ViT checkpoint for sam-vit-* models."),
    fmt: str = FormatOpt,
    device: Optional[str] = DeviceOpt,
    nproc: int = typer.Option(1, "--nproc", min=1, help="Train with N processes on this machine (torchrun, "
                              "DDP; one per GPU); --batch-size stays the global batch."),
    executor: str = ExecutorOpt,
    address: Optional[str] = AddressOpt,
    cpus_per_run: int = CpusPerRunOpt,
    track: Optional[str] = TrackOpt,
    tracking_uri: Optional[str] = TrackingUriOpt,
) -> None:
    """Train a recipe (optionally K-fold cross-validated on grouped splits). Runs unchanged under torchrun."""
    if nproc > 1:
        from dermaseg.training.launch import launch_torchrun
        from dermaseg.training.orchestrate import check_launch

        check_launch(data, recipe, nproc, model=model, batch_size=batch_size, format=fmt, executor=executor)
        rc = launch_torchrun(nproc, _command_line(ctx, drop=("nproc",)))
        if rc:
            raise DermasegError(f"--nproc {nproc}: a training process failed (torchrun exit {rc}; its error "
                                "is above)")
        return
    from dermaseg.training.orchestrate import train_cli

    train_cli(data=data, recipe=recipe, out=out, folds=folds, fold=fold, model=model, epochs=epochs, lr=lr,
              batch_size=batch_size, image_size=image_size, loss=loss, optimizer=optimizer, limit=limit,
              workers=workers, seed=seed, resume=resume, checkpoint=checkpoint, format=fmt, device=device,
              executor=executor, address=address, cpus_per_run=cpus_per_run, init=init, freeze=freeze,
              final=final, on_error=on_error, track=track, tracking_uri=tracking_uri)


def _command_line(ctx: typer.Context, drop: tuple[str, ...] = ()) -> list[str]:
    """The subcommand and options ``ctx`` was invoked with, as arguments (``drop``: options left out)."""
    args = [str(ctx.info_name)]
    for p in ctx.command.params:
        value = ctx.params.get(p.name)
        if p.name in drop or value is None:
            continue
        if getattr(p, "is_flag", False):
            if value:
                args.append(p.opts[0])
            elif p.secondary_opts:
                args.append(p.secondary_opts[0])
            continue
        args += [p.opts[0], str(value)]
    return args


@app.command("sweep")
def sweep_cmd(
    data: Path = typer.Option(..., "--data"),
    grid: str = typer.Option("melseg", "--grid", help="Named grid; melseg = melSeg Table I (12 runs)."),
    folds: int = typer.Option(5, "--folds", min=2),
    out: Path = typer.Option(..., "--out"),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1),
    model: Optional[str] = typer.Option(None, "--model"),
    limit: Optional[int] = typer.Option(None, "--limit", min=1,
                                        help="Use only the first N images, each in its own fold of the full "
                                             "splits (a quick trial of the grid)."),
    seed: int = typer.Option(0, "--seed"),
    fmt: str = FormatOpt,
    device: Optional[str] = DeviceOpt,
    executor: str = ExecutorOpt,
    address: Optional[str] = AddressOpt,
    cpus_per_run: int = CpusPerRunOpt,
    track: Optional[str] = TrackOpt,
    tracking_uri: Optional[str] = TrackingUriOpt,
) -> None:
    """Run a hyper-parameter grid, resumable run by run, and write its table."""
    from dermaseg.training.sweep import sweep_cli

    sweep_cli(data=data, grid=grid, folds=folds, out=out, epochs=epochs, model=model, limit=limit,
              seed=seed, format=fmt, device=device, executor=executor, address=address,
              cpus_per_run=cpus_per_run, track=track, tracking_uri=tracking_uri)


@app.command("measure")
def measure_cmd(
    images: Optional[list[Path]] = typer.Argument(None, help="Image files and/or folders (with --masks), read as "
                                                  "`dermaseg segment` reads them."),
    masks: Optional[Path] = typer.Option(None, "--masks", help="Folder of masks: a `dermaseg segment --out` folder "
                                         "(NAME_mask.png, sub-folders mirrored), or masks matched by stem: "
                                         "<stem>_mask.png, <stem>_segmentation.png or <stem>.png."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Walk sub-folders of the IMAGES folders, "
                                   "as `dermaseg segment -r` does."),
    data: Optional[Path] = typer.Option(None, "--data", help="A dataset (any supported layout): measure its truth masks."),
    out: Path = typer.Option(..., "--out", help="CSV file to write."),
    pixel_size: Optional[float] = typer.Option(None, "--pixel-size", help="Millimetres per pixel (mm columns "
                                               "stay empty without it)."),
    split: str = typer.Option("all", "--split", help="With --data: train, val, test or all."),
    on_error: str = typer.Option("skip", "--on-error", help="With --data, an unreadable image or mask: skip "
                                 "(report it, go on) or stop."),
    fmt: str = FormatOpt,
) -> None:
    """Lesion measurements (size in px/mm, asymmetry, border, colours) of masks, one CSV row per image."""
    from dermaseg.io import check_out
    from dermaseg.measure.files import measure_dataset, measure_files

    check_out(out, kind="file")
    if data is not None and (images or masks is not None):
        raise DermasegError("measure: give either IMAGES... --masks DIR or --data DATASET, not both")
    if data is not None and recursive:
        raise DermasegError("measure: --recursive walks IMAGES folders; --data reads the whole dataset already")
    if data is not None:
        path = measure_dataset(data, out, pixel_size=pixel_size, format=fmt, split=split, on_error=on_error)
    elif images and masks is not None:
        path = measure_files(images, masks, out, pixel_size=pixel_size, recursive=recursive)
    else:
        raise DermasegError("measure: give IMAGES... with --masks DIR, or --data DATASET")
    typer.echo(f"wrote {path}")


@app.command("compare")
def compare_cmd(
    before: Optional[Path] = typer.Argument(None, help="The first visit's image."),
    after: Optional[Path] = typer.Argument(None, help="The later visit's image (registered onto BEFORE)."),
    out: Path = typer.Option(..., "--out", help="Output folder: compare.json, compare.html, compare.png, masks."),
    pixel_size: Optional[float] = typer.Option(None, "--pixel-size", help="Millimetres per pixel of both images."),
    pixel_size_before: Optional[float] = typer.Option(None, "--pixel-size-before", help="mm per pixel of BEFORE."),
    pixel_size_after: Optional[float] = typer.Option(None, "--pixel-size-after", help="mm per pixel of AFTER."),
    masks_before: Optional[Path] = typer.Option(None, "--masks-before", help="BEFORE's mask (else segmented)."),
    masks_after: Optional[Path] = typer.Option(None, "--masks-after", help="AFTER's mask (else segmented)."),
    pairs: Optional[Path] = typer.Option(None, "--pairs", help="CSV of a follow-up series: before,after[,...] or "
                                         "image,lesion_id,date (docs/compare.md)."),
    model: str = typer.Option("default", "--model", help="Model name or saved model file that segments."),
) -> None:
    """Has it changed? Register AFTER onto BEFORE, segment both and report the change beyond repeatability."""
    from dermaseg.compare.run import compare
    from dermaseg.compare.series import compare_pairs

    if pairs is not None:
        if before is not None or after is not None or masks_before or masks_after or pixel_size or \
                pixel_size_before or pixel_size_after:
            raise DermasegError("compare: --pairs CSV takes the images, masks and pixel sizes from the CSV; "
                                "give no BEFORE AFTER or per-pair options")
        path, failed = compare_pairs(pairs, out, model=model)
        typer.echo(f"wrote {path}")
        raise typer.Exit(1 if failed else 0)
    if before is None or after is None:
        raise DermasegError("compare: give BEFORE AFTER images, or --pairs CSV")
    rec = compare(before, after, out, pixel_size=pixel_size, pixel_size_before=pixel_size_before,
                  pixel_size_after=pixel_size_after, masks_before=masks_before, masks_after=masks_after, model=model)
    verdict = {"registration_failed": "not compared: registration failed (" + str(rec["registration"]["reason"]) + ")",
               "compared": "CHANGED (" + ", ".join(rec["exceeded"]) + ")" if rec["changed"] else "no change beyond "
               "repeatability"}.get(rec["status"], "not judged: " + rec["status"])
    typer.echo(f"{verdict}; wrote {Path(out) / 'compare.json'}")


@app.command("serve")
def serve_cmd(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (anything but loopback: "
                             "reachable by others; needs --auth)."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port (0: any free port)."),
    model: str = typer.Option("default", "--model", help="Automatic model: name or saved model file."),
    sam: str = typer.Option("litemedsam-derm", "--sam", help="Prompted SAM-family model (litemedsam-derm: the bundled click-aware decoder; litemedsam: upstream), or 'none'."),
    max_upload_mb: float = typer.Option(50, "--max-upload-mb", help="Largest upload accepted (413 above)."),
    cache_mb: float = typer.Option(2048, "--cache-mb", help="Memory for images and SAM embeddings; least "
                                   "recently used images are evicted beyond it and recomputed on use."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="torch (and onnxruntime) CPU threads."),
    device: Optional[str] = DeviceOpt,
    backend: str = BackendOpt,
    workspace: Optional[Path] = typer.Option(None, "--workspace", help="Keep every image, mask and review in "
                                             "this workspace folder (made when missing); without it nothing "
                                             "is kept after the server stops."),
    auth: bool = typer.Option(False, "--auth", help="Accounts required (dermaseg users); see docs/deployment.md."),
    users: Optional[Path] = typer.Option(None, "--users", help="With --auth: the accounts file."),
    allowed_host: list[str] = typer.Option([], "--allowed-host", help="A Host name clients use (repeatable)."),
    max_pixels: Optional[int] = typer.Option(None, "--max-pixels", help="Largest image decoded, in pixels "
                                             "(default 40000000)."),
    request_timeout: Optional[float] = typer.Option(None, "--request-timeout", help="Seconds a request "
                                                    "waits for a model before 503 (default 30)."),
    max_active: Optional[int] = typer.Option(None, "--max-active", help="Model requests at once; more get "
                                             "429 + Retry-After (default 16)."),
    ssl_certfile: Optional[Path] = typer.Option(None, "--ssl-certfile", help="HTTPS certificate (PEM)."),
    ssl_keyfile: Optional[Path] = typer.Option(None, "--ssl-keyfile", help="HTTPS private key (PEM)."),
) -> None:
    """Serve the browser app (segment, correct, measure) and the REST API at http://HOST:PORT/."""
    import importlib.util

    for mod in ("fastapi", "fastapi_offline", "uvicorn", "multipart"):
        if importlib.util.find_spec(mod) is None:
            raise DermasegError(f"dermaseg serve needs {mod}: pip install 'dermaseg[serve]'")
    from dermaseg.inference.backends import check_backend
    from dermaseg.serve.run import serve

    check_backend(backend)
    serve(host=host, port=port, model=model, sam=None if sam.lower() == "none" else sam,
          max_upload_mb=max_upload_mb, cache_mb=cache_mb, device=device, threads=threads, backend=backend,
          workspace=workspace, auth=auth, users=str(users) if users else None, allowed_host=allowed_host,
          max_pixels=max_pixels, request_timeout_s=request_timeout, max_active=max_active,
          ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
          ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None)


@workspace_app.command("init")
def workspace_init_cmd(
    folder: Path = typer.Argument(..., help="The workspace folder (new, empty, or a workspace to add to)."),
    images: list[Path] = typer.Option(..., "--images", help="Image files or folders (repeat the option)."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Walk sub-folders of input folders."),
    pixel_size: Optional[float] = typer.Option(None, "--pixel-size", help="Default mm per pixel of the images."),
    masks: Optional[Path] = typer.Option(None, "--masks", help="Existing masks, matched by stem."),
    status: str = typer.Option("edited", "--status", help="Status of imported masks: edited or approved."),
    metadata: Optional[Path] = typer.Option(None, "--metadata", help="A table with an image id column; "
                                            "every column is kept in metadata.csv."),
    copy: bool = typer.Option(False, "--copy", help="Copy the images (default: hard-link where possible)."),
) -> None:
    """Make a workspace from images (or add images to one): images/, masks/, metadata.csv, workspace.sqlite."""
    from dermaseg.workspace.store import Workspace

    with Workspace.init(folder, images, recursive=recursive, pixel_size=pixel_size, masks=masks, status=status,
                        metadata=metadata, copy=copy) as ws:
        s = ws.last_init
        typer.echo(f"{folder}: added {s['added']} images ({s['linked']} linked, {s['copied']} copied), "
                   f"{s['skipped']} already there, {s['masks']} masks imported; {sum(ws.counts().values())} in all")


@workspace_app.command("status")
def workspace_status_cmd(folder: Path = typer.Argument(..., help="The workspace folder."),
                         as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Counts by status, flags and reviewer."""
    import json

    from dermaseg.workspace.export import format_summary, summary
    from dermaseg.workspace.store import Workspace

    with Workspace.open(folder) as ws:
        s = summary(ws)
    typer.echo(json.dumps(s, indent=2) if as_json else format_summary(s))


@workspace_app.command("export")
def workspace_export_cmd(folder: Path = typer.Argument(..., help="The workspace folder."),
                         out: Path = typer.Option(..., "--out", help="A .zip file or a new folder."),
                         approved_only: bool = typer.Option(False, "--approved-only", help="Approved masks only "
                                                            "(default: edited and approved).")) -> None:
    """Write masks, overlays, measurements.csv, images.csv and the review log."""
    from dermaseg.workspace.export import export_workspace
    from dermaseg.workspace.store import Workspace

    with Workspace.open(folder) as ws:
        path, n = export_workspace(ws, out, approved_only=approved_only)
    typer.echo(f"wrote {path} ({n} masks)")


@workspace_app.command("log")
def workspace_log_cmd(folder: Path = typer.Argument(..., help="The workspace folder."),
                      image: Optional[str] = typer.Option(None, "--image", help="Only this image id.")) -> None:
    """Print the review log (CSV: time, user, remote, action, image, detail)."""
    from dermaseg.workspace.export import format_log
    from dermaseg.workspace.store import Workspace

    with Workspace.open(folder) as ws:
        typer.echo(format_log(ws, image), nl=False)


add_model_commands(workspace_app)  # workspace finetune | models | use (serve/workspace_cli.py)


@app.command("export")
def export_cmd(
    model: str = typer.Option(..., "--model", help="Model name (see `dermaseg models`) or a saved model file."),
    fmt: str = typer.Option("onnx", "--format", help="Export format: onnx."),
    out: Path = typer.Option(..., "--out", help="Folder to write the graphs and dermaseg_onnx.json into."),
    int8: bool = typer.Option(False, "--int8", help="Quantise to int8 (static QDQ for a calibrated CNN, dynamic for SAM; see docs/onnx.md)."),
    opset: int = typer.Option(20, "--opset", help="ONNX opset (18 or newer; 20, the default, has a fused GELU)."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="Weights for sam-vit-b/l/h."),
) -> None:
    """Export a model to ONNX: model.onnx (CNN) or encoder.onnx + decoder.onnx (SAM family), with a JSON
    that says how to use them without dermaseg."""
    from dermaseg.export.onnx_export import export_cli

    export_cli(model, format=fmt, out=out, int8=int8, opset=opset, checkpoint=checkpoint)


@app.command("report")
def report_cmd(run_dir: Path = typer.Argument(..., help="An evaluate or train output folder.")) -> None:
    """Re-render report.html and the figures from a run's saved JSON/CSV."""
    from dermaseg.report.html import render_report

    path = render_report(run_dir)
    typer.echo(f"wrote {path}")


def usage_line(e: Exception) -> str:
    """One line for a click/typer usage error: the message plus where to get help, no usage block."""
    msg = " ".join(str(e.format_message()).split()) if hasattr(e, "format_message") else " ".join(str(e).split())
    ctx = getattr(e, "ctx", None)
    command = getattr(ctx, "command_path", None) or "dermaseg"
    return f"{msg.rstrip('.')} (try '{command} --help')"


def _is_usage_error(e: BaseException) -> bool:
    """A usage error of typer's bundled click (``typer._click.exceptions.UsageError``: what typer raises) or
    of click itself; both carry ``exit_code`` 2 and ``format_message``."""
    return (isinstance(e, typer.TyperException) or type(e).__module__.startswith("click")) and \
        callable(getattr(e, "format_message", None)) and isinstance(getattr(e, "exit_code", None), int)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app. A DermasegError is one line ``error: ...`` and exit code 2;
    a usage error (unknown option or command, missing or bad value) is one line and exit code 2."""
    try:
        rc = app(args=argv, standalone_mode=False, prog_name="dermaseg")
    except DermasegError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as e:
        if type(e).__name__ == "NoArgsIsHelpError":  # `dermaseg` or `dermaseg data` alone: the help text
            e.show()  # type: ignore[attr-defined]
            sys.exit(e.exit_code)  # type: ignore[attr-defined]
        if _is_usage_error(e):
            print(f"error: {usage_line(e)}", file=sys.stderr)
            sys.exit(e.exit_code)  # type: ignore[attr-defined]
        if type(e).__name__ == "Abort":
            sys.exit(1)
        raise
    sys.exit(rc if isinstance(rc, int) else 0)
