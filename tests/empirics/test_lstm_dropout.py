"""Dropout between the LSTM's stacked layers: training mode only, one reproducible mask stream per seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import binom

from ktiw.core.errors import KtiwError
from ktiw.data.families import from_spec
from ktiw.empirics.models import LSTMConfig, LSTMSeq2Seq
from ktiw.empirics.models.lstm import DropoutInputs, batch_key
from ktiw.empirics.probes import evaluate

torch.set_num_threads(1)
SPEC = "translate:L=5,V=9,reorder=random"


def _model(p: float, S: int = 2, layers: int = 2, bidirectional: bool = False) -> LSTMSeq2Seq:
    cfg = LSTMConfig(hidden=8, layers=layers, bidirectional=bidirectional, dropout=p)
    model = LSTMSeq2Seq(cfg, from_spec(SPEC), S).double()
    for s in range(S):
        model.init_seed(s, torch.Generator().manual_seed(10 + s))
    return model


def _batches(S: int = 2, B: int = 6) -> list:
    dist = from_spec(SPEC)
    return [dist.sample(B, np.random.default_rng([1, s])) for s in range(S)]


@pytest.mark.parametrize("bidirectional", [False, True])
def test_eval_mode_is_the_p0_model_and_p0_has_no_randomness(bidirectional: bool) -> None:
    batches = _batches()
    plain = _model(0.0, bidirectional=bidirectional)
    dropped = _model(0.5, bidirectional=bidirectional)
    inp0, inp5 = plain.prepare(batches), dropped.prepare(batches)
    assert type(inp0).__name__ == "SeqInputs"  # p = 0 keeps the model's inputs as they were
    assert isinstance(inp5, DropoutInputs) and inp5.mask_keys == tuple(batch_key(b) for b in batches)
    ref = plain.losses(inp0)  # training mode, p = 0
    dropped.eval()
    assert torch.equal(dropped.losses(inp5), ref)
    plain.eval()
    assert torch.equal(plain.losses(inp0), ref)
    dropped.train()
    train = dropped.losses(inp5)
    assert torch.all(train != ref)  # every seed's loss moved: masks act in training mode
    assert torch.equal(dropped.losses(dropped.prepare(batches)), train)  # reproducible


def test_probes_run_in_eval_mode_whatever_p_and_restore_the_mode() -> None:
    batches = _batches()
    plain, dropped = _model(0.0), _model(0.5)
    ev0 = evaluate(plain, plain.prepare(batches))
    ev5 = evaluate(dropped, dropped.prepare(batches))
    assert dropped.training and plain.training
    for name in ("loss", "alpha", "beta", "grad"):
        np.testing.assert_array_equal(getattr(ev5, name), getattr(ev0, name))


def test_each_seed_has_its_own_masks_independent_of_the_other_seeds() -> None:
    batches = _batches(S=3)
    both = _model(0.5, S=3)
    alone = _model(0.5, S=1)
    with torch.no_grad():  # seed position 2 of `both` as the only seed of `alone`
        for (_, p_all), (_, p_one) in zip(both.named_parameters(), alone.named_parameters(), strict=True):
            p_one.copy_(p_all[2:3])
    losses = both.losses(both.prepare(batches))
    assert torch.equal(alone.losses(alone.prepare(batches[2:])), losses[2:3])
    # two seeds given the very same batch get the same mask; different batches, different masks
    x = torch.ones(2, 40, 30, dtype=torch.float64)
    same = both.dropout(x, both.mask_generators(both.prepare([batches[0], batches[0]])))
    assert torch.equal(same[0], same[1])
    diff = both.dropout(x, both.mask_generators(both.prepare(batches[:2])))
    assert not torch.equal(diff[0], diff[1])


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_mask_rate_is_within_a_binomial_interval(p: float) -> None:
    """The share of dropped elements among n = 3 x 200 x 100 lies in the central 1 - 1e-6
    interval of Binomial(n, p) / n (a false alarm once in a million runs); kept elements are
    scaled by exactly 1 / (1 - p)."""
    model = _model(p, S=3)
    gens = model.mask_generators(model.prepare(_batches(S=3)))
    out = model.dropout(torch.ones(3, 200, 100, dtype=torch.float64), gens)
    n = out.numel()
    dropped = int((out == 0).sum())
    lo, hi = binom.interval(1 - 1e-6, n, p)
    assert lo <= dropped <= hi
    assert torch.all((out == 0) | torch.isclose(out, torch.tensor(1 / (1 - p), dtype=torch.float64)))


def test_dropout_options_are_checked() -> None:
    with pytest.raises(KtiwError, match="needs layers >= 2"):
        _model(0.5, layers=1)
    with pytest.raises(KtiwError, match=r"in \[0, 1\)"):
        _model(1.0)
