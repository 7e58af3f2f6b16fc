"""The one trainer: a :class:`Recipe` configures it, a task feeds it, small hooks do each step.

Hooks (override by passing callables or subclassing sparingly, as nnU-Net's trainer does):
``build_loss`` -> ``configure_optimizers`` -> per epoch ``train_step`` on every batch, ``validate``,
``on_epoch_end`` (history.csv, best.pt, last.pt, early stopping), ``save_checkpoint``/``load_checkpoint``.

Run folder (``out``): ``history.csv`` (epoch, train_loss, val_loss, val_dice, val_iou, lr, seconds),
``best.pt`` (the best epoch by the recipe's ``monitor`` on the per-epoch validation at the model's
resolution, a model file of :mod:`dermaseg.models.files` that ``create_model(path)`` loads), ``last.pt`` (the same plus optimizer, scheduler, AMP scaler,
RNG states, epoch and history: ``resume=True`` continues from it). Every file is written atomically.

Determinism: every epoch reseeds torch/numpy/random from ``(seed, epoch)`` and the task draws the sample
order and augmentations from the same pair, so 1 epoch + resume + 1 epoch gives the same weights as
2 epochs straight (on the same device and thread count).

Distributed (``dist``, under torchrun; :mod:`dermaseg.training.distributed`): the step goes through
DistributedDataParallel with the model's BatchNorm synchronised, each rank steps on its share of every
global batch, the epoch's losses and the validation's per-image sums are reduced over ranks, and only
rank 0 prints and writes files. Rank r > 0 reseeds torch from ``(seed, epoch, r)`` (its own dropout
masks); rank 0 from ``(seed, epoch)`` as one process does. ``$DERMASEG_DEBUG_SAMPLES=DIR`` makes every
rank append the sample indices of each epoch to ``DIR/rank<r>.jsonl`` (tests).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dermaseg.errors import DermasegError
from dermaseg.evaluation.metrics import batch_dice_iou
from dermaseg.io import write_text
from dermaseg.models.files import read_model_file, write_model_file
from dermaseg.training.distributed import DistContext, convert_sync_batchnorm, wrap_ddp
from dermaseg.training.finetune import keep_frozen_eval
from dermaseg.training.losses import build_loss
from dermaseg.training.recipes import Recipe
from dermaseg.training.tasks import TrainingTask

__all__ = ["Trainer", "seed_everything", "HISTORY_COLUMNS"]

HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "val_dice", "val_iou", "lr", "seconds")


def seed_everything(seed: int, epoch: int = 0, rank: int = 0) -> None:
    """Seed python, numpy and torch (all devices) from ``(seed, epoch)`` (and ``rank`` when > 0)."""
    key = [int(seed), int(epoch), 7] + ([int(rank)] if rank else [])
    s = int(np.random.SeedSequence(key).generate_state(1)[0])
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)


def _batch_len(batch) -> int:
    """Images in a batch: a tuple whose first item is B×..., or a dict holding a ``target`` B×..."""
    first = batch["target"] if isinstance(batch, dict) else batch[0]
    return int(first.shape[0])


def _batch_indices(batch) -> list[int]:
    """The dataset indices of a batch's samples (the third item of a CNN batch, ``index`` of a SAM one)."""
    idx = batch["index"] if isinstance(batch, dict) else batch[2]
    return [int(i) for i in idx]


