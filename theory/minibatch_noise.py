"""Minibatch noise of the toy model's gradient at a copy-symmetric point, from exact statistics.

Copying ``k`` distinct words of ``V`` at ``B = b_d I + b_o (J-I)``, ``a = a_d I + a_o (J-I)``:
every example has the same per-token losses, so its attention gradient ``dL_x/da`` is the same
for every example (**no noise on a**).  Its ``B`` gradient is not: with ``u_i = 1[i in x]``,

    G_x[i, o] = u_i (c1[i, o] + c2[i, o] u_o),
    c1 = D1 on the diagonal, D3 off it;   c2 = 0 on the diagonal, D2 - D3 off it,

where ``D1`` (word ``i`` in ``x``, output ``i``), ``D2`` (``i`` and ``o`` in ``x``) and ``D3``
(``i`` in ``x``, ``o`` not) are the derived per-example gradients (:mod:`.toy_model`) of one
example, read off at the symmetric point.  The inclusion indicators of a uniformly random
ordered ``k``-subset have exact moments ``E[prod_{i in S} u_i] = k^(|S|) / V^(|S|)`` (falling
factorials; ``S`` the *distinct* indices), so mean and covariance of ``G_x`` follow exactly;
a minibatch of ``n`` fresh examples has mean ``E[G]`` and covariance ``Cov[G] / n``.
For ``V = k`` every ``u_i = 1``: the covariance vanishes (no noise on ``permutation``).

Signal to noise per coordinate: ``|E[G_io]| / sqrt(Cov[G_io, G_io] / n)``.  Adam's update of a
coordinate whose minibatch gradient has mean ``mu`` and variance ``s^2`` averages to about
``lr mu / sqrt(mu^2 + s^2)`` per step (``m`` averages the noise away over ``1/(1-b1)`` steps,
``v`` estimates ``mu^2 + s^2``): coordinates with SNR << 1 random-walk at ``lr`` per step and
drift at only ``lr SNR``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def falling_ratio(k: int, V: int, m: np.ndarray) -> np.ndarray:
    """``k (k-1) ... (k-m+1) / (V (V-1) ... (V-m+1))`` elementwise for integer ``m`` in 0..4."""
    m = np.asarray(m)
    out = np.ones(m.shape)
    for j in range(int(m.max()) if m.size else 0):
        out = np.where(m > j, out * (k - j) / (V - j), out)
    return out


def example_gradient_classes(k: int, V: int, point: np.ndarray) -> tuple[float, float, float]:
    """``(D1, D2, D3)``: one example's ``B`` gradient at ``point = (b_d, b_o, a_d, a_o)``.

    Evaluated on the example ``x = y = (0, 1, ..., k-1)`` with the derived gradients in their
    numpy form (:func:`ktiw.theory.simulate.batched_gradients`, tested equal to
    :func:`ktiw.theory.toy_model.gradients`), so no sympy is needed at prediction time.
    """
    from .simulate import batched_gradients

    b_d, b_o, a_d, a_o = (float(x) for x in point)
    B = b_o * np.ones((1, V, V)) + (b_d - b_o) * np.eye(V)
    a = a_o * np.ones((1, k, k)) + (a_d - a_o) * np.eye(k)
    x = np.arange(k)[None, None]
    dB, _ = batched_gradients(B, a, x, x)
    dB = dB[0]
    d3 = float(dB[0, k]) if k < V else 0.0
    d2 = float(dB[0, 1]) if k > 1 else 0.0
    return float(dB[0, 0]), d2, d3


def coordinate_moments(k: int, V: int, point: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-example mean and variance of a diagonal and an off-diagonal ``B`` gradient entry.

    ``E[G_io] = c1 P(i in x) + c2 P(i, o in x)``; since ``u^2 = u``,
    ``E[G_io^2] = c1^2 P(i in x) + (2 c1 c2 + c2^2) P(i, o in x)``.
    """
    D1, D2, D3 = example_gradient_classes(k, V, point)
    p1, p2 = k / V, k * (k - 1) / (V * (V - 1))
    mean = np.array([D1 * p1, D3 * p1 + (D2 - D3) * p2])
    second = np.array([D1 * D1 * p1, D3 * D3 * p1 + (2 * D3 * (D2 - D3) + (D2 - D3) ** 2) * p2])
    return mean, second - mean * mean


