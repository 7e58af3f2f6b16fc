"""Data-parallel training under ``torchrun``: the process group, each rank's device, DDP, synchronised
BatchNorm and the reductions the trainer needs.

``dermaseg train`` runs unchanged under ``torchrun --nproc-per-node N -m dermaseg train ...`` (and with
``--nnodes``/``--rdzv-*`` across machines): :func:`setup` sees torchrun's environment (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``) and joins the process group, NCCL on
CUDA (each rank on ``cuda:LOCAL_RANK``), gloo on the CPU. Without that environment nothing changes: one
process, no process group.

The rules a distributed run follows (the trainer, the tasks and :mod:`dermaseg.training.run` apply them):

- **Batch.** The recipe's ``batch_size`` B is the *global* batch; each of the W ranks steps on B / W
  images (:func:`per_rank_batch`; an error when W does not divide B), so the same command gives the same
  optimisation on 1 or W processes.
- **Samples.** Every rank draws the same permutation from ``(seed, epoch)`` as a single process does and
  takes a disjoint share of each global batch (:func:`dermaseg.training.caches.rank_indices`).
- **BatchNorm.** Statistics over the global batch: ``torch.nn.SyncBatchNorm`` (timm's converter, which
  keeps timm's BatchNorm+activation layers) on CUDA. torch's SyncBatchNorm refuses CPU tensors (it raises
  "SyncBatchNorm expected input tensor to be on GPU" in this torch), so on gloo :class:`CPUSyncBatchNorm`
  does the same with differentiable all-reduces (a sum whose backward sums the gradients over ranks):
  the forward pass normalises with the global batch's mean and (two-pass, float64) variance and the
  backward pass sums the gradients of the statistics over ranks, as SyncBatchNorm's does.
- **Metrics.** Training loss, validation loss and per-image Dice/IoU are sums of per-image values and
  counts reduced over ranks (:meth:`DistContext.sum`), never a mean of per-rank means.
- **Files.** Only rank 0 writes (config.json, history.csv, best.pt, last.pt, metrics.json, result.json),
  atomically; every rank reads ``last.pt`` on ``--resume`` (so ``--out`` must be on a filesystem every
  node shares, as ``--data`` must be). The final validation of ``best.pt`` runs on rank 0 only, after
  training; the other ranks wait at a barrier (the process group's timeout is
  ``$DERMASEG_DIST_TIMEOUT_MIN`` minutes, default 120).
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from dermaseg.devices import select_device
from dermaseg.errors import DermasegError

__all__ = ["DistContext", "setup", "context", "teardown", "launched_by_torchrun", "per_rank_batch",
           "convert_sync_batchnorm", "CPUSyncBatchNorm", "CPUSyncBatchNormAct", "wrap_ddp", "TaskStep"]

_TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class DistContext:
    """How this process trains: ``world_size`` processes, this one ``rank`` (``local_rank`` on its node),
    on ``device``, over ``backend`` (None: one process, no process group); ``devices`` lists every rank's
    device (``"host:device"``)."""

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0
    backend: str | None = None
    device: str = "cpu"
    devices: tuple[str, ...] = field(default_factory=tuple)

    @property
    def active(self) -> bool:
        """True inside a torchrun process group (even of one process)."""
        return self.backend is not None

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes files and prints."""
        return self.rank == 0

    def barrier(self) -> None:
        if self.active:
            import torch.distributed as dist

            dist.barrier()

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum of ``values`` over every rank (float64; unchanged in one process)."""
        if not self.active:
            return [float(v) for v in values]
        import torch.distributed as dist

        t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=self._comm_device())
        dist.all_reduce(t)
        return [float(v) for v in t.cpu()]

    def gather(self, obj: Any) -> list[Any]:
        """``obj`` of every rank, in rank order (a picklable object)."""
        if not self.active:
            return [obj]
        import torch.distributed as dist

        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def _comm_device(self) -> torch.device:
        return torch.device(self.device) if self.backend == "nccl" else torch.device("cpu")

    def record(self) -> dict[str, Any]:
        """What a run folder's config.json and metrics.json record about how it ran."""
        return {"world_size": self.world_size, "backend": self.backend or "none (one process)",
                "devices": list(self.devices) if self.devices else [self.device]}


_CONTEXT: DistContext | None = None


def launched_by_torchrun() -> bool:
    """True when torchrun's (or any ``env://`` launcher's) rank variables are set."""
    return all(v in os.environ for v in _TORCHRUN_VARS)


def context() -> DistContext:
    """The context :func:`setup` made, else a one-process context."""
    return _CONTEXT if _CONTEXT is not None else DistContext()


def setup(device: str | None = None) -> DistContext:
    """Join torchrun's process group once per process (later calls return the same context); without
    torchrun's environment, a one-process context on :func:`~dermaseg.devices.select_device`'s device."""
    global _CONTEXT
    if _CONTEXT is not None:
        return _CONTEXT
    if not launched_by_torchrun():
        return DistContext(device=str(select_device(device)))
    import socket

    import torch.distributed as dist

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ["LOCAL_RANK"])
    dev = select_device(device)
    if dev.type == "cuda":
        if local >= torch.cuda.device_count():
            raise DermasegError(f"torchrun: LOCAL_RANK {local} but this node has {torch.cuda.device_count()} "
                                "CUDA devices; use --nproc-per-node <= the GPU count")
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
        backend = "nccl"
    elif dev.type == "cpu":
        backend = "gloo"
    else:
        raise DermasegError(f"--device {dev.type}: distributed training runs on CUDA (NCCL) or the CPU (gloo)")
    minutes = float(os.environ.get("DERMASEG_DIST_TIMEOUT_MIN", "120"))
    if not dist.is_initialized():
        kw: dict[str, Any] = {"device_id": dev} if backend == "nccl" else {}
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=minutes), **kw)
    base = DistContext(world_size=world, rank=rank, local_rank=local, backend=backend, device=str(dev))
    devices = tuple(base.gather(f"{socket.gethostname()}:{dev}"))
    _CONTEXT = DistContext(world_size=world, rank=rank, local_rank=local, backend=backend, device=str(dev),
                           devices=devices)
    return _CONTEXT


