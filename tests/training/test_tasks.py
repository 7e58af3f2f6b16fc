"""The training tasks behind one protocol: what the Trainer needs, and the CNN task's batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dermaseg.data.readers import load_dataset
from dermaseg.data.synthetic import write_dataset
from dermaseg.models.registry import create_model
from dermaseg.training.recipes import get_recipe
from dermaseg.training.sam_tasks import SamTask
from dermaseg.training.tasks import CNNTask, TrainingTask, make_task

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    return load_dataset(write_dataset(tmp_path_factory.mktemp("t") / "f", "folder", n=6, size=(64, 64), seed=2))


def test_cnn_task_batches(ds):
    r = get_recipe("default").override(input_size=(64, 64), batch_size=4, model="unet-tiny", augment="none")
    model = create_model("unet-tiny", pretrained=False, input_size=(64, 64))
    task = make_task(model, r, ds.samples[:5], ds.samples[5:], seed=0, progress=False)
    assert isinstance(task, CNNTask) and isinstance(task, TrainingTask)
    task.prepare()
    batches = list(task.train_batches(0))
    assert [len(b[0]) for b in batches] == [4]  # 5 images: the 1-image last batch is dropped (BatchNorm)
    x, y, idx = batches[0]
    assert x.shape == (4, 3, 64, 64) and y.shape == (4, 1, 64, 64) and set(torch.unique(y).tolist()) <= {0.0, 1.0}
    assert len(set(idx.tolist())) == 4 and set(idx.tolist()) <= set(range(5))
    (vx, vy, _), = list(task.val_batches())
    logits, target = task.forward(model, (vx, vy, None))
    assert logits.shape == target.shape == (1, 1, 64, 64)
    # augment "none" and normalisation only: the validation input is the image, normalised by the model's mean/std
    img = task.val_data.images[0].astype(np.float32) / 255.0
    want = (img - np.asarray(model.mean, np.float32)) / np.asarray(model.std, np.float32)
    assert np.allclose(vx[0].numpy().transpose(1, 2, 0), want, atol=1e-5)


def test_sam_task_is_a_training_task(ds, tmp_path):
    r = get_recipe("skinsam").override(batch_size=2)
    model = create_model("skinsam-litemedsam", pretrained=False)
    task = make_task(model, r, ds.samples[:2], ds.samples[2:3], progress=False, cache_dir=tmp_path)
    assert isinstance(task, SamTask) and isinstance(task, TrainingTask)
