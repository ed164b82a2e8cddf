"""The one preset registry, keyed by ``(experiment, model, name)``: ``quick`` (minutes on a
2-core CPU) and ``paper`` (the paper's sizes) for every experiment of ``ktiw verify``, with the
experiment's default model first (``ktiw verify --model`` picks another one; a model without
a preset of its own takes the default model's preset with its own default configuration).

Every preset holds a :class:`~ktiw.core.training.Training` block (the one description of a
training: the model, its configuration and the optimisation settings), turned into the
trainer's config by :meth:`ktiw.empirics.train_config.TrainConfig.from_training`.
``ktiw train --preset NAME --model MODEL`` uses the very same block (:func:`training_for`),
so ``quick`` means the same model and batch for both commands.
``ktiw presets [EXPERIMENT]`` lists every field with its value and meaning
(:func:`describe`); ``ktiw verify --set KEY=VALUE`` replaces one (:func:`with_overrides`).
How the ``quick`` sizes were chosen is recorded on the docs page "Verifying" (docs/verifying.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ktiw.core.errors import KtiwError
from ktiw.core.limits import MAX_SEEDS
from ktiw.core.training import Training
from ktiw.core.validation import check_fields
from ktiw.empirics.curves import SUCCESS_ACCURACY


@dataclass(frozen=True)
class FidelitySetup:
    """One toy-fidelity comparison.

    ``optimizer="gd"``: full-batch gradient descent on the exact support of ``spec`` from
    ``B = eps I``, ``a = eps I`` (``eps = 0``: uniform start) with learning rate ``lr`` for
    ``steps`` steps, against the 2-D flow from ``delta = gamma = eps``.  ``"adam"``/``"sgd"``:
    the toy model trained as ``ktiw train --model toy`` trains it (the preset's seeds and batch
    size, this optimizer, ``lr``, ``init``, a budget of ``steps``), against ``ktiw predict`` for
    the same training (takeoff step and success probability)."""

    spec: str
    eps: float
    lr: float
    steps: int
    optimizer: str = "gd"
    init: str = "zero"
    """The toy initialisation of an ``adam``/``sgd`` setup (``zero``, ``eps:E``, ``normal:S``)."""


@dataclass(frozen=True)
class CopyPreset:
    """The copying experiment: normal and uniform LSTM runs per distribution, six checks."""

    name: str = field(metadata={"meaning": "preset name"})
    training: Training = field(metadata={"meaning": "training block"})
    specs: tuple[str, ...] = field(metadata={"meaning": "default distributions (the headline contrast)"})
    eps: float = field(
        metadata={"meaning": "symmetry-breaking size of the theory's saddle takeoff"}, default=1e-3
    )
    fidelity: tuple[FidelitySetup, ...] = field(
        metadata={"meaning": "toy-fidelity setups (spec, eps, lr, steps)"}, default=()
    )
    uniform_seeds: int | None = field(
        metadata={
            "meaning": "seeds of the uniform-attention runs (None: training.seeds; must divide it)",
            "min": 1,
            "max": MAX_SEEDS,
        },
        default=None,
    )


@dataclass(frozen=True)
class MultiheadPreset:
    """The multi-head rescue experiment (``training.model_config["heads"]`` heads per model)."""

    name: str = field(metadata={"meaning": "preset name"})
    training: Training = field(metadata={"meaning": "training block (training.seeds: ktiw train only)"})
    spec: str = field(metadata={"meaning": "the permutation task"})
    candidates: int = field(metadata={"meaning": "single-head initialisations to classify"})
    pool_size: int = field(metadata={"meaning": "keep at most this many good and this many bad heads"})
    combinations: int = field(metadata={"meaning": "models per group (--seeds)"})
    data_seeds: int = field(metadata={"meaning": "data seeds each single head is trained on"}, default=3)
    max_seeds_per_run: int = field(metadata={"meaning": "single-head seeds per batched run"}, default=64)
    base_seed: int = field(metadata={"meaning": "seed of the parameters shared by all heads"}, default=0)
    combo_seed: int = field(
        metadata={"meaning": "seed of the random choice of heads for the combinations"}, default=0
    )


@dataclass(frozen=True)
class ClassificationPreset:
    """The classification experiment: normal and uniform classifier runs on a keyword task."""

    name: str = field(metadata={"meaning": "preset name"})
    training: Training = field(metadata={"meaning": "training block"})
    spec: str = field(metadata={"meaning": "default keyword distribution"})


Preset = CopyPreset | MultiheadPreset | ClassificationPreset
P = TypeVar("P", CopyPreset, MultiheadPreset, ClassificationPreset)

_FIDELITY = (
    # drift: 6!/2! = 360 sequences, uniform start; flow takeoff t = 37, run to t = 100.
    # saddle: 4! = 24 sequences, symmetric start of size 1e-3; flow takeoff t = 107, run to t = 250.
    # lr = 0.05: the gap between descent and flow is Euler's O(lr) error, measured to shrink
    # linearly with lr (permutation: 0.078, 0.040, 0.020, 0.008 at lr = 1, 0.5, 0.25, 0.1),
    # so at 0.05 it is about 0.004, a fifth of the threshold; see the docs page "Verifying".
    FidelitySetup("subset:L=4,V=6", eps=0.0, lr=0.05, steps=2000),
    FidelitySetup("permutation:L=4", eps=1e-3, lr=0.05, steps=5000),
    # optimizer-matched (issue 9): Adam as ktiw train runs it, the drift/saddle pair.
    FidelitySetup("subset:L=12,V=18", eps=1e-3, lr=0.01, steps=120, optimizer="adam", init="eps:1e-3"),
    FidelitySetup("permutation:L=12", eps=1e-3, lr=0.01, steps=120, optimizer="adam", init="eps:1e-3"),
)

_QUICK = dict(batch_size=64, lr=1e-3, eval_every=10, eval_samples=50)
_PAPER = dict(seeds=20, steps=200, batch_size=128, lr=1e-3, eval_every=10, eval_samples=50)


def _authors_classifier(*, hidden: int, embedding: int, **sizes: Any) -> Training:
    """The authors' classifier training (bidirectional LSTM encoder, batch 32, Adam lr 1e-3)
    at the given sizes (``seeds``, ``steps``, ``eval_every``, ``eval_samples``, ...)."""
    return Training(
        model="classifier",
        batch_size=32,
        lr=1e-3,
        model_config={"hidden": hidden, "embedding": embedding, "bidirectional": True},
        **sizes,
    )


PRESETS: dict[tuple[str, str, str], Preset] = {
    ("copy", "lstm", "quick"): CopyPreset(
        # chosen from the sweep on the docs page "Verifying" (L=8, hidden 64, seeds 0-15, 200
        # steps): subset reaches 95% accuracy by step 80-100 in every seed, permutation at 90-200 or never; at
        # 120 steps (1.2-1.5x the subset's time) 5/16 vs 16/16 (Fisher p = 3e-5) shows the contrast
        # with a wide margin, where the former 8 seeds x 150 steps gave 5/8 vs 8/8 (p = 0.1).
        name="quick",
        training=Training(
            model="lstm", seeds=16, steps=120, **_QUICK, model_config={"hidden": 64}, probe_every=10
        ),
        specs=("permutation:L=8", "subset:L=8,V=12"),
        fidelity=_FIDELITY,
    ),
    ("copy", "lstm", "paper"): CopyPreset(
        name="paper",
        # probes every 5th evaluation: 20 seeds x 50 samples x 40 x 40 probes are large.
        # stop_at: a seed leaves the batch once it has succeeded (95% token accuracy); no check
        # reads a curve past success (success, first step to attention mass 1/2, KTIW before
        # attention) and the probes of a stopped seed are its final model's (Run.frozen_probes).
        training=Training(
            model="lstm",
            **_PAPER,
            model_config={"hidden": 256},
            probe_every=50,
            stop_at=SUCCESS_ACCURACY,
        ),
        specs=("permutation:L=40", "subset:L=40,V=60"),
        fidelity=_FIDELITY,
        # the uniform runs feed only pooled token-level measures (beta_uf's share at the gold
        # word, the agreement table): 4 seeds x 50 samples x 40 tokens = 8,000 scored tokens per
        # distribution, a binomial standard error <= 0.006 on each share, at a fifth of the cost
        uniform_seeds=4,
    ),
    ("copy", "transformer", "quick"): CopyPreset(
        # the LSTM's quick sizes (16 seeds x 120 steps, batch 64, L = 8) with a 1-layer
        # transformer of width 64 (issue 19); measured in README "Transformer"
        name="quick",
        training=Training(
            model="transformer",
            seeds=16,
            steps=120,
            **_QUICK,
            model_config={"d_model": 64, "n_layer": 1, "n_head": 4},
            probe_every=10,
        ),
        specs=("permutation:L=8", "subset:L=8,V=12"),
        fidelity=_FIDELITY,
    ),
    ("copy", "transformer", "paper"): CopyPreset(
        # the paper's copy sizes (L = 40, batch 128, 20 seeds x 200 steps) with a 2-layer
        # transformer of width 256 (8 self-attention heads, one cross-attention head)
        name="paper",
        training=Training(
            model="transformer",
            **_PAPER,
            model_config={"d_model": 256, "n_layer": 2, "n_head": 8},
            probe_every=50,
            stop_at=SUCCESS_ACCURACY,
        ),
        specs=("permutation:L=40", "subset:L=40,V=60"),
        fidelity=_FIDELITY,
        uniform_seeds=4,
    ),
    ("multihead", "multihead", "quick"): MultiheadPreset(
        name="quick",
        training=Training(
            model="multihead",
            seeds=4,
            steps=100,
            **_QUICK,
            model_config={"hidden": 64, "heads": 2},
            proxy_steps=0,
        ),
        spec="permutation:L=10",
        candidates=12,
        pool_size=6,
        combinations=20,
    ),
    ("multihead", "multihead", "paper"): MultiheadPreset(
        name="paper",
        training=Training(
            model="multihead", **_PAPER, model_config={"hidden": 256, "heads": 8}, proxy_steps=0
        ),
        spec="permutation:L=40",
        candidates=150,
        pool_size=20,
        combinations=50,
        max_seeds_per_run=60,
    ),
    ("classification", "classifier", "quick"): ClassificationPreset(
        # the authors' architecture (bidirectional LSTM, batch 32, Adam 1e-3) at CPU size: on the
        # real reviews (`--data rotten-tomatoes`) both runs train to accuracy 0.81 in a few minutes
        # on a 2-core CPU (docs page "Real data"), where the former unidirectional hidden-32 model
        # (4 seeds x 200 steps of 64) stayed near the majority rate; it also serves the keyword
        # default.  Evaluations (with probes) every 50 steps give the xi values 13 checkpoints.
        name="quick",
        training=_authors_classifier(
            seeds=3, steps=600, eval_every=50, eval_samples=300, hidden=64, embedding=64
        ),
        spec="keyword:L=20,V=60,K=6",
    ),
    ("classification", "classifier", "authors"): ClassificationPreset(
        # the authors' classification protocol (the paper's setup; docs page "Real data"): BiLSTM, embedding
        # 300, hidden 256, batch 32, Adam, 4000 steps, 6 seeds (+ the uniform run, here with the
        # same 6 seeds).  Their checkpoints 0, 10, 50, ..., 250, then every 250 are all multiples
        # of 10: evaluating every 10 steps covers them (the trainer has no irregular schedule).
        name="authors",
        training=_authors_classifier(
            seeds=6, steps=4000, eval_every=10, eval_samples=500, hidden=256, embedding=300, probe_every=250
        ),
        spec="keyword:L=40,V=1000,K=20",
    ),
    ("classification", "classifier", "paper"): ClassificationPreset(
        name="paper",
        training=Training(
            model="classifier",
            **{**_PAPER, "steps": 400, "eval_every": 20, "eval_samples": 500},
            model_config={"hidden": 256},
        ),
        spec="keyword:L=40,V=1000,K=20",
    ),
    ("translation", "lstm", "quick"): CopyPreset(
        # CPU-sized; 2 layers and dropout 0.5 between them like the authors' translation LSTM
        name="quick",
        training=Training(
            model="lstm",
            seeds=3,
            steps=300,
            **_QUICK,
            model_config={"hidden": 64, "layers": 2, "dropout": 0.5},
        ),
        specs=("translate:L=10,V=30,reorder=random",),  # unused: the experiment needs --data
    ),
    ("translation", "lstm", "paper"): CopyPreset(
        # the authors' translation LSTM: 2 layers, hidden 256, dropout 0.5, batch 16
        name="paper",
        training=Training(
            model="lstm",
            seeds=2,
            steps=20_000,
            batch_size=16,
            lr=1e-3,
            eval_every=500,
            eval_samples=200,
            model_config={"hidden": 256, "layers": 2, "dropout": 0.5},
        ),
        specs=("translate:L=10,V=30,reorder=random",),  # unused: the experiment needs --data
    ),
}


def experiments() -> list[str]:
    """Experiment names in registry order."""
    return list(dict.fromkeys(e for e, _, _ in PRESETS))


def preset_names(experiment: str | None = None) -> list[str]:
    return list(dict.fromkeys(n for e, _, n in PRESETS if experiment in (None, e)))


def default_model(experiment: str) -> str:
    """The model an experiment trains unless ``--model`` says otherwise (its first preset's)."""
    return next(m for e, m, _ in PRESETS if e == experiment)


def get_preset(experiment: str, name: str, model: str | None = None) -> Preset:
    """The preset ``(experiment, model, name)`` (``model`` default: the experiment's), or, for a
    model without a preset of its own, the default model's preset training ``model`` with its
    default configuration; a one-line :class:`KtiwError` listing the valid names otherwise."""
    if experiment not in experiments():
        raise KtiwError(f"unknown experiment {experiment!r}; valid experiments: {', '.join(experiments())}")
    if name not in preset_names(experiment):
        valid = ", ".join(preset_names(experiment))
        raise KtiwError(f"unknown preset {name!r}; valid presets: {valid}")
    first = default_model(experiment)
    key = (experiment, model or first, name)
    if key in PRESETS:
        return PRESETS[key]
    base = PRESETS.get((experiment, first, name)) or next(
        p for (e, _, n), p in PRESETS.items() if (e, n) == (experiment, name)
    )
    training = dataclasses.replace(base.training, model=model, model_config={})
    return dataclasses.replace(base, training=training)


def presets_for(model: str) -> list[str]:
    """The presets ``ktiw train --model MODEL --preset`` accepts: those of the experiments that
    train ``MODEL``, or the copy experiment's for a model no experiment trains (``toy``)."""
    names = [n for (_, m, n) in PRESETS if m == model]
    return list(dict.fromkeys(names or preset_names("copy")))


def training_for(name: str, model: str) -> Training:
    """The training block ``ktiw train --preset NAME --model MODEL`` uses: that of the first
    experiment whose preset ``NAME`` trains ``MODEL``.  A model no experiment trains (``toy``,
    a user's model) takes the copy experiment's block with its own default configuration.  A
    preset that has no training for ``MODEL`` is a one-line :class:`KtiwError` naming those that do."""
    if name not in preset_names():
        valid = ", ".join(presets_for(model))
        raise KtiwError(f"unknown preset {name!r}; valid presets for --model {model}: {valid}")
    if name not in presets_for(model):
        raise KtiwError(
            f"preset {name!r} has no training for --model {model}; presets for {model}: "
            f"{', '.join(presets_for(model))}"
        )
    for (_, m, n), preset in PRESETS.items():
        if n == name and m == model:
            return preset.training
    return get_preset("copy", name, model).training


def _names(obj: Any) -> list[str]:
    return [f.name for f in dataclasses.fields(obj)]


def valid_keys(preset: Preset) -> list[str]:
    """Every key ``--set`` accepts for ``preset``: its own fields, the training block's, and
    the model's configuration fields."""
    from ktiw.empirics.models import MODELS

    own = [n for n in _names(preset) if n not in ("name", "training")]
    train = [n for n in _names(preset.training) if n not in ("model", "model_config")]
    spec = MODELS.get(preset.training.model)
    model = _names(spec.config) if spec is not None else list(preset.training.model_config)
    return own + train + [m for m in model if m not in own + train]


def with_overrides(preset: P, values: Mapping[str, Any]) -> P:
    """``preset`` with ``values`` replaced wherever each key lives (the preset, its training
    block, or the model configuration); an unknown key is a one-line :class:`KtiwError` naming
    the valid ones."""
    keys = valid_keys(preset)
    unknown = sorted(set(values) - set(keys))
    if unknown:
        raise KtiwError(f"unknown preset field(s): {', '.join(unknown)}; valid: {', '.join(keys)}")
    from ktiw.empirics.models import MODELS

    spec = MODELS.get(preset.training.model)
    own, train, model = {}, {}, dict(preset.training.model_config)
    for key, value in values.items():
        if key in _names(preset):
            default = getattr(preset, key)
            own[key] = tuple(value) if isinstance(default, tuple) and isinstance(value, list) else value
        elif key in _names(preset.training):
            train[key] = value
        else:
            model[key] = value
    # every value is checked against its field's declared type and range (one-line errors)
    own = check_fields(type(preset), own, "preset field")
    train = check_fields(type(preset.training), train, "training field")
    if spec is not None:
        model = check_fields(spec.config, model, f"option for model {preset.training.model}")
    training = dataclasses.replace(preset.training, **train, model_config=model)
    return dataclasses.replace(preset, **own, training=training)


def describe(preset: Preset) -> list[tuple[str, str, str]]:
    """``(field, value, meaning)`` of every field of ``preset``, the training block's fields
    as ``training.FIELD`` and the model options as ``training.model_config.KEY``."""
    rows: list[tuple[str, str, str]] = []

    def walk(obj: Any, prefix: str) -> None:
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            meaning = f.metadata.get("meaning", "")
            if dataclasses.is_dataclass(value):
                walk(value, f"{prefix}{f.name}.")
            elif f.name == "model_config":
                for k, v in value.items():
                    rows.append((f"{prefix}model_config.{k}", repr(v), f"{obj.model} option"))
            elif f.name == "fidelity":
                setups = "; ".join(
                    f"{s.spec} {s.optimizer} lr={s.lr:g} steps={s.steps} "
                    + (f"eps={s.eps:g}" if s.optimizer == "gd" else f"init={s.init}")
                    for s in value
                )
                rows.append((f"{prefix}{f.name}", setups or "()", meaning))
            else:
                rows.append((f"{prefix}{f.name}", repr(value), meaning))

    walk(preset, "")
    return rows