class Trainer:
    """Train ``model`` on ``task`` with ``recipe``; write the run folder ``out``."""

    def __init__(self, model, recipe: Recipe, task: TrainingTask, out: str | Path, device: torch.device | str = "cpu",
                 seed: int = 0, progress: bool = True, extra: dict[str, Any] | None = None,
                 dist: DistContext | None = None, callback=None) -> None:
        self.model, self.recipe, self.task = model, recipe, task
        self.callback = callback  # progress: called with a dict after every batch and every epoch
        self.dist = dist or DistContext(device=str(device))
        self.out = Path(out)
        self.device = torch.device(device)
        self.seed = int(seed)
        self.progress = progress
        self.extra = dict(extra or {})
        self.amp = self.device.type == "cuda"
        self.model.to(self.device)
        self.ddp = None
        if self.dist.active:
            self.model = convert_sync_batchnorm(self.model, self.device)
            self.ddp = wrap_ddp(self.model, task, self.dist, find_unused=recipe.kind != "cnn")
        self.loss_fn = self.build_loss()
        self.optimizer, self.scheduler = self.configure_optimizers()
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.epoch = 0  # epochs completed
        self.best: float = -math.inf
        self.best_epoch = 0
        self.bad_epochs = 0
        self.history: list[dict[str, Any]] = []

    # ---- hooks -------------------------------------------------------------------------------------
    def build_loss(self):
        return build_loss(self.recipe.loss)

    def configure_optimizers(self):
        """(optimizer, scheduler or None) over the parameters that require gradients."""
        r = self.recipe
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise DermasegError(f"model '{self.model.config.get('name')}' has no trainable parameters")
        name = r.optimizer.lower()
        if name == "adam":
            opt = torch.optim.Adam(params, lr=r.lr, weight_decay=r.weight_decay)
        elif name == "adamw":
            opt = torch.optim.AdamW(params, lr=r.lr, weight_decay=r.weight_decay)
        elif name == "sgd":
            opt = torch.optim.SGD(params, lr=r.lr, momentum=r.momentum, weight_decay=r.weight_decay)
        else:
            raise DermasegError(f"unknown optimizer '{r.optimizer}'; choose adam, adamw or sgd")
        if r.warmup_epochs and r.schedule != "cosine":
            raise DermasegError(f"recipe '{r.name}': warmup_epochs needs the cosine schedule, not '{r.schedule}'")
        if r.schedule == "constant":
            sched = None
        elif r.schedule == "cosine":
            # closed form (not CosineAnnealingLR's recursion): a resumed run with more --epochs follows the
            # longer schedule from where it is, instead of a curve bent for the old length
            def cosine(epoch: int) -> float:
                warm = int(self.recipe.warmup_epochs)
                if epoch < warm:  # linear warm-up: epoch e of W runs at (e + 1) / (W + 1) of lr
                    return (epoch + 1) / (warm + 1)
                t = min(epoch - warm, self.recipe.epochs - warm) / max(1, self.recipe.epochs - warm)
                return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * t))

            sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine)
        elif r.schedule == "plateau":
            sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=2)
        else:
            raise DermasegError(f"unknown schedule '{r.schedule}'; choose constant, cosine or plateau")
        return opt, sched

    def train_step(self, batch) -> float:
        """One optimisation step on one batch; returns the batch loss."""
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
            logits, target = self.ddp(batch) if self.ddp is not None else self.task.forward(self.model, batch)
            loss = self.loss_fn(logits.float(), target)
        if not torch.isfinite(loss):
            raise DermasegError(f"training diverged at epoch {self.epoch + 1} (loss {loss.item()}); "
                                "lower --lr")
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return float(loss.detach())

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Validation loss and per-image mean Dice/IoU at the model's resolution (threshold applied); in a
        distributed run each rank scores its share and the sums and counts are reduced over ranks."""
        self.model.eval()
        losses, dices, ious, n = 0.0, [], [], 0
        for batch in self.task.val_batches():
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
                logits, target = self.task.forward(self.model, batch)
            logits = logits.float()
            b = logits.shape[0]
            losses += float(self.loss_fn(logits, target)) * b
            n += b
            d, i = batch_dice_iou(torch.sigmoid(logits) > self.recipe.threshold, target > 0.5)
            dices.append(d.cpu())
            ious.append(i.cpu())
        dsum = float(torch.cat(dices).double().sum()) if dices else 0.0
        isum = float(torch.cat(ious).double().sum()) if ious else 0.0
        losses, n, dsum, isum = self.dist.sum([losses, n, dsum, isum])
        if n == 0:
            return {"val_loss": math.nan, "val_dice": math.nan, "val_iou": math.nan}
        return {"val_loss": losses / n, "val_dice": dsum / n, "val_iou": isum / n}

    def on_epoch_end(self, row: dict[str, Any]) -> bool:
        """Record ``row``, step the schedule, write checkpoints; True to stop (early stopping)."""
        r = self.recipe
        self.history.append(row)
        score = row.get(f"val_{r.monitor}", math.nan)
        if self.scheduler is not None:
            if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                self.scheduler.step(score if math.isfinite(score) else -row["train_loss"])
            else:
                self.scheduler.step()
        improved = (math.isfinite(score) and score > self.best) or (
            not math.isfinite(score) and self.best_epoch == 0)
        if improved or not self.task.val_samples:
            self.best = score if math.isfinite(score) else self.best
            self.best_epoch = self.epoch
            self.bad_epochs = 0
            if self.dist.is_main:
                self.save_checkpoint(self.out / "best.pt", full=False)
        else:
            self.bad_epochs += 1
        if self.dist.is_main:
            self.write_history()
            self.save_checkpoint(self.out / "last.pt", full=True)
        return r.early_stopping is not None and self.bad_epochs >= r.early_stopping

    # ---- files -------------------------------------------------------------------------------------
    def write_history(self) -> None:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=HISTORY_COLUMNS, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for row in self.history:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
        write_text(self.out / "history.csv", buf.getvalue())

    def _model_config(self) -> dict[str, Any]:
        cfg = dict(self.model.config)
        cfg.pop("source_file", None)
        if getattr(self.model, "family", "") == "cnn":
            cfg["threshold"] = float(self.recipe.threshold)
        return cfg

    def save_checkpoint(self, path: Path, full: bool = True) -> None:
        """A model file (:mod:`dermaseg.models.files`); ``full`` adds the training state (``last.pt``)."""
        extra = dict(self.extra, recipe=self.recipe.to_dict(), epoch=self.epoch, best_epoch=self.best_epoch,
                     best_score=self.best if math.isfinite(self.best) else None, monitor=self.recipe.monitor)
        training = None
        if full:
            training = {
                "epoch": self.epoch, "best": self.best, "best_epoch": self.best_epoch,
                "bad_epochs": self.bad_epochs, "history": self.history,
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
                "scaler": self.scaler.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            }
        write_model_file(path, self._model_config(),
                         {k: v.detach().cpu() for k, v in self.model.state_dict().items()}, extra, training)

    def load_checkpoint(self, path: Path) -> None:
        """Restore model, optimizer, scheduler, scaler, RNG, epoch and history from a ``last.pt``."""
        path = Path(path)
        try:
            f = read_model_file(path)
        except DermasegError as e:
            raise DermasegError(f"{path}: cannot resume from this file ({e})") from e
        state = f.training
        if state is None:
            raise DermasegError(f"{path}: cannot resume from this file (no training state: not a last.pt)")
        if f.config.get("name") != self.model.config.get("name"):
            raise DermasegError(f"{path}: was trained as '{f.config.get('name')}', not "
                                f"'{self.model.config.get('name')}'")
        self.model.load_state_dict(f.state_dict)
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            sched_state = dict(state["scheduler"])
            if isinstance(self.scheduler, torch.optim.lr_scheduler.LambdaLR):
                sched_state.setdefault("lr_lambdas", [None] * len(self.optimizer.param_groups))
                for k in ("T_max", "eta_min"):  # a last.pt written with CosineAnnealingLR (dermaseg <= 0d9b76a)
                    sched_state.pop(k, None)
            self.scheduler.load_state_dict(sched_state)
            if isinstance(self.scheduler, torch.optim.lr_scheduler.LambdaLR):
                # the optimizer's saved lr is the old schedule's; the closed form gives this recipe's (a
                # resume with more --epochs continues on the longer curve, as a straight run would)
                for group, base, fn in zip(self.optimizer.param_groups, self.scheduler.base_lrs,
                                           self.scheduler.lr_lambdas, strict=True):
                    group["lr"] = base * fn(int(state["epoch"]))
                self.scheduler._last_lr = [g["lr"] for g in self.optimizer.param_groups]
        self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.epoch = int(state["epoch"])
        self.best, self.best_epoch = float(state["best"]), int(state["best_epoch"])
        self.bad_epochs = int(state["bad_epochs"])
        self.history = list(state["history"])

    # ---- loop --------------------------------------------------------------------------------------
    def current_lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train until ``recipe.epochs`` (or early stopping); returns a summary of the run."""
        from tqdm.auto import tqdm

        self.out.mkdir(parents=True, exist_ok=True)
        last = self.out / "last.pt"
        if self.dist.active:  # every rank must resume from the same epoch (a shared --out)
            seen = self.dist.gather(resume and last.is_file())
            if len(set(seen)) > 1:
                raise DermasegError(f"{last}: seen by ranks {[r for r, s in enumerate(seen) if s]} only; "
                                    "--out must be on a filesystem every node shares")
        if resume and not last.is_file() and (self.out / "best.pt").is_file() and self.recipe.final_state:
            raise DermasegError(f"{self.out}: a finished run whose training state was dropped (recipe "
                                f"'{self.recipe.name}' keeps model files only); continue from it with "
                                f"--init {self.out / 'best.pt'} and a new --out")
        if resume and last.is_file():
            self.load_checkpoint(last)
            if self.progress:
                print(f"resuming {self.out} after epoch {self.epoch} (best epoch {self.best_epoch})", flush=True)
            if self.recipe.early_stopping is not None and self.bad_epochs >= self.recipe.early_stopping:
                return self.summary(stopped_early=True)
        self.task.prepare()  # e.g. fill the embedding cache: not part of any epoch's time
        stopped = False
        debug = os.environ.get("DERMASEG_DEBUG_SAMPLES")
        while self.epoch < self.recipe.epochs and not stopped:
            seed_everything(self.seed, self.epoch, self.dist.rank)
            self.model.train()
            keep_frozen_eval(self.model, self.recipe.freeze)
            t0 = time.perf_counter()
            lr = self.current_lr()
            total, count, seen = 0.0, 0, []
            bar = tqdm(self.task.train_batches(self.epoch), desc=f"epoch {self.epoch + 1}/{self.recipe.epochs}",
                       disable=not self.progress, leave=False)
            n_batches = len(bar) if hasattr(bar, "__len__") else None
            for i, batch in enumerate(bar):
                loss = self.train_step(batch)
                b = _batch_len(batch)
                total += loss * b
                count += b
                if self.callback is not None:
                    self.callback({"stage": "batch", "epoch": self.epoch + 1, "epochs": self.recipe.epochs,
                                   "batch": i + 1, "batches": n_batches, "loss": total / max(count, 1)})
                if debug:
                    seen.append(_batch_indices(batch))
                bar.set_postfix(loss=f"{total / max(count, 1):.4f}")
            if debug:
                self._log_samples(Path(debug), seen)
            total, count = self.dist.sum([total, count])
            row: dict[str, Any] = {"epoch": self.epoch + 1, "train_loss": total / max(count, 1)}
            row.update(self.validate())
            self.epoch += 1
            row["lr"] = lr
            row["seconds"] = time.perf_counter() - t0
            stopped = self.on_epoch_end(row)
            if self.callback is not None:
                self.callback({"stage": "epoch", "epochs": self.recipe.epochs, **row})
            if self.progress:
                print(f"epoch {row['epoch']}: train_loss {row['train_loss']:.4f}  val_loss {row['val_loss']:.4f}  "
                      f"val_dice {row['val_dice']:.4f}  val_iou {row['val_iou']:.4f}  ({row['seconds']:.1f} s)",
                      flush=True)
        if self.recipe.final_state == "model" and self.dist.is_main and self.epoch:
            self.drop_training_state()
        return self.summary(stopped_early=stopped)

    def drop_training_state(self) -> None:
        """A finished run keeps model files only: ``last.pt`` goes when it holds the same weights as
        ``best.pt`` (the last epoch is the best, or there is no validation), else it is rewritten without
        the optimiser state (about a third of its size is the model; Adam keeps two more copies)."""
        last = self.out / "last.pt"
        if not last.is_file():
            return
        if self.best_epoch == self.epoch and (self.out / "best.pt").is_file():
            last.unlink()
        else:
            self.save_checkpoint(last, full=False)

    def _log_samples(self, folder: Path, batches: list[list[int]]) -> None:
        """Append this rank's batches of the epoch just trained to ``folder/rank<r>.jsonl`` (debugging)."""
        folder.mkdir(parents=True, exist_ok=True)
        line = {"rank": self.dist.rank, "world_size": self.dist.world_size, "epoch": self.epoch,
                "out": str(self.out), "batches": batches}
        with open(folder / f"rank{self.dist.rank}.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")

    def summary(self, stopped_early: bool = False) -> dict[str, Any]:
        return {"out": str(self.out), "epochs": self.epoch, "best_epoch": self.best_epoch,
                "best_" + self.recipe.monitor: self.best if math.isfinite(self.best) else None,
                "stopped_early": stopped_early,
                "seconds": sum(float(r.get("seconds", 0.0)) for r in self.history)}
