"""Optimizers on the copy reduction: sympy proof, reduced map == full-parameter torch optimizers,
permutation gradients, the sign-regime formula, minibatch noise, Adam's step bound, simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy
import torch

from ktiw.core.training import Init, Training, parse_init
from ktiw.data.families import from_spec
from ktiw.theory import adam_reduction as ar
from ktiw.theory.minibatch_noise import coordinate_moments, copy_gradient_noise
from ktiw.theory.optimizers import adam_ratio_bound, adam_step_bound
from ktiw.theory.simulate import batched_gradients, simulate, wilson_interval
from ktiw.theory.toy_model import gradients


def symmetric(k: int, V: int, b_d: float, b_o: float, a_d: float, a_o: float):
    B = b_o * np.ones((V, V)) + (b_d - b_o) * np.eye(V)
    a = a_o * np.ones((k, k)) + (a_d - a_o) * np.eye(k)
    return B, a


def test_sympy_adam_keeps_the_symmetric_subspace_and_shift_invariance() -> None:
    d = ar.derive()
    assert all(r.is_zero_matrix for r in d.subspace_residual)
    assert d.shift_invariance == (0, 0)


def torch_toy_loss(B: torch.Tensor, a: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
    """Token-mean toy-model loss for copying (y = x), written directly in torch."""
    alpha = torch.softmax(a, dim=-1)  # [T, L]
    s = torch.einsum("tl,nlo->nto", alpha, B[src])
    return -torch.log_softmax(s, dim=-1).gather(-1, src.unsqueeze(-1)).mean()


@pytest.mark.parametrize(
    ("spec", "training"),
    [
        ("subset:L=3,V=5", Training(optimizer="adam", lr=0.05, init=Init("eps", 1e-3))),
        ("subset:L=3,V=4", Training(optimizer="adam", lr=0.02, init=Init("zero"))),
        ("permutation:L=4", Training(optimizer="adam", lr=0.05, init=Init("eps", 1e-2))),
        ("subset:L=3,V=5", Training(optimizer="gd", lr=2.0, init=Init("zero"))),
        ("subset:L=2,V=4", Training(optimizer="sgd", lr=1.0, momentum=0.9, init=Init("eps", 0.1))),
    ],
)
def test_reduced_map_equals_full_parameter_torch_optimizer(spec: str, training: Training) -> None:
    """50 full-batch steps of torch.optim on the full B and a (float64) stay on the symmetric
    subspace and equal the reduced map's four scalars."""
    dist = from_spec(spec)
    k, V = dist.src_len, dist.n_in
    src = torch.as_tensor(dist.exact_support().src_arr)
    x0 = ar.symmetric_start(training.init)
    B0, a0 = symmetric(k, V, *x0)
    B = torch.tensor(B0, dtype=torch.float64, requires_grad=True)
    a = torch.tensor(a0, dtype=torch.float64, requires_grad=True)
    if training.optimizer == "adam":
        opt = torch.optim.Adam([B, a], lr=training.lr)
    else:
        opt = torch.optim.SGD([B, a], lr=training.lr, momentum=training.momentum)
    run = ar.reduced_run(k, V, training, steps=50, stop_at_takeoff=False)
    for step in range(1, 51):
        opt.zero_grad()
        torch_toy_loss(B, a, src).backward()
        opt.step()
        want_B, want_a = symmetric(k, V, *run.params[step])
        np.testing.assert_allclose(B.detach().numpy(), want_B, rtol=1e-8, atol=1e-11)
        np.testing.assert_allclose(a.detach().numpy(), want_a, rtol=1e-8, atol=1e-11)


def test_permutation_examples_all_have_the_same_symmetric_gradient() -> None:
    """Every permutation's per-example gradient equals the identity example's, which is symmetric:
    so minibatch training on permutation is full-batch training."""
    rng = np.random.default_rng(0)
    k = 5
    for _ in range(5):
        B, a = symmetric(k, k, *rng.normal(size=4))
        ref_B, ref_a = gradients(B, a, np.arange(k)[None], np.arange(k)[None])
        np.testing.assert_allclose(ref_B - np.diag(np.diag(ref_B)), ref_B[0, 1] * (1 - np.eye(k)), atol=1e-15)
        np.testing.assert_allclose(np.diag(ref_B), ref_B[0, 0], atol=1e-15)
        np.testing.assert_allclose(np.diag(ref_a), ref_a[0, 0], atol=1e-15)
        for _ in range(6):
            x = rng.permutation(k)[None]
            dB, da = gradients(B, a, x, x)
            np.testing.assert_allclose(dB, ref_B, atol=1e-15)
            np.testing.assert_allclose(da, ref_a, atol=1e-15)


