"""Data-parallel training (training/distributed.py): the per-rank shares of an epoch, the global batch rule,
CPU SyncBatchNorm against one process, and `dermaseg train --nproc 2` (the real torchrun path, two gloo
processes on 127.0.0.1) against a single-process run, with --resume.

The end-to-end runs use unet-tiny (no dropout: fpn's decoder dropout draws its masks per rank, so an FPN
matches one process only in distribution) and SGD (its update is linear in the gradient; Adam's first step
is lr·g/|g|, which turns float rounding of a near-zero gradient into a different sign).

Tolerances (measured on this machine, torch 2.15 CPU): two processes against one process under torchrun
(both through CPUSyncBatchNorm, which sums BatchNorm statistics in float64) agree to 8e-7 after a 5-step
epoch (ATOL 1e-5). Against a plain one-process run (torch's float32 BatchNorm) the weights agree to 3.4e-3
(ATOL_PLAIN 1e-2) and BatchNorm's running statistics to 2.2e-2 (ATOL_PLAIN_BN 5e-2): torch's float32 statistics are the less exact ones (the two-process gradient is 1e-5 of the largest
gradient from a float64 one-process gradient, torch's float32 one 2e-4; test below), and at lr 0.05 with
momentum each SGD step multiplies such a difference by ~16.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from dermaseg.data.synthetic import write_dataset
from dermaseg.errors import DermasegError
from dermaseg.training.caches import EpochSampler, rank_indices, shard_indices
from dermaseg.training.distributed import DistContext, per_rank_batch
from dermaseg.training.launch import free_port

#: the stated tolerance of a W-process run against a one-process torchrun run (SGD, no dropout): parameters
#: and BatchNorm buffers after one epoch; measured 8e-7 on this machine
ATOL = 1e-5
#: the same against a plain one-process run (float32 BatchNorm statistics; module docstring): weights
#: (measured 3.4e-3) and BatchNorm running statistics (measured 2.2e-2)
ATOL_PLAIN, ATOL_PLAIN_BN = 1e-2, 5e-2


def test_rank_shares_split_every_global_batch_and_cover_the_epoch():
    order = list(np.random.default_rng(0).permutation(23))
    shares = [rank_indices(order, 8, 2, r) for r in range(2)]
    assert not set(shares[0]) & set(shares[1])
    # global batch k is order[8k:8k+8]: rank 0 its first half, rank 1 its second; the last (7 images) keeps 6
    assert shares[0] == order[0:4] + order[8:12] + order[16:19]
    assert shares[1] == order[4:8] + order[12:16] + order[19:22]
    assert rank_indices(order, 8, 1, 0) == order  # one process: the epoch as it always was
    three = [rank_indices(order, 6, 3, r) for r in range(3)]
    assert sorted(sum(three, [])) == sorted(order[:21])  # 23 = 3*6 + 5: the last batch keeps 3
    assert {len(s) for s in three} == {7}
    for r in range(3):
        s = EpochSampler(23, seed=4, batch_size=6, world_size=3, rank=r)
        s.set_epoch(2)
        assert len(s) == len(list(s)) == 7
    whole = EpochSampler(23, seed=4)
    whole.set_epoch(2)
    epoch2 = list(whole)
    shares2 = []
    for r in range(3):
        s = EpochSampler(23, seed=4, batch_size=6, world_size=3, rank=r)
        s.set_epoch(2)
        shares2.append(list(s))
    assert shares2 == [rank_indices(epoch2, 6, 3, r) for r in range(3)]
    assert shard_indices(5, 2, 0) == [0, 2, 4] and shard_indices(5, 2, 1) == [1, 3]


def test_global_batch_must_divide_by_the_processes():
    assert per_rank_batch(8, 2) == 4 and per_rank_batch(8, 1) == 8
    with pytest.raises(DermasegError, match="--batch-size 6: the global batch must be a multiple of the 4"):
        per_rank_batch(6, 4)


def test_one_process_context_writes_and_reduces_as_before():
    d = DistContext()
    assert not d.active and d.is_main and d.sum([1.5, 2]) == [1.5, 2.0] and d.gather("x") == ["x"]
    assert d.record() == {"world_size": 1, "backend": "none (one process)", "devices": ["cpu"]}


# ---- CPU SyncBatchNorm: two gloo processes against one ----------------------------------------------------
def _sync_bn_worker(rank: int, port: int, queue) -> None:
    import torch.distributed as dist

    from dermaseg.models.registry import create_model
    from dermaseg.training.distributed import convert_sync_batchnorm

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        torch.manual_seed(0)
        model = convert_sync_batchnorm(create_model("unet-tiny", pretrained=False, input_size=[64, 64]), "cpu")
        x = torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(1))[2 * rank:2 * rank + 2]
        y = model(x)
        (y.mean() / 2).backward()  # this rank's share of the global batch's mean
        for p in model.parameters():
            dist.all_reduce(p.grad)
        queue.put((rank, y.detach().numpy(), {k: p.grad.numpy() for k, p in model.named_parameters()},
                   {k: v.numpy() for k, v in model.state_dict().items()}))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_cpu_sync_batchnorm_matches_one_process_on_the_global_batch():
    import torch.multiprocessing as mp

    from dermaseg.models.registry import create_model
    from dermaseg.training.distributed import CPUSyncBatchNorm, CPUSyncBatchNormAct

    torch.manual_seed(0)
    model = create_model("unet-tiny", pretrained=False, input_size=[64, 64])
    exact = copy.deepcopy(model).double()  # the float64 reference of the same model
    x = torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    y = model(x)
    y.mean().backward()
    exact(x.double()).mean().backward()
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    port = free_port()
    procs = [ctx.Process(target=_sync_bn_worker, args=(r, port, queue)) for r in range(2)]
    for p in procs:
        p.start()
    got = sorted((queue.get(timeout=120) for _ in procs), key=lambda t: t[0])
    for p in procs:
        p.join(timeout=60)
    ys = torch.cat([torch.from_numpy(got[0][1]), torch.from_numpy(got[1][1])])
    assert torch.allclose(ys, y.detach(), atol=2e-5)  # normalised by the global batch, not each half
    exact_grads = dict(exact.named_parameters())
    worst_two, worst_one = 0.0, 0.0
    for k, p in model.named_parameters():  # the gradient of the global batch's loss, on every rank
        ref = exact_grads[k].grad
        scale = float(ref.abs().max())
        for r in range(2):
            g = torch.from_numpy(got[r][2][k]).double()
            assert torch.allclose(g, p.grad.double(), rtol=1e-3, atol=1e-6), k
            worst_two = max(worst_two, float((g - ref).abs().max()) / scale)
        worst_one = max(worst_one, float((p.grad.double() - ref).abs().max()) / scale)
    # two processes (float64 statistics) are closer to the exact gradient than torch's float32 BatchNorm
    assert worst_two < 5e-5 and worst_two < worst_one / 4, (worst_two, worst_one)
    for k, v in model.state_dict().items():  # running statistics of the global batch
        assert torch.allclose(torch.from_numpy(got[0][3][k]).double(), v.double(), atol=1e-6), k
    # the converted model keeps timm's BatchNorm+activation layers as layers with their activation
    from dermaseg.training.distributed import convert_sync_batchnorm

    conv = convert_sync_batchnorm(create_model("unet-tiny", pretrained=False, input_size=[64, 64]), "cpu")
    kinds = {type(m) for m in conv.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}
    assert kinds == {CPUSyncBatchNorm, CPUSyncBatchNormAct}
    assert set(conv.state_dict()) == set(model.state_dict())


# ---- `dermaseg train --nproc 2` end to end -------------------------------------------------------------------
ARGS = ["--recipe", "default", "--model", "unet-tiny", "--image-size", "64", "--batch-size", "4",
        "--optimizer", "sgd", "--lr", "0.05", "--seed", "3", "--device", "cpu"]


def _dermaseg(*args, env_extra: dict | None = None, timeout: int = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "dermaseg", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def ddp_runs(tmp_path_factory):
    """One dataset; a 1-epoch run in two processes (indices logged) and the same in one process."""
    root = tmp_path_factory.mktemp("ddp")
    data = write_dataset(root / "data", "folder", n=22, size=(64, 64), seed=6)
    one = _dermaseg("train", "--data", str(data), "--out", str(root / "one"), *ARGS, "--epochs", "1")
    assert one.returncode == 0, one.stderr[-3000:]
    two = _dermaseg("train", "--data", str(data), "--out", str(root / "two"), *ARGS, "--epochs", "1",
                    "--nproc", "2", env_extra={"DERMASEG_DEBUG_SAMPLES": str(root / "seen")})
    assert two.returncode == 0, (two.stdout + two.stderr)[-3000:]
    # one process, but under torchrun itself (the documented `torchrun ... -m dermaseg train` path)
    port = str(free_port())
    tr1 = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "1", "--master-addr",
                          "127.0.0.1", "--master-port", port, "-m", "dermaseg", "train", "--data", str(data),
                          "--out", str(root / "torchrun1"), *ARGS, "--epochs", "1"],
                         env={**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"},
                         capture_output=True, text=True, timeout=240)
    assert tr1.returncode == 0, (tr1.stdout + tr1.stderr)[-3000:]
    return root, data


def _state(path):
    return torch.load(path, weights_only=True)


@pytest.mark.slow
def test_two_gloo_processes_see_disjoint_shares_of_every_global_batch(ddp_runs):
    root, _ = ddp_runs
    logs = [json.loads((root / "seen" / f"rank{r}.jsonl").read_text()) for r in range(2)]
    assert [x["rank"] for x in logs] == [0, 1] and {x["world_size"] for x in logs} == {2}
    n_train = json.loads((root / "one" / "config.json").read_text())["n_train"]
    b0, b1 = logs[0]["batches"], logs[1]["batches"]
    assert len(b0) == len(b1) and all(len(a) == len(b) for a, b in zip(b0, b1, strict=True))
    seen0, seen1 = sum(b0, []), sum(b1, [])
    assert not set(seen0) & set(seen1)  # disjoint
    keep = n_train - (n_train % 4) % 2  # the last global batch keeps an even number of images
    assert sorted(seen0 + seen1) == list(range(keep))  # covering
    # each step's two halves are the single process's global batch, in its epoch order
    order = list(np.random.default_rng([3, 0]).permutation(n_train))
    assert [a + b for a, b in zip(b0, b1, strict=True)] == [order[i:min(i + 4, keep)] for i in range(0, keep, 4)]


def _max_diff(a: dict, b: dict, part: str = "all") -> float:
    """The largest difference of two state dicts' float tensors (``part``: all, weights or bn_stats)."""
    assert a.keys() == b.keys()
    return max(float((v.double() - b[k].double()).abs().max()) for k, v in a.items() if v.is_floating_point()
               and (part == "all" or ("running_" in k) == (part == "bn_stats")))


