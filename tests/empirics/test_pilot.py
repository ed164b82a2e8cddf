"""The model-matched measurements (ktiw.empirics.pilot) equal direct float64 computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ktiw.data.families import from_spec
from ktiw.empirics import pilot as pl
from ktiw.empirics.models import build_model
from ktiw.empirics.probes import evaluate


def _log_odds(z: np.ndarray, y: int) -> float:
    return float(z[y] - np.log(np.exp(np.delete(z, y)).sum()))


def test_toy_start_statistics_equal_the_formulas() -> None:
    """Toy model, normal init, float64: mass and probe gap from B and a by hand."""
    dist = from_spec("subset:L=4,V=7")
    run = pl.Training("toy", {"init": "normal", "sigma": 0.5}, lr=1e-2, batch_size=8, dtype="float64")
    got = pl.start_statistics(run, dist, n_seeds=3, samples=6)
    model, _ = build_model("toy", {"init": "normal", "sigma": 0.5}, dist, 3, uniform=False)
    model = model.to(torch.float64)
    for s in range(3):
        model.init_seed(s, torch.Generator().manual_seed(s))
    batch = pl.fixed_samples(dist, 6)
    for s in range(3):
        B, a = model.B[s].detach().numpy(), model.a[s].detach().numpy()
        masses, gaps = [], []
        for n in range(6):
            x, y, g = batch.src[n], batch.tgt[n], batch.align[n]
            for t in range(int(batch.tgt_len[n])):
                w = np.exp(a[t] - a[t].max())
                w /= w.sum()
                masses.append(w[g[t]])
                beta = np.array([_log_odds(B[x[l]], int(y[t])) for l in range(len(x))])
                gaps.append(beta[g[t]] - np.delete(beta, g[t]).mean())
        assert got.mass[s] == pytest.approx(np.mean(masses), abs=1e-12)
        assert got.kgap[s] == pytest.approx(np.mean(gaps), abs=1e-12)
        assert got.positions[s] == 4


def test_lstm_reduction_equals_a_loop_over_the_probe_arrays() -> None:
    """Small LSTM, float64: the reduced coordinates equal a per-token loop over the production
    probe arrays (ktiw.empirics.probes.evaluate: alpha, beta)."""
    dist = from_spec("permutation:L=5")
    run = pl.Training("lstm", {"hidden": 6}, lr=1e-3, batch_size=4, dtype="float64")
    got = pl.start_statistics(run, dist, n_seeds=2, samples=5)
    model, _ = build_model("lstm", {"hidden": 6}, dist, 2, uniform=False)
    model = model.to(torch.float64)
    for s in range(2):
        model.init_seed(s, torch.Generator().manual_seed(s))
    batch = pl.fixed_samples(dist, 5)
    ev = evaluate(model, model.prepare([batch] * 2))
    for s in range(2):
        masses, gaps = [], []
        for n in range(5):
            for t in range(int(batch.tgt_len[n])):
                g = int(batch.align[n, t])
                masses.append(ev.alpha[s, n, t, g])
                row = ev.beta[s, n, t, : int(batch.src_len[n])]
                gaps.append(row[g] - np.delete(row, g).mean())
        assert got.mass[s] == pytest.approx(np.mean(masses), abs=1e-12)
        assert got.kgap[s] == pytest.approx(np.mean(gaps), abs=1e-12)
        assert got.positions[s] == 6  # L words + EOS


def test_pilot_trains_the_first_seeds_as_ktiw_train(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The pilot's seed 0 after 4 steps reads the same attention mass as the trainer's seed 0."""
    from ktiw.empirics import trainer as tr
    from ktiw.empirics.train_config import TrainConfig

    dist = from_spec("subset:L=4,V=6")
    run = pl.Training("lstm", {"hidden": 8}, lr=1e-2, batch_size=4)
    trace = pl.pilot(run, dist, [0, 1], steps=4, every=4, samples=5)
    cfg = TrainConfig(
        spec="subset:L=4,V=6",
        model="lstm",
        model_config={"hidden": 8},
        seeds=[0, 1],
        steps=4,
        batch_size=4,
        lr=1e-2,
        eval_every=4,
        proxy_steps=0,
        threads=1,
    )
    trainer = tr.Trainer(cfg, tmp_path / "run")
    trainer.run(progress=False)
    model = trainer.model
    batch = pl.fixed_samples(dist, 5)
    after = pl.reduced_coordinates(model, model.prepare([batch] * 2), batch)
    np.testing.assert_allclose(trace.mass[-1], after.mass, rtol=1e-5)
    np.testing.assert_allclose(trace.kgap[-1], after.kgap, rtol=1e-5, atol=1e-6)
