"""The LSTM's encoder variants (``encoder`` option): ``bow``/``bag`` are bags of words (``bow`` with
learned positions for the attention), ``sorted`` keeps recurrence without word order,
``recurrent`` (the default) is unchanged and sees word order."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from typer.testing import CliRunner

from ktiw.cli.app import app
from ktiw.config.presets import get_preset, with_overrides
from ktiw.core.errors import KtiwError
from ktiw.data.families import from_spec
from ktiw.empirics.models import LSTMConfig, LSTMSeq2Seq

torch.set_num_threads(1)
SPEC = "permutation:L=6"


def _model(encoder: str, S: int = 2, uniform: bool = False, **kw: object) -> LSTMSeq2Seq:
    dist = from_spec(SPEC)
    model = LSTMSeq2Seq(LSTMConfig(hidden=5, encoder=encoder, **kw), dist, S, uniform=uniform).double()
    for s in range(S):
        model.init_seed(s, torch.Generator().manual_seed(30 + s))
    return model


def _inputs(model: LSTMSeq2Seq, B: int = 4):
    dist = from_spec(SPEC)
    batches = [dist.sample(B, np.random.default_rng(s)) for s in range(model.n_seeds)]
    return model.prepare(batches), batches


def _permuted_sources(batches, rng: np.random.Generator):
    """The same batches with each source's words permuted (targets kept); the permutations."""
    out, perms = [], []
    for b in batches:
        perm = np.stack([rng.permutation(b.src.shape[1]) for _ in range(len(b))])
        src = np.take_along_axis(b.src, perm, axis=1)
        out.append(type(b)(**{**vars(b), "src": src}))
        perms.append(perm)
    return out, np.stack(perms)


def test_default_encoder_is_the_recurrent_one_with_the_same_parameters_and_numbers() -> None:
    assert LSTMConfig().encoder == "recurrent"
    dist = from_spec(SPEC)
    a = LSTMSeq2Seq(LSTMConfig(hidden=5), dist, 2).double()
    b = _model("recurrent")
    for s in range(2):
        a.init_seed(s, torch.Generator().manual_seed(30 + s))
    assert list(a.state_dict()) == list(b.state_dict())
    pairs = zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    assert all(torch.equal(x, y) for x, y in pairs)
    inp, _ = _inputs(a)
    assert torch.equal(a.losses(inp), b.losses(inp))


@pytest.mark.parametrize("encoder", ["bow", "bag", "sorted"])
def test_permuting_the_source_permutes_the_states_exactly(encoder: str) -> None:
    """With ``p = 0`` (its initial value) the states are the word part alone."""
    model = _model(encoder, layers=2)
    inp, batches = _inputs(model)
    moved, perm = _permuted_sources(batches, np.random.default_rng(5))
    with torch.no_grad():
        h, finals = model.encode(inp)
        h2, finals2 = model.encode(model.prepare(moved))
    L = perm.shape[-1]
    idx = torch.as_tensor(perm).unsqueeze(-1).expand(-1, -1, -1, h.shape[-1])
    # word l of the moved source is word perm[l] of the original: its state must be that word's
    assert torch.equal(h2[:, :, :L], h[:, :, :L].gather(2, idx))
    assert torch.equal(h2[:, :, L:], h[:, :, L:])  # EOS state
    for (a, c), (a2, c2) in zip(finals, finals2, strict=True):
        if encoder != "sorted":
            assert a is None and c is None and a2 is None and c2 is None  # decoder starts at zero
        else:
            assert torch.equal(a, a2) and torch.equal(c, c2)


def test_the_recurrent_encoder_sees_word_order() -> None:
    """The same comparison fails for the recurrent encoder: its states carry order."""
    model = _model("recurrent")
    inp, batches = _inputs(model)
    moved, perm = _permuted_sources(batches, np.random.default_rng(5))
    with torch.no_grad():
        h, _ = model.encode(inp)
        h2, _ = model.encode(model.prepare(moved))
    L = perm.shape[-1]
    idx = torch.as_tensor(perm).unsqueeze(-1).expand(-1, -1, -1, h.shape[-1])
    assert (h2[:, :, :L] - h[:, :, :L].gather(2, idx)).abs().max() > 1e-3


def _randomise_positions(model: LSTMSeq2Seq) -> None:
    with torch.no_grad():
        model.pos.copy_(torch.randn(model.pos.shape, generator=torch.Generator().manual_seed(3)))


@pytest.mark.parametrize("encoder", ["bow", "sorted"])
def test_positions_are_added_to_the_word_part(encoder: str) -> None:
    model = _model(encoder)
    assert torch.all(model.pos == 0)  # initial value
    inp, _ = _inputs(model)
    with torch.no_grad():
        word, _ = model.encode(inp)
        _randomise_positions(model)
        h, _ = model.encode(inp)
    assert torch.equal(h, word + model.pos[:, None, : h.shape[2]])