@pytest.mark.parametrize("k", [3, 6, 12, 24, 40])
@pytest.mark.parametrize("V_factor", [1.0, 1.5, 3.0])
@pytest.mark.parametrize("lr", [1e-3, 1e-2])
@pytest.mark.parametrize("eps", [0.0, 1e-3])
def test_sign_regime_formula_within_stated_accuracy(k: int, V_factor: float, lr: float, eps: float) -> None:
    V = round(k * V_factor)
    if k == V and eps == 0.0:
        return  # the exact saddle: no gradient, no takeoff (test_exact_saddle_never_moves)
    init = Init("eps", eps) if eps else Init("zero")
    n_map = ar.reduced_run(k, V, Training(lr=lr, init=init, steps=20_000)).takeoff_step
    n_formula = ar.sign_regime_takeoff(k, lr, eps)
    assert n_map is not None and n_formula is not None
    assert abs(n_formula - n_map) <= ar.SIGN_REGIME_ACCURACY * n_map, (n_formula, n_map)


def test_sign_regime_rho_limits() -> None:
    s = ar.derive_sign_regime()
    assert s.rho_early.equals(sympy.sqrt(3))
    rho = ar._rho_numeric()
    assert rho(np.array([1.0]), 0.9, 0.999)[0] == pytest.approx(1.0)
    assert rho(np.array([1e6]), 0.9, 0.999)[0] == pytest.approx(1.0, abs=1e-2)
    # the formula's rho is m_hat/sqrt(v_hat) of Adam fed g_s = s (bias-corrected, eps = 0)
    m = v = 0.0
    for t in range(1, 301):
        m, v = 0.9 * m + 0.1 * t, 0.999 * v + 0.001 * t * t
        if t in (7, 300):
            ratio = (m / (1 - 0.9**t)) / math.sqrt(v / (1 - 0.999**t))
            assert rho(np.array([float(t)]), 0.9, 0.999)[0] == pytest.approx(ratio, rel=1e-6)


def test_noise_covariance_matches_monte_carlo() -> None:
    """Exact mean and covariance of the minibatch B gradient vs 40000 sampled minibatches."""
    k, V, n = 3, 5, 4
    point = np.array([0.4, -0.2, 0.7, 0.1])
    exact = copy_gradient_noise(k, V, point, batch_size=n)
    B, a = symmetric(k, V, *point)
    dist = from_spec(f"subset:L={k},V={V}")
    S = 40_000
    batch = dist.sample(S * n, np.random.default_rng(1))
    dB, da = batched_gradients(
        np.broadcast_to(B, (S, V, V)).copy(),
        np.broadcast_to(a, (S, k, k)).copy(),
        batch.src.reshape(S, n, k),
        batch.tgt.reshape(S, n, k),
    )
    flat = dB.reshape(S, V * V)
    np.testing.assert_allclose(flat.mean(0), exact.mean.ravel(), atol=4 * exact.std.max() / math.sqrt(S))
    emp = np.cov(flat, rowvar=False)
    # each covariance entry's standard error is about sd_i sd_j sqrt(2/S); allow 5 of them
    sd = np.sqrt(np.diag(exact.cov))
    assert np.all(np.abs(emp - exact.cov) <= 5 * np.outer(sd, sd) * math.sqrt(2 / S) + 1e-15)
    assert np.abs(da - da[0]).max() < 1e-12  # no noise on the attention gradient
    mean, var = coordinate_moments(k, V, point)
    assert mean[0] == pytest.approx(exact.mean[0, 0]) and mean[1] == pytest.approx(exact.mean[0, 1])
    assert var[0] == pytest.approx(exact.cov[0, 0] * n) and var[1] == pytest.approx(exact.cov[1, 1] * n)


def test_no_noise_on_permutation() -> None:
    noise = copy_gradient_noise(4, 4, np.array([0.3, 0.1, 0.2, -0.1]), batch_size=8)
    assert np.abs(noise.cov).max() < 1e-15


