"""Optimizers on the exact copy reduction: the reduced map on four scalars, and Adam's sign regime.

**Symmetric subspace.**  For copying ``k`` distinct words of ``V`` the full-batch gradient at
``B = b_d I + b_o (J-I)``, ``a = a_d I + a_o (J-I)`` has the same form (:mod:`.reduction`):
every diagonal entry of ``B`` gets ``(1/V) dl/db_d``, every off-diagonal one
``(1/(V(V-1))) dl/db_o`` (likewise ``1/k``, ``1/(k(k-1))`` for ``a``).  GD, SGD-momentum and
Adam are *per-coordinate* maps ``(p, m, v, g) -> (p', m', v')``, so entries with equal
parameters, moments and gradients stay equal: Adam keeps the subspace whenever the gradients
do (:func:`derive` checks this with sympy on the matrices, entry by entry).  The loss is
invariant under adding a constant to all of ``B`` or to a row of ``a`` (softmaxes), so
``dl/db_o = -dl/db_d`` and ``dl/da_o = -dl/da_d`` (also checked): the four per-coordinate
gradients are::

    g_bd = l_delta / V,   g_bo = -l_delta / (V (V-1)),   g_ad = l_gamma / k,   g_ao = -l_gamma / (k (k-1))

with ``l_delta = dl/d delta``, ``l_gamma = dl/d gamma`` of the 2-D loss.  Iterating the
optimizer on ``(b_d, b_o, a_d, a_o)`` and their moments is the *reduced map*
(:func:`reduced_run`): exact for full-batch training from a symmetric start, and exact for any
batch size on ``permutation`` (``V = k``), where every example's gradient is the same
symmetric matrix (every example is a relabelling of one example, and the symmetric point is
invariant under relabelling).

**Sign regime.**  Under gradient descent ``delta`` moves by ``lr |g|``: the permutation
saddle (``g = 0`` at the origin) costs ``k^2 ln(1/eps)``.  Adam moves each coordinate by
``lr m_hat/sqrt(v_hat)``, whatever ``|g|``: while the gradient's sign is steady, ``b_d`` and
``b_o`` move in opposite directions by about ``lr`` each, so ``delta`` and ``gamma`` grow by
about ``2 lr`` per step from any start, saddle or not.  The attention gradient ``l_gamma``
grows about linearly in time (it is proportional to ``delta``); for a gradient ``g_s = c s``
the ratio has the closed form ``rho(t) = m_hat_t / sqrt(v_hat_t)`` of :func:`derive_sign_regime`
(``-> sqrt(3)`` for ``1 << t << 1/(1-b2)``, ``-> 1`` for ``t >> 1/(1-b2)``).  The takeoff step
(``alpha_d = 1/2``, i.e. ``gamma = ln(k-1)``) is the first ``n`` with
``gamma_0 + 2 lr sum_{t<=n} rho(t) >= ln(k-1)``: independent of ``V`` and of the initial
gradient's size.

Where it holds: gradients of steady sign (copy families from a symmetric start), per-coordinate
gradients far above Adam's ``eps`` (``1e-8``), full batch or ``permutation``.  Accuracy, measured
against the reduced map on the grid of the tests (``2 <= k <= 40``, ``k <= V <= 3k``,
``1e-3 <= lr <= 1e-2``, ``eps`` in ``{0, 1e-3}``): within :data:`SIGN_REGIME_ACCURACY` relative;
it is late, because it ignores the growth of ``alpha_d (1 - alpha_d)`` in ``l_gamma``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ktiw.core.errors import NumericOverflowError
from ktiw.core.limits import report_progress
from ktiw.core.training import Init, Training

from .optimizers import NumpyOptimizer

SIGN_REGIME_ACCURACY = 0.30
"""Stated relative accuracy of :func:`sign_regime_takeoff` against the reduced map (tested)."""

MAX_REDUCED_STEPS = 200_000
"""The reduced map is iterated for at most this many steps (about 2 s)."""


@dataclass(frozen=True)
class AdamReduction:
    """Sympy objects of the reduced optimizer maps (see module docstring).

    ``coordinate_gradients``: ``(g_bd, g_bo, g_ad, g_ao)`` from the symmetric loss;
    ``shift_invariance``: ``dl/db_d + dl/db_o`` and ``dl/da_d + dl/da_o`` (both simplify to 0);
    ``adam_map``: the Adam update of one coordinate ``(p, m, v) -> (p', m', v')`` with gradient
    ``g`` at step ``t``; ``subspace_residual``: the full-matrix Adam update minus the reduced
    map's, entry by entry (all zero); ``symbols``: the symbols used.
    """

    symbols: dict[str, Any]
    coordinate_gradients: tuple[Any, Any, Any, Any]
    shift_invariance: tuple[Any, Any]
    adam_map: tuple[Any, Any, Any]
    subspace_residual: Any


@dataclass(frozen=True)
class SignRegime:
    """``rho``: ``m_hat_t/sqrt(v_hat_t)`` for ``g_s = c s`` (symbols ``t``, ``beta1``, ``beta2``);
    ``rho_early``: its limit for ``beta2 -> 1`` then ``t -> oo`` (``sqrt(3)``); ``takeoff``:
    the condition ``gamma_0 + 2 lr sum_{t<=n} rho(t) = ln(k-1)`` as a sympy ``Eq``."""

    symbols: dict[str, Any]
    rho: Any
    rho_early: Any
    takeoff: Any


def _adam_coordinate(p: Any, m: Any, v: Any, g: Any, t: Any, S: dict[str, Any]) -> tuple[Any, Any, Any]:
    import sympy as sp

    m2 = S["beta1"] * m + (1 - S["beta1"]) * g
    v2 = S["beta2"] * v + (1 - S["beta2"]) * g**2
    p2 = p - S["lr"] / (1 - S["beta1"] ** t) * m2 / (sp.sqrt(v2 / (1 - S["beta2"] ** t)) + S["eps"])
    return p2, m2, v2


@functools.cache
def derive() -> AdamReduction:
    """Derive the per-coordinate gradients and prove that Adam keeps the symmetric subspace."""
    import sympy as sp

    from .reduction import derive as derive_reduction

    r = derive_reduction()
    R = r.symbols
    k, V = R["k"], R["V"]
    lf = r.loss_full
    shift = (
        sp.simplify(sp.diff(lf, R["b_d"]) + sp.diff(lf, R["b_o"])),
        sp.simplify(sp.diff(lf, R["a_d"]) + sp.diff(lf, R["a_o"])),
    )
    l_delta, l_gamma = sp.symbols("ell_delta ell_gamma", real=True)
    grads = (l_delta / V, -l_delta / (V * (V - 1)), l_gamma / k, -l_gamma / (k * (k - 1)))
    lr, beta1, beta2, eps, t = sp.symbols("eta beta1 beta2 epsilon t", positive=True)
    S = dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, t=t, l_delta=l_delta, l_gamma=l_gamma, k=k, V=V)
    p, m, v, g = sp.symbols("p m v g", real=True)
    adam = _adam_coordinate(p, m, v, g, t, S)

    # Entry-by-entry check on n x n matrices of the symmetric form (n = 3): the elementwise Adam
    # update of (P, M, Vm, G) equals the symmetric matrix built from the reduced map's scalars.
    n = 3
    eye, ones = sp.eye(n), sp.ones(n, n)
    names = ("p", "m", "v", "g")
    d = {x: sp.Symbol(f"{x}_d", real=True) for x in names}
    o = {x: sp.Symbol(f"{x}_o", real=True) for x in names}
    mats = {x: d[x] * eye + o[x] * (ones - eye) for x in names}
    red_d = _adam_coordinate(d["p"], d["m"], d["v"], d["g"], t, S)
    red_o = _adam_coordinate(o["p"], o["m"], o["v"], o["g"], t, S)
    residual = []
    entries = [[_adam_coordinate(*(mats[x][i, j] for x in names), t, S) for j in range(n)] for i in range(n)]
    for idx in range(3):
        full = sp.Matrix(n, n, [entries[i][j][idx] for i in range(n) for j in range(n)])
        reduced = red_d[idx] * eye + red_o[idx] * (ones - eye)
        residual.append((full - reduced).applyfunc(sp.simplify))
    return AdamReduction(S, grads, shift, adam, residual)


@functools.cache
def derive_sign_regime() -> SignRegime:
    """``rho(t)`` for a linearly growing gradient, summed in closed form by sympy."""
    import sympy as sp

    u = sp.Symbol("u", integer=True, nonnegative=True)
    t = sp.Symbol("t", integer=True, positive=True)
    r = sp.Symbol("r", positive=True)
    beta1, beta2 = sp.symbols("beta1 beta2", positive=True)

    def weighted(power: int) -> Any:
        """``sum_{u=0}^{t-1} (1-r) r^u (t-u)^power / (1-r^t)``: a bias-corrected moment of ``g_s = s``."""
        total = sp.summation(sp.expand((1 - r) * r**u * (t - u) ** power), (u, 0, t - 1))
        return sp.simplify(total / (1 - r**t))

    m_hat = weighted(1).subs(r, beta1)
    v_hat = weighted(2).subs(r, beta2)
    rho = m_hat / sp.sqrt(v_hat)
    # beta2 -> 1 first (t << 1/(1-beta2)), then t -> oo with beta1^t -> 0 (beta1 < 1).
    early = sp.limit(rho, beta2, 1).replace(
        lambda x: x.is_Pow and x.base == beta1 and x.exp.has(t), lambda x: sp.Integer(0)
    )
    early = sp.limit(sp.simplify(early), t, sp.oo)
    n, lr, gamma0, k = sp.symbols("n eta gamma_0 k", positive=True)
    takeoff = sp.Eq(gamma0 + 2 * lr * sp.Sum(rho, (t, 1, n)), sp.log(k - 1))
    return SignRegime(
        dict(t=t, beta1=beta1, beta2=beta2, n=n, lr=lr, gamma0=gamma0, k=k), rho, early, takeoff
    )


@functools.cache
def _rho_numeric() -> Any:
    from ktiw.core.cache import cached_text

    def build() -> str:
        from sympy.printing.numpy import NumPyPrinter

        s = derive_sign_regime()
        S = s.symbols
        printer = NumPyPrinter({"fully_qualified_modules": True})
        body = printer.doprint(s.rho)
        return f"import numpy\n\ndef rho({S['t']}, {S['beta1']}, {S['beta2']}):\n    return {body}\n"

    source, path = cached_text("sign_regime", ("adam_reduction.py",), build, ".py")
    namespace: dict[str, Any] = {}
    exec(compile(source, str(path), "exec"), namespace)
    return namespace["rho"]


def sign_regime_takeoff(
    k: int,
    lr: float,
    gamma0: float = 0.0,
    steps: int = MAX_REDUCED_STEPS,
    beta1: float = 0.9,
    beta2: float = 0.999,
) -> int | None:
    """First step ``n <= steps`` with ``gamma_0 + 2 lr sum_{t<=n} rho(t) >= ln(k-1)``, else ``None``."""
    target = math.log(k - 1) - gamma0
    if target <= 0:
        return 0
    rho, done, total = _rho_numeric(), 0, 0.0
    while done < steps:  # blocks of a million steps: memory O(1), not O(steps)
        t = np.arange(done + 1, min(steps, done + _BLOCK) + 1, dtype=np.float64)
        gamma = total + 2.0 * lr * np.cumsum(rho(t, beta1, beta2))
        hit = np.nonzero(gamma >= target)[0]
        if hit.size:
            return done + int(hit[0]) + 1
        done, total = int(t[-1]), float(gamma[-1])
        report_progress("Adam sign-regime sum", done, steps)
    return None


_BLOCK = 1 << 20


def coordinate_gradients(k: int, V: int, b: np.ndarray) -> np.ndarray:
    """``(g_bd, g_bo, g_ad, g_ao)`` at ``b = (b_d, b_o, a_d, a_o)`` from the cached 2-D flow."""
    from .reduction import numeric

    r0, r1 = numeric().rhs(b[0] - b[1], b[2] - b[3], k, V)
    l_delta = -(V - 1) * float(r0)
    l_gamma = -(k - 1) * float(r1)
    return np.array([l_delta / V, -l_delta / (V * (V - 1)), l_gamma / k, -l_gamma / (k * (k - 1))])


def symmetric_start(init: Init) -> np.ndarray:
    """``(b_d, b_o, a_d, a_o)`` of a symmetric initialisation (``zero`` or ``eps:E``)."""
    if not init.symmetric:
        raise ValueError("a normal initialisation is not on the symmetric subspace")
    e = init.value if init.kind == "eps" else 0.0
    return np.array([e, 0.0, e, 0.0])


@dataclass(frozen=True)
class ReducedRun:
    """The reduced map iterated: ``params[n] = (b_d, b_o, a_d, a_o)`` after ``n`` steps;
    ``takeoff_step``: first ``n`` with ``alpha_d >= 1/2`` (``None`` if not within the run)."""

    params: np.ndarray
    takeoff_step: int | None

    @property
    def delta(self) -> np.ndarray:
        return self.params[:, 0] - self.params[:, 1]

    @property
    def gamma(self) -> np.ndarray:
        return self.params[:, 2] - self.params[:, 3]


def reduced_run(
    k: int, V: int, training: Training, steps: int | None = None, stop_at_takeoff: bool = True
) -> ReducedRun:
    """Iterate ``training``'s optimizer on the four scalars from its symmetric initialisation."""
    steps = training.steps if steps is None else steps
    x = symmetric_start(training.init)
    opt = NumpyOptimizer(training, [x])
    out = [x.copy()]
    threshold = math.log(k - 1)
    takeoff = 0 if x[2] - x[3] >= threshold else None
    for n in range(1, steps + 1):
        if takeoff is not None and stop_at_takeoff:
            break
        with np.errstate(all="ignore"):  # an overflow is caught below, as one line
            opt.step([x], [coordinate_gradients(k, V, x)])
        if not np.all(np.isfinite(x)):
            raise NumericOverflowError(
                f"the reduced {training.optimizer} map for k={k}, V={V} overflowed at step {n} "
                f"(lr {training.lr:g}): its parameters left the range float64 can hold; use a smaller --lr"
            )
        out.append(x.copy())
        if takeoff is None and x[2] - x[3] >= threshold:
            takeoff = n
    return ReducedRun(np.array(out), takeoff)
