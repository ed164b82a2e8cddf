"""Sizes for ``ktiw verify``: ``quick`` (minutes on a 2-core CPU) and ``paper`` (BRIEF section 3).

A preset fixes the training configuration of the LSTM runs, the default distributions
(the headline contrast, permutation vs subset copying, at the preset's sequence length),
and the toy-fidelity setups. ``--seeds``/``--steps``/``--device`` override single fields.
How the ``quick`` sizes were chosen (the smallest sizes where the headline contrast
still shows) is recorded in the README's "Verify" section.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TypeVar

from ktiw.theory.errors import KtiwError

_Preset = TypeVar("_Preset")


def replace_fields(preset: _Preset, fields: dict[str, object], what: str = "preset") -> _Preset:
    """The frozen dataclass ``preset`` with ``fields`` replaced; unknown names are a one-line
    :class:`KtiwError` (``unknown <what> field(s): ...``)."""
    unknown = sorted(set(fields) - set(preset.__dataclass_fields__))
    if unknown:
        raise KtiwError(f"unknown {what} field(s): {', '.join(unknown)}")
    return replace(preset, **fields)  # type: ignore[type-var]


@dataclass(frozen=True)
class FidelitySetup:
    """One toy-fidelity comparison: full-batch gradient descent on the exact support of
    ``spec`` from ``B = eps I``, ``a = eps I`` (``eps = 0``: uniform start) with learning
    rate ``lr`` for ``steps`` steps, against the 2-D flow from ``delta = gamma = eps``."""

    spec: str
    eps: float
    lr: float
    steps: int


@dataclass(frozen=True)
class VerifyPreset:
    """Everything a ``ktiw verify`` run needs besides the distributions the user names."""

    name: str
    specs: tuple[str, ...]
    seeds: int
    steps: int
    batch_size: int
    lr: float
    eval_every: int
    eval_samples: int
    hidden: int
    probe_every: int = 10
    """Save probe arrays every this many steps (and at the last step); they give the ``xi`` curves."""
    eps: float = 1e-3
    """Symmetry-breaking size used for the theory's saddle takeoff (``predict(dist, eps)``)."""
    fidelity: tuple[FidelitySetup, ...] = field(default_factory=tuple)

    def with_overrides(
        self, seeds: int | None = None, steps: int | None = None, **fields: object
    ) -> VerifyPreset:
        """The preset with ``--seeds``/``--steps`` (and, for tests, any other field) replaced."""
        for name, value in (("--seeds", seeds), ("--steps", steps)):
            if value is not None and value < 1:
                raise KtiwError(f"{name} must be >= 1, got {value}")
        if seeds is not None:
            fields["seeds"] = seeds
        if steps is not None:
            fields["steps"] = steps
        return replace_fields(self, fields)


_FIDELITY = (
    # drift: 6!/2! = 360 sequences, uniform start; flow takeoff t = 37, run to t = 100.
    # saddle: 4! = 24 sequences, symmetric start of size 1e-3; flow takeoff t = 107, run to t = 250.
    # lr = 0.05: the gap between descent and flow is Euler's O(lr) error, measured to shrink
    # linearly with lr (permutation: 0.078, 0.040, 0.020, 0.008 at lr = 1, 0.5, 0.25, 0.1),
    # so at 0.05 it is about 0.004, a fifth of the threshold; see README "Verify".
    FidelitySetup("subset:L=4,V=6", eps=0.0, lr=0.05, steps=2000),
    FidelitySetup("permutation:L=4", eps=1e-3, lr=0.05, steps=5000),
)

PRESETS: dict[str, VerifyPreset] = {
    "quick": VerifyPreset(
        # the smallest sizes of the sweep in README "Verify" where the headline contrast holds:
        # at L=6 permutation and subset succeed equally fast; at L=8 subset reaches 95% by step
        # 80-90 and permutation at 110-190 (hidden 64), so a budget of 150 steps (1.5-2x the
        # subset's time, like the paper's 200 steps for L=40) separates them.
        name="quick",
        specs=("permutation:L=8", "subset:L=8,V=12"),
        seeds=8,
        steps=150,
        batch_size=64,
        lr=1e-3,
        eval_every=10,
        eval_samples=50,
        hidden=64,
        probe_every=10,
        fidelity=_FIDELITY,
    ),
    "paper": VerifyPreset(
        name="paper",
        specs=("permutation:L=40", "subset:L=40,V=60"),
        seeds=20,
        steps=200,
        batch_size=128,
        lr=1e-3,
        eval_every=10,
        eval_samples=50,
        hidden=256,
        probe_every=50,  # every 5th evaluation: 20 seeds x 50 samples x 40 x 40 probes are large
        fidelity=_FIDELITY,
    ),
}


def get_preset(name: str) -> VerifyPreset:
    """The preset called ``name`` or a one-line :class:`KtiwError` listing the valid ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise KtiwError(f"unknown preset {name!r}; valid presets: {', '.join(PRESETS)}") from None
