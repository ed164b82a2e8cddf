"""``xi``/``xi*`` from a run's probe checkpoints: against the data's gold positions (copying) and
against each seed's own final attention (classification, no gold alignment), worked by hand."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from ktiw.comparator.measures import Agreement, gold_alignment, gold_final_attention, xi_values

NAN = np.nan


@dataclass
class FakeRun:
    """What :func:`xi_values` reads of a run: probe steps, probe arrays, the accuracy curve."""

    steps: list[int]
    alphas: list[np.ndarray]  # [S, N, 1, L] per step
    acc: list[list[float]]  # per step, per seed
    align: np.ndarray = field(default_factory=lambda: np.full((2, 1), -1))

    @property
    def probe_steps(self) -> list[int]:
        return self.steps

    def probes(self, step: int) -> dict[str, np.ndarray]:
        k = self.steps.index(step)
        return {
            "src": np.array([[3, 4, 5, 0], [6, 7, 0, 0]]),
            "tgt": np.array([[1], [0]]),
            "src_len": np.array([4, 2]),
            "tgt_len": np.array([1, 1]),
            "align": self.align,
            "alpha": self.alphas[k],
            "beta": np.zeros_like(self.alphas[k]),
        }

    frozen_probes = probes  # no seed stops early here

    def frozen_curve(self, column: str, step: int) -> np.ndarray:
        assert column == "token_acc"
        return np.array(self.acc[self.steps.index(step)])


def _alpha(argmax: list[list[int]]) -> np.ndarray:
    """``[S=2, N=2, 1, L=4]`` attention peaked at ``argmax[s][n]``, NaN past each length."""
    a = np.full((2, 2, 1, 4), 0.1)
    for s in range(2):
        for n in range(2):
            a[s, n, 0, argmax[s][n]] = 0.7
    a[:, 1, 0, 2:] = NAN  # example 1 has 2 positions
    return a


# final argmax: seed 0 -> (2, 1), seed 1 -> (0, 0); agreement with it per checkpoint (4 tokens):
# step 0: (0, 0), (1, 1) -> matches: no, no, no, no -> 0
# step 5: (2, 0), (1, 1) -> yes, no, no, no -> 0.25
# step 9: (2, 1), (3, 0) -> yes, yes, no, yes -> 0.75
# step 12: final -> 1
RUN = FakeRun(
    steps=[0, 5, 9, 12],
    alphas=[_alpha(a) for a in ([[0, 0], [1, 1]], [[2, 0], [1, 1]], [[2, 1], [3, 0]], [[2, 1], [0, 0]])],
    acc=[[0.5, 0.5], [0.6, 0.7], [0.8, 0.8], [0.85, 0.75]],
)


def test_xi_against_the_final_attention_by_hand() -> None:
    final = RUN.probes(12)
    agreements = [Agreement("a", 0.2, 0.05), Agreement("b", 0.75, 0.05), Agreement("c", 0.0, 0.0)]
    xi, star = xi_values(RUN, agreements, gold_final_attention(final))  # type: ignore[arg-type]
    # top-5% of L = 4 positions is 1 position: the argmax must equal the final argmax
    assert xi == pytest.approx({"a": 0.65, "b": 0.8, "c": 0.5})
    assert star == pytest.approx(0.8)
    # an agreement above 1 is never reached
    xi2, _ = xi_values(RUN, [Agreement("d", 1.01, 0.0)], gold_final_attention(final))  # type: ignore[arg-type]
    assert xi2 == {"d": None}


def test_xi_against_gold_positions_and_without_any() -> None:
    assert xi_values(RUN, [Agreement("a", 0.2, 0.0)], gold_alignment) == ({}, None)  # type: ignore[arg-type]
    # gold positions: example 0 -> 2, example 1 -> 0 (both seeds)
    run = FakeRun(RUN.steps, RUN.alphas, RUN.acc, align=np.array([[2], [0]]))
    # matches per step: 0: (no, yes, no, no) .25; 5: (yes, yes, no, no) .5; 9: (yes, no, no, yes) .5;
    # 12: (yes, no, no, yes) .5
    xi, star = xi_values(run, [Agreement("a", 0.5, 0.0), Agreement("b", 0.6, 0.0)], gold_alignment)  # type: ignore[arg-type]
    assert xi == {"a": pytest.approx(0.65), "b": None} and star == pytest.approx(0.8)