@pytest.mark.slow
def test_two_process_checkpoint_equals_the_single_process_one(ddp_runs):
    root, _ = ddp_runs
    one, two = _state(root / "one" / "last.pt"), _state(root / "two" / "last.pt")
    tr1 = _state(root / "torchrun1" / "last.pt")
    assert _max_diff(tr1["state_dict"], two["state_dict"]) < ATOL  # same numerics, 1 vs 2 processes
    assert _max_diff(one["state_dict"], two["state_dict"], "weights") < ATOL_PLAIN  # plain one process
    assert _max_diff(one["state_dict"], two["state_dict"], "bn_stats") < ATOL_PLAIN_BN  # (module docstring)
    h1, h2, ht = one["training"]["history"][0], two["training"]["history"][0], tr1["training"]["history"][0]
    for k in ("train_loss", "val_loss", "val_dice", "val_iou"):  # sums over ranks, not means of means
        assert h2[k] == pytest.approx(ht[k], abs=1e-5), k
        assert h2[k] == pytest.approx(h1[k], abs=2e-2), k
    m1 = json.loads((root / "one" / "metrics.json").read_text())
    m2 = json.loads((root / "two" / "metrics.json").read_text())
    mt = json.loads((root / "torchrun1" / "metrics.json").read_text())
    for k in ("dice", "iou"):
        assert m2["summary"]["per_image_mean"][k]["mean"] == pytest.approx(
            mt["summary"]["per_image_mean"][k]["mean"], abs=1e-4)
    cfg = json.loads((root / "two" / "config.json").read_text())
    assert cfg["world_size"] == 2 and cfg["backend"] == "gloo" and len(cfg["devices"]) == 2
    assert all(d.endswith(":cpu") for d in cfg["devices"])
    assert m2["training"]["world_size"] == 2 and m2["training"]["backend"] == "gloo"
    assert mt["training"]["world_size"] == 1 and mt["training"]["backend"] == "gloo"
    c1 = json.loads((root / "one" / "config.json").read_text())
    assert c1["world_size"] == 1 and m1["training"]["world_size"] == 1
    # rank 0 alone wrote, atomically: no temporary files left
    assert not [p for p in (root / "two").rglob("*") if ".part" in p.name]