def test_adam_step_bound_is_attained_and_never_exceeded() -> None:
    """|m_hat/sqrt(v_hat)| <= R_t for random gradient histories; g_s = w_s/u_s attains it."""
    b1, b2 = 0.9, 0.999
    rng = np.random.default_rng(0)
    t_max = 60
    R = adam_ratio_bound(np.arange(1, t_max + 1), b1, b2)
    for trial in range(20):
        g = rng.standard_cauchy(t_max) if trial % 2 else rng.normal(size=t_max)
        m = v = 0.0
        for t in range(1, t_max + 1):
            m, v = b1 * m + (1 - b1) * g[t - 1], b2 * v + (1 - b2) * g[t - 1] ** 2
            ratio = abs(m / (1 - b1**t)) / math.sqrt(v / (1 - b2**t))
            assert ratio <= R[t - 1] * (1 + 1e-12)
    t = 25
    s = np.arange(1, t + 1)
    g = (b1 / b2) ** (t - s)  # proportional to w_s / u_s
    m = ((1 - b1) * b1 ** (t - s) * g).sum() / (1 - b1**t)
    v = ((1 - b2) * b2 ** (t - s) * g * g).sum() / (1 - b2**t)
    assert m / math.sqrt(v) == pytest.approx(R[t - 1], rel=1e-12)
    assert adam_step_bound(3, 0.1) == pytest.approx(0.1 * R[:3].sum())


def test_simulation_gradients_equal_the_derived_gradients() -> None:
    rng = np.random.default_rng(3)
    dist = from_spec("translate:L=4,V=6,reorder=random")
    b = dist.sample(5, rng)
    B = rng.normal(size=(2, dist.n_in, dist.n_out))
    a = rng.normal(size=(2, dist.tgt_len, dist.src_len))
    dB, da = batched_gradients(B, a, np.stack([b.src] * 2), np.stack([b.tgt] * 2))
    for s in range(2):
        gB, ga = gradients(B[s], a[s], b.src, b.tgt)
        np.testing.assert_allclose(dB[s], gB, atol=1e-14)
        np.testing.assert_allclose(da[s], ga, atol=1e-14)


def test_simulation_from_symmetric_start_on_permutation_is_the_reduced_map() -> None:
    """Permutation minibatches give the full-batch gradient, so every simulated seed takes off
    at the reduced map's step (float32 rounding may shift it by one)."""
    tr = Training(lr=0.05, init=Init("eps", 1e-2), steps=100)
    n_map = ar.reduced_run(4, 4, tr).takeoff_step
    sim = simulate(from_spec("permutation:L=4"), tr, n_seeds=4)
    assert n_map is not None
    assert np.all(np.abs(sim.takeoff_steps - n_map) <= 1)


def test_wilson_interval_covers() -> None:
    lo, hi = wilson_interval(10, 20)
    assert lo < 0.5 < hi and wilson_interval(0, 20)[0] == 0.0


@pytest.mark.parametrize("bad", ["normal:-1", "normal:0", "eps:x", "uniform:1", "normal", "eps:nan"])
def test_bad_init(bad: str) -> None:
    from ktiw.core.errors import KtiwError

    with pytest.raises(KtiwError):
        parse_init(bad)


def test_init_round_trip() -> None:
    assert str(parse_init("normal:0.5")) == "normal:0.5" and str(parse_init("zero")) == "zero"
    assert str(parse_init("eps:1e-3")) == "eps:0.001"


def test_exact_saddle_never_moves() -> None:
    """Permutation from zero: every gradient is exactly zero, any optimizer stays at the origin."""
    from ktiw.theory.optimizer_predict import predict_steps

    for opt in ("gd", "sgd", "adam"):
        tr = Training(optimizer=opt, lr=0.1, steps=500)
        run = ar.reduced_run(6, 6, tr, stop_at_takeoff=False)
        assert run.takeoff_step is None and np.abs(run.params).max() == 0.0
        p = predict_steps(from_spec("permutation:L=6"), tr, (6, 6))
        assert p.takeoff_step is None and p.success_probability == 0.0 and p.method == "reduced-map"


def test_too_large_to_simulate_is_no_step_prediction() -> None:
    """A vocabulary too large for the simulation gives no step prediction (and allocates nothing)."""
    from ktiw.theory.optimizer_predict import predict_steps

    dist = from_spec("iid:L=3,V=3000")
    p = predict_steps(dist, Training(lr=0.01, init=Init("normal", 0.1)), None)
    assert p.takeoff_step is None and p.method is None and "too large to simulate" in p.note