def test_bow_state_is_the_word_embedding_alone() -> None:
    for encoder in ("bow", "bag"):
        model = _model(encoder)
        inp, _ = _inputs(model)
        h, _ = model.encode(inp)
        for s in range(model.n_seeds):
            assert torch.equal(h[s], model.embed[s][inp.src_ids[s]])
        names = dict(model.named_parameters())
        assert "enc.w_hh0" not in names and ("pos" in names) == (encoder == "bow")


@pytest.mark.parametrize(
    ("encoder", "invariant"), [("bow", True), ("bag", True), ("sorted", True), ("recurrent", False)]
)
def test_uniform_loss_is_blind_to_word_order_for_bag_encoders(encoder: str, invariant: bool) -> None:
    """Uniform attention: ``bow``/``bag``/``sorted`` see the source as a bag (positions enter as
    their mean), so reordering the source changes nothing (up to the order of a float sum);
    the recurrent model's loss changes."""
    model = _model(encoder, uniform=True)
    if encoder in ("bow", "sorted"):
        _randomise_positions(model)
    inp, batches = _inputs(model)
    moved, _ = _permuted_sources(batches, np.random.default_rng(7))
    with torch.no_grad():
        gap = (model.losses(inp) - model.losses(model.prepare(moved))).abs().max().item()
    assert (gap < 1e-12) if invariant else (gap > 1e-6)


@pytest.mark.parametrize("encoder", ["bow", "sorted"])
def test_uniform_model_moves_every_position_vector_alike(encoder: str) -> None:
    """Under uniform attention the loss reaches ``p`` through ``mean_l p_l`` only, so every
    position gets the same gradient and ``p`` (started at zero) stays one shared vector."""
    model = _model(encoder, uniform=True)
    inp, _ = _inputs(model)  # permutations: every position is valid in every example
    (g,) = torch.autograd.grad(model.losses(inp).sum(), model.pos)
    assert g.abs().max() > 0
    assert torch.allclose(g, g[:, :1].expand_as(g), rtol=0, atol=1e-15)
    normal = _model(encoder)
    (g,) = torch.autograd.grad(normal.losses(inp).sum(), normal.pos)
    assert (g - g[:, :1]).abs().max() > 1e-6  # with attention the positions differ


def test_bow_loss_and_gradient_match_a_plain_reference() -> None:
    """Seed ``s`` written with ``nn.LSTM`` (decoder from the zero state), ``h = E[x] + p``."""
    model = _model("bow", S=2)
    _randomise_positions(model)
    inp, _ = _inputs(model)
    losses = model.losses(inp)
    H = model.H
    for s in range(2):
        dec = nn.LSTM(H, H, batch_first=True).double()
        with torch.no_grad():
            dec.weight_ih_l0.copy_(model.dec["w_ih0"][s])
            dec.weight_hh_l0.copy_(model.dec["w_hh0"][s])
            dec.bias_ih_l0.copy_(model.dec["b_ih0"][s])
            dec.bias_hh_l0.copy_(model.dec["b_hh0"][s])
        E = model.embed[s]
        h = E[inp.src_ids[s]] + model.pos[s, : inp.src_ids.shape[2]]
        st, _ = dec(E[inp.dec_in[s]])
        alpha = torch.softmax((st @ model.attn_W[s].T) @ h.transpose(1, 2), dim=-1)
        ctx = (alpha @ h) @ model.proj_P[s].T
        out = torch.tanh(torch.cat([st, ctx], -1) @ model.out_M[s].T + model.out_bM[s]) @ model.out_U[s].T
        ref = F.cross_entropy((out + model.out_bU[s]).reshape(-1, out.shape[-1]), inp.dec_out[s].reshape(-1))
        assert abs(losses[s].item() - ref.item()) < 1e-12
        for param in (model.embed, model.pos):
            g, g_ref = (torch.autograd.grad(x, param, retain_graph=True)[0][s] for x in (losses[s], ref))
            assert torch.allclose(g, g_ref, atol=1e-12)


def test_unknown_encoder_and_bidirectional_bow_are_one_line_errors(tmp_path) -> None:
    for encoder in ("bow", "bag"):
        with pytest.raises(KtiwError, match="bidirectional"):
            _model(encoder, bidirectional=True)
    res = CliRunner().invoke(
        app, ["train", "permutation:L=3", "--opt", "encoder=gru", "--steps", "1", "--seeds", "1",
              "--proxy-steps", "0", "--quiet", "--out", str(tmp_path / "r")],
    )
    assert res.exit_code == 2, res.output
    (line,) = [ln for ln in res.output.splitlines() if ln.strip()]
    assert "encoder" in line and "recurrent, bow, bag, sorted" in line
    with pytest.raises(KtiwError, match="encoder"):
        with_overrides(get_preset("copy", "quick"), {"encoder": "gru"})
    preset = with_overrides(get_preset("copy", "quick"), {"encoder": "bow"})
    assert preset.training.model_config["encoder"] == "bow"