@pytest.mark.slow
def test_resume_under_ddp_continues_as_a_straight_ddp_run(ddp_runs, tmp_path):
    root, data = ddp_runs
    resumed = tmp_path / "resumed"
    shutil.copytree(root / "two", resumed)
    r = _dermaseg("train", "--data", str(data), "--out", str(resumed), *ARGS, "--epochs", "2", "--resume",
                  "--nproc", "2")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert "resuming" in r.stdout
    straight = tmp_path / "straight"
    r = _dermaseg("train", "--data", str(data), "--out", str(straight), *ARGS, "--epochs", "2", "--nproc", "2")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    a, b = _state(straight / "last.pt"), _state(resumed / "last.pt")
    assert a["training"]["epoch"] == b["training"]["epoch"] == 2
    for k, v in a["state_dict"].items():
        assert torch.equal(v, b["state_dict"][k]), k
    assert [h["train_loss"] for h in a["training"]["history"]] == [h["train_loss"] for h in b["training"]["history"]]


def test_nproc_checks_the_global_batch_before_starting_processes(tmp_path):
    data = write_dataset(tmp_path / "data", "folder", n=4, size=(64, 64), seed=1)
    r = _dermaseg("train", "--data", str(data), "--out", str(tmp_path / "run"), *ARGS, "--epochs", "1",
                  "--nproc", "3", timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip() == ("error: --batch-size 4: the global batch must be a multiple of the 3 processes "
                                "(each steps on batch / processes images)")
    assert not (tmp_path / "run").exists()
