"""Training presets: ``paper`` (BRIEF section 3's settings) and ``quick`` (a small check).

A preset fills every :class:`~ktiw.empirics.trainer.TrainConfig` field the user did not
give.  ``paper``: 20 seeds, 200 steps, batch 128, Adam lr 1e-3, evaluation every 10 steps on
50 samples, LSTM hidden 256 (1 layer, unidirectional), multi-head GRU hidden 256 with 8 heads,
classifier hidden 256.  ``quick``: 4 seeds, 200 steps, LSTM hidden 64, 2 heads of hidden 64,
classifier hidden 32, the rest as ``paper``.
"""

from __future__ import annotations

from typing import Any

from ktiw.theory.errors import KtiwError

PRESETS: dict[str, dict[str, Any]] = {
    "paper": {
        "seeds": list(range(20)),
        "steps": 200,
        "batch_size": 128,
        "lr": 1e-3,
        "eval_every": 10,
        "eval_samples": 50,
        "model_config": {
            "lstm": {"hidden": 256, "layers": 1, "bidirectional": False},
            "toy": {},
            "multihead": {"hidden": 256, "heads": 8},
            "classifier": {"hidden": 256},
        },
    },
    "quick": {
        "seeds": list(range(4)),
        "steps": 200,
        "batch_size": 128,
        "lr": 1e-3,
        "eval_every": 10,
        "eval_samples": 50,
        "model_config": {
            "lstm": {"hidden": 64, "layers": 1, "bidirectional": False},
            "toy": {},
            "multihead": {"hidden": 64, "heads": 2},
            "classifier": {"hidden": 32},
        },
    },
}


def preset_values(name: str, model: str) -> dict[str, Any]:
    """The TrainConfig fields preset ``name`` sets for ``model`` (KtiwError if unknown)."""
    if name not in PRESETS:
        raise KtiwError(f"unknown preset {name!r}; valid presets: {', '.join(sorted(PRESETS))}")
    values = dict(PRESETS[name])
    values["model_config"] = dict(values["model_config"].get(model, {}))
    values["seeds"] = list(values["seeds"])
    return values
