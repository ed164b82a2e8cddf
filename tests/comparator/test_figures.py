"""The verify report's figures: readable tick labels, one colour per seed, and the theory's
curve drawn over the same quantity its time scale was fitted to."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from ktiw.comparator import checks as ck
from ktiw.comparator.experiments.copy import theory_curve, time_scale
from ktiw.comparator.figures import curves_figure, readable_x_axis, seed_colours
from ktiw.comparator.measures import SeedCurve
from ktiw.data.families import from_spec


def _overlaps(labels: list) -> list[tuple[str, str]]:
    boxes = [(t.get_text(), t.get_window_extent()) for t in labels if t.get_visible() and t.get_text()]
    return [(a, b) for i, (a, ba) in enumerate(boxes) for b, bb in boxes[i + 1 :] if ba.overlaps(bb)]


@pytest.mark.parametrize("values", [(560.0, 562.0, 570.0), (930.0, 942.0), (12.0, 3000.0), (5.0,)])
def test_takeoff_axis_tick_labels_do_not_overlap(values: tuple[float, ...]) -> None:
    """The stored runs' predicted takeoffs sit within a few percent of each other: a log axis
    there labelled every minor tick (5.6x10^2 5.62x10^2 ...) on top of each other."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.scatter(values, range(len(values)))
    readable_x_axis(ax, values)
    ax.margins(x=0.3, y=0.1)
    fig.tight_layout()
    fig.canvas.draw()
    labels = ax.get_xticklabels(minor=False) + ax.get_xticklabels(minor=True)
    lo, hi = ax.get_xlim()
    shown = [t for t in labels if t.get_text() and lo <= t.get_position()[0] <= hi]
    assert 2 <= len(shown) <= 8, [t.get_text() for t in shown]
    assert not _overlaps(shown)
    assert not any("times" in t.get_text() or "^" in t.get_text() for t in shown)
    plt.close(fig)


@pytest.mark.parametrize("n", [1, 10, 16, 20, 32])
def test_every_seed_gets_its_own_colour(n: int) -> None:
    colours = seed_colours(n)
    assert len(colours) == n and len(set(colours)) == n


def _seed(i: int) -> SeedCurve:
    """Gold attention mass crossing 1/2 near step 70 + 10 (i % 2); argmax accuracy 15 steps sooner."""
    steps = np.arange(0, 130, 10, dtype=float)
    mass = 1 / 9 + (0.85 - 1 / 9) / (1 + np.exp(-(steps - 70 - 10 * (i % 2)) / 8))
    acc = 1 / (1 + np.exp(-(steps - 55) / 5))
    return SeedCurve(i, steps, acc, acc, acc, True, attn_mass=mass)


def test_curve_figure_draws_each_seed_in_its_colour_and_the_theory_over_the_fitted_quantity(
    tmp_path: Path,
) -> None:
    seeds = [_seed(i) for i in range(16)]
    dist = from_spec("subset:L=8,V=12")
    from ktiw.theory.predict import predict

    flow_time = predict(dist).takeoff_time
    takeoff = ck.measured_takeoff(dist.spec, None, seeds, flow_time)
    scale = time_scale([takeoff])
    assert scale is not None
    curve = theory_curve(dist, 1e-3, scale * 120)
    e = SimpleNamespace(spec=dist.spec, regime="drift", seeds=seeds, theory=curve)

    captured: dict[str, object] = {}
    real_save = plt.Figure.savefig

    def keep(fig, *args, **kwargs):  # type: ignore[no-untyped-def]
        captured["fig"] = fig
        return real_save(fig, *args, **kwargs)

    plt.Figure.savefig = keep  # type: ignore[method-assign]
    try:
        curves_figure(e, scale, 120, tmp_path / "c.png")  # type: ignore[arg-type]
    finally:
        plt.Figure.savefig = real_save  # type: ignore[method-assign]
    fig = captured["fig"]
    _left, right = fig.axes  # type: ignore[attr-defined]
    seed_lines = [ln for ln in right.get_lines() if not ln.get_label().startswith("theory")]
    assert len({tuple(ln.get_color()) for ln in seed_lines}) == 16
    # the right panel shows the gold attention mass: the quantity the time scale was fitted to
    for ln, s in zip(seed_lines, seeds, strict=True):
        np.testing.assert_allclose(ln.get_ydata(), s.attn_mass)
    (theory,) = [ln for ln in right.get_lines() if ln.get_label() == "theory alpha_d"]
    x, y = np.asarray(theory.get_xdata()), np.asarray(theory.get_ydata())
    theory_half = float(np.interp(0.5, y, x))
    seed_half = [float(np.interp(0.5, ln.get_ydata(), ln.get_xdata())) for ln in seed_lines]
    # the theory reaches 1/2 where the median seed does, to within one evaluation interval
    assert abs(theory_half - float(np.median(seed_half))) <= 10, (theory_half, np.median(seed_half))
    assert theory_half == pytest.approx(takeoff.measured_median, abs=1)