def teardown() -> None:
    """Leave the process group (end of ``dermaseg train`` in a torchrun process)."""
    global _CONTEXT
    if _CONTEXT is not None and _CONTEXT.active:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
    _CONTEXT = None


def per_rank_batch(batch_size: int, world_size: int) -> int:
    """The images each rank steps on: the global ``batch_size`` / ``world_size`` (must divide)."""
    if batch_size % world_size:
        raise DermasegError(f"--batch-size {batch_size}: the global batch must be a multiple of the "
                            f"{world_size} processes (each steps on batch / processes images)")
    return batch_size // world_size


# ---- synchronised BatchNorm on the CPU -------------------------------------------------------------------
class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks whose gradient is the sum over ranks of the incoming gradients (as
    ``torch.distributed.nn.functional.all_reduce``, which this torch deprecates)."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        out = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return _AllReduceSum.apply(grad)


class CPUSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm over the global batch of every rank for CPU tensors (gloo), where torch's SyncBatchNorm
    raises. Input N×C×... ; in eval mode, or outside a process group, it is plain BatchNorm."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        if not (self.training and dist.is_available() and dist.is_initialized()):
            return super().forward(x)
        all_reduce = _AllReduceSum.apply
        c = x.shape[1]
        dims = [0, *range(2, x.dim())]
        shape = [1, c] + [1] * (x.dim() - 2)
        local = torch.cat([x.sum(dims, dtype=torch.float64),
                           torch.tensor([x.numel() / c], dtype=torch.float64)])
        total = all_reduce(local)
        count = total[c].detach()
        mean = total[:c] / count
        centred = x.double() - mean.view(shape)
        var = all_reduce((centred * centred).sum(dims)) / count  # biased, two-pass: normalises the batch
        y = (centred * torch.rsqrt(var + self.eps).view(shape)).to(x.dtype)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = (1.0 / float(self.num_batches_tracked)) if self.momentum is None else self.momentum
                n = float(count)
                self.running_mean.mul_(1 - m).add_(mean.detach().to(self.running_mean.dtype), alpha=m)
                unbiased = var.detach() * (n / max(n - 1.0, 1.0))
                self.running_var.mul_(1 - m).add_(unbiased.to(self.running_var.dtype), alpha=m)
        return y


class CPUSyncBatchNormAct(CPUSyncBatchNorm):
    """timm's BatchNorm + dropout + activation layer (``BatchNormAct2d``) with :class:`CPUSyncBatchNorm`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = super().forward(x)
        if hasattr(self, "drop"):
            x = self.drop(x)
        if hasattr(self, "act"):
            x = self.act(x)
        return x


def _to_cpu_sync(module: nn.Module) -> nn.Module:
    from timm.layers import BatchNormAct2d

    out = module
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        cls = CPUSyncBatchNormAct if isinstance(module, BatchNormAct2d) else CPUSyncBatchNorm
        out = cls(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats)
        if module.affine:
            out.weight, out.bias = module.weight, module.bias
        out.running_mean, out.running_var = module.running_mean, module.running_var
        out.num_batches_tracked = module.num_batches_tracked
        if isinstance(module, BatchNormAct2d):
            out.act, out.drop = module.act, module.drop
        out.train(module.training)
    for name, child in module.named_children():
        out.add_module(name, _to_cpu_sync(child))
    return out


def convert_sync_batchnorm(model: nn.Module, device: torch.device | str) -> nn.Module:
    """Every BatchNorm of ``model`` (in place; the same parameters and buffers, the same state-dict keys)
    made to use the global batch's statistics: SyncBatchNorm on CUDA, :class:`CPUSyncBatchNorm` on CPU."""
    if torch.device(device).type == "cuda":
        from timm.layers import convert_sync_batchnorm as timm_convert

        return timm_convert(model)
    return _to_cpu_sync(model)


# ---- DDP ---------------------------------------------------------------------------------------------------
class TaskStep(nn.Module):
    """``task.forward(model, batch)`` as a module, so that DDP sees the whole step (SAM tasks call the
    model's ``encode``/``decode``, not its ``forward``). Holds ``model`` as its only child."""

    def __init__(self, model: nn.Module, task) -> None:
        super().__init__()
        self.model = model
        self._task = [task]  # not a submodule

    def forward(self, batch):
        return self._task[0].forward(self.model, batch)


def wrap_ddp(model: nn.Module, task, ctx: DistContext, find_unused: bool) -> nn.Module:
    """A DistributedDataParallel :class:`TaskStep` over ``model`` (already on ``ctx.device``).
    ``find_unused``: some trainable parameters get no gradient in a step (SAM's IoU head)."""
    from torch.nn.parallel import DistributedDataParallel

    dev = torch.device(ctx.device)
    ids = [dev] if dev.type == "cuda" else None
    return DistributedDataParallel(TaskStep(model, task), device_ids=ids, find_unused_parameters=find_unused)