def _distinct(*idx: np.ndarray) -> np.ndarray:
    """Number of distinct values among broadcast integer index arrays."""
    arrs = np.broadcast_arrays(*idx)
    count = np.ones(arrs[0].shape, dtype=np.int64)
    for j in range(1, len(arrs)):
        new = np.ones(arrs[0].shape, dtype=bool)
        for i in range(j):
            new &= arrs[j] != arrs[i]
        count += new
    return count


@dataclass(frozen=True)
class GradientNoise:
    """Mean ``(V, V)`` and covariance ``(V*V, V*V)`` (row-major ``(i, o)``) of the minibatch
    gradient of ``B``; ``a`` has zero covariance.  ``snr``: ``|mean| / std`` per entry."""

    k: int
    V: int
    batch_size: int
    mean: np.ndarray
    cov: np.ndarray

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(np.maximum(np.diag(self.cov), 0.0)).reshape(self.V, self.V)

    @property
    def snr(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.std > 0, np.abs(self.mean) / self.std, np.inf)

    def class_snr(self) -> dict[str, float]:
        """SNR of a diagonal and of an off-diagonal entry of ``B`` (all entries of a class agree)."""
        s = self.snr
        return {"diagonal": float(s[0, 0]), "off_diagonal": float(s[0, 1]) if self.V > 1 else float("inf")}


def copy_gradient_noise(k: int, V: int, point: np.ndarray, batch_size: int) -> GradientNoise:
    """Exact mean and covariance of the minibatch ``B`` gradient (module docstring); ``V <= 60``."""
    if V > 60:
        raise ValueError("the dense covariance is V^2 x V^2; use V <= 60")
    D1, D2, D3 = example_gradient_classes(k, V, point)
    r = np.arange(V)
    i, o = r[:, None], r[None, :]
    c1 = np.where(i == o, D1, D3)
    c2 = np.where(i == o, 0.0, D2 - D3)
    mean = c1 * falling_ratio(k, V, _distinct(i, o) * 0 + 1) + c2 * falling_ratio(k, V, _distinct(i, o))
    I4, O4 = i[:, :, None, None], o[:, :, None, None]
    J4, Q4 = i[None, None], o[None, None]
    a1, a2 = c1[:, :, None, None], c2[:, :, None, None]
    b1, b2 = c1[None, None], c2[None, None]
    second = (
        a1 * b1 * falling_ratio(k, V, _distinct(I4, J4))
        + a1 * b2 * falling_ratio(k, V, _distinct(I4, J4, Q4))
        + a2 * b1 * falling_ratio(k, V, _distinct(I4, O4, J4))
        + a2 * b2 * falling_ratio(k, V, _distinct(I4, O4, J4, Q4))
    )
    cov = (second - mean[:, :, None, None] * mean[None, None]).reshape(V * V, V * V) / batch_size
    return GradientNoise(k, V, batch_size, mean, cov)


def adam_drift_fraction(noise: GradientNoise) -> dict[str, float]:
    """``mu / sqrt(mu^2 + s^2)`` per coordinate class: Adam's mean step in units of ``lr``."""
    out = {}
    for name, (i, o) in {"diagonal": (0, 0), "off_diagonal": (0, 1)}.items():
        mu, var = noise.mean[i, o], noise.cov[i * noise.V + o, i * noise.V + o]
        out[name] = float(abs(mu) / np.sqrt(mu * mu + var)) if mu * mu + var > 0 else 0.0
    return out
