"""The plain-PyTorch reference of benchmarks/reference.py is a valid baseline: with ktiw's
initial weights it follows ``ktiw train``'s trajectory (float64, same data streams)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from ktiw.data.families import from_spec
from ktiw.empirics.models import build_model
from ktiw.empirics.train_config import TrainConfig
from ktiw.empirics.trainer import train
from ktiw.runs import rundir

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "reference.py"
_spec = importlib.util.spec_from_file_location("ktiw_reference_benchmark", _PATH)
reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reference)  # type: ignore[union-attr]


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
DEVICES = ["cpu", pytest.param("cuda", marks=CUDA)]
"""Every test parametrised by device runs the same code path on CPU (always) and CUDA (when present)."""


@pytest.mark.parametrize("device", DEVICES)
def test_reference_loss_after_n_steps_equals_ktiw_train_with_the_same_weights(
    tmp_path: Path, device: str
) -> None:
    """ktiw on ``device`` against the reference on CPU: 1e-10 on CPU, 1e-8 across devices."""
    spec, seed, hidden = "subset:L=5,V=7", 3, 12
    cfg = TrainConfig(
        device=device,
        spec=spec,
        seeds=[seed],
        steps=6,
        batch_size=16,
        eval_every=3,
        eval_samples=8,
        proxy_steps=0,
        probe_every=0,
        dtype="float64",
        lr=3e-3,
        model_config={"hidden": hidden},
    )
    curves = rundir.load_run(train(cfg, tmp_path / "run", progress=False)).curves
    dist = from_spec(spec)
    ktiw_model, _ = build_model("lstm", {"hidden": hidden}, dist, 1, uniform=False)
    ktiw_model = ktiw_model.double()
    ktiw_model.init_seed(0, torch.Generator().manual_seed(seed))
    ref = reference.build(dist, hidden, seed).double()
    reference.load_ktiw_seed(ref, ktiw_model, 0)
    history = reference.train_seed(
        dist, seed, 6, hidden=hidden, batch_size=16, lr=3e-3, eval_every=3, eval_samples=8, model=ref
    )
    assert [st for st, _ in history] == curves["step"].tolist() == [0, 3, 6]
    ref_loss = np.array([h["loss"] for _, h in history])
    np.testing.assert_allclose(ref_loss, curves["loss"], rtol=0, atol=1e-10 if device == "cpu" else 1e-8)
    assert ref_loss[-1] < ref_loss[0] - 0.01  # it did train: the comparison is not of two constants
    np.testing.assert_allclose([h["token_acc"] for _, h in history], curves["token_acc"], atol=1e-12)
    np.testing.assert_allclose([h["attn_acc"] for _, h in history], curves["attn_acc"], atol=1e-12)


def test_reference_with_its_own_init_trains_differently_from_ktiw() -> None:
    """Guard against a vacuous match: different weights give a different loss."""
    dist = from_spec("subset:L=5,V=7")
    a = reference.train_seed(dist, 3, 2, hidden=12, batch_size=16, eval_every=2, eval_samples=8)
    ktiw_model, _ = build_model("lstm", {"hidden": 12}, dist, 1, uniform=False)
    ktiw_model.init_seed(0, torch.Generator().manual_seed(3))
    ref = reference.build(dist, 12, 3)
    reference.load_ktiw_seed(ref, ktiw_model, 0)
    b = reference.train_seed(dist, 3, 2, hidden=12, batch_size=16, eval_every=2, eval_samples=8, model=ref)
    assert abs(a[-1][1]["loss"] - b[-1][1]["loss"]) > 1e-4
