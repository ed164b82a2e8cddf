"""Probes from hook points: a model written only with hook points gets alpha, beta and grad."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from ktiw.data.distribution import Batch
from ktiw.data.families import from_spec
from ktiw.empirics import batched as bt
from ktiw.empirics.models import MODELS, hooks
from ktiw.empirics.models.base import SeedModel, log_odds
from ktiw.empirics.models.hooks import Cache, hook
from ktiw.empirics.probes import evaluate


class PositionalQueryModel(SeedModel):
    """A "fourth model" with no probe code: ``score[t, l] = q_t . E[x_l]``, values ``E[x_l]``,
    state ``r_t``, readout ``U pre``."""

    def __init__(self, n_in: int, n_out: int, T: int, d: int, S: int) -> None:
        super().__init__()
        self.n_seeds = S
        g = torch.Generator().manual_seed(0)
        self.E = nn.Parameter(torch.randn(S, n_in, d, generator=g, dtype=torch.float64))
        self.q = nn.Parameter(torch.randn(S, T, d, generator=g, dtype=torch.float64))
        self.r = nn.Parameter(torch.randn(S, T, d, generator=g, dtype=torch.float64))
        self.U = nn.Parameter(torch.randn(S, n_out, d, generator=g, dtype=torch.float64))

    def init_seed(self, s: int, gen: torch.Generator) -> None:  # pragma: no cover - fixed above
        pass

    def prepare(self, batches: Sequence[Batch]) -> SimpleNamespace:
        return SimpleNamespace(
            src=torch.as_tensor(np.stack([b.src for b in batches])),
            tgt=torch.as_tensor(np.stack([b.tgt for b in batches])),
            src_len=np.stack([b.src_len for b in batches]),
            tgt_len=np.stack([b.tgt_len for b in batches]),
        )

    def targets(self, inputs: SimpleNamespace) -> Tensor:
        return inputs.tgt

    def readout(self, pre: Tensor, seeds: slice = slice(None)) -> Tensor:
        return bt.linear(pre, self.U[seeds])

    def pieces(self, inputs: SimpleNamespace, cache: Cache | None = None) -> tuple[Tensor, Tensor]:
        ex = bt.embed(self.E, inputs.src)  # [S, N, L, d]
        S, N = ex.shape[:2]
        logits = hook(cache, hooks.ATTN_LOGITS, torch.matmul(self.q.unsqueeze(1), ex.transpose(-1, -2)))
        alpha = hook(cache, hooks.ATTN, torch.softmax(logits, dim=-1))
        state = hook(cache, hooks.READOUT_STATE, self.r.unsqueeze(1).expand(S, N, -1, -1))
        values = hook(cache, hooks.READOUT_VALUES, ex)
        return hook(cache, hooks.OUT, self.readout(state + torch.matmul(alpha, values))), logits

    def losses(self, inputs: SimpleNamespace, cache: Cache | None = None) -> Tensor:
        out, _ = self.pieces(inputs, cache)
        logp = torch.log_softmax(out, -1).gather(-1, inputs.tgt.unsqueeze(-1)).squeeze(-1)
        return -logp.mean(dim=(1, 2))


def test_a_model_with_only_hook_points_gets_every_probe() -> None:
    dist = from_spec("subset:L=3,V=5")
    S, N, T, L = 2, 4, 3, 3
    model = PositionalQueryModel(dist.n_in, dist.n_out, T, 6, S)
    inp = model.prepare([dist.sample(N, np.random.default_rng(s)) for s in range(S)])
    ev = evaluate(model, inp)
    ex = bt.embed(model.E, inp.src).detach()
    # alpha: the model's attention weights
    scores = torch.matmul(model.q.detach().unsqueeze(1), ex.transpose(-1, -2))
    np.testing.assert_allclose(ev.alpha, torch.softmax(scores, -1).numpy(), rtol=1e-12)
    # beta: the output when the attention is one-hot on l, computed through the model itself
    for l in range(L):
        onehot = torch.zeros(S, N, T, L, dtype=torch.float64)
        onehot[..., l] = 1.0
        out = model.readout(model.r.detach().unsqueeze(1) + torch.matmul(onehot, ex)).detach()
        np.testing.assert_allclose(ev.beta[..., l], log_odds(out, inp.tgt).numpy(), rtol=1e-10, atol=1e-12)
    # grad: central differences of each seed's loss in each attention logit
    for idx in [(0, 0, 0, 0), (1, 2, 1, 2), (1, 3, 2, 0)]:
        eps = 1e-6

        def loss_at(delta: float, idx: tuple[int, ...] = idx) -> float:
            with torch.no_grad():
                shift = torch.zeros(S, N, T, L, dtype=torch.float64)
                shift[idx] = delta
                alpha = torch.softmax(scores + shift, -1)
                out = model.readout(model.r.unsqueeze(1) + torch.matmul(alpha, ex))
                logp = torch.log_softmax(out, -1).gather(-1, inp.tgt.unsqueeze(-1)).squeeze(-1)
                return float(-logp.mean(dim=(1, 2))[idx[0]])

        assert abs((loss_at(eps) - loss_at(-eps)) / (2 * eps) - ev.grad[idx]) < 1e-8
    # accuracy and loss come from the same pass; the parameters collect no gradient
    out, _ = model.pieces(inp)
    np.testing.assert_array_equal(ev.correct, (out.argmax(-1) == inp.tgt).numpy())
    np.testing.assert_allclose(ev.loss, model.losses(inp).detach().numpy(), rtol=1e-14)
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_registered_models_hold_no_probe_code(name: str) -> None:
    assert "evaluate" not in vars(MODELS[name].cls)


def test_a_hook_point_written_twice_is_an_error() -> None:
    cache = Cache()
    cache("x", torch.zeros(1))
    with pytest.raises(ValueError, match="twice"):
        cache("x", torch.zeros(1))


def test_beta_in_seed_chunks_equals_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    from ktiw.empirics import probes

    dist = from_spec("subset:L=3,V=5")
    model = PositionalQueryModel(dist.n_in, dist.n_out, 3, 6, 3)
    inp = model.prepare([dist.sample(4, np.random.default_rng(s)) for s in range(3)])
    whole = evaluate(model, inp).beta
    monkeypatch.setattr(probes, "BETA_CHUNK_BYTES", 1)  # one seed per chunk
    np.testing.assert_array_equal(evaluate(model, inp).beta, whole)
