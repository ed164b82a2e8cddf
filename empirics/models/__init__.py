"""Models ``ktiw train --model`` can train; see :mod:`ktiw.empirics.models.base` for the interface.

:data:`MODELS` is the one registry, an explicit dict: adding a model is one module (a config
dataclass and a :class:`~ktiw.empirics.models.base.SeedModel`) and one line here
(``docs/extending.md``).  Nothing registers itself by being imported.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from ktiw.core.errors import KtiwError
from ktiw.core.validation import check_fields
from ktiw.data.distribution import Distribution

from .base import Evaluation, ModelSpec, SeedModel
from .classifier import AttentionClassifier, ClassifierConfig
from .lstm import LSTMConfig, LSTMSeq2Seq
from .module_seeds import ModuleSeeds, seeds_of
from .multihead import MultiHeadConfig, MultiHeadGRU
from .toy import ToyConfig, ToyModel
from .transformer import TransformerConfig
from .transformer import build as build_transformer
from .user import is_user_model, load_factory

MODELS: dict[str, ModelSpec] = {
    "lstm": ModelSpec(LSTMConfig, LSTMSeq2Seq, "the paper's attention LSTM seq2seq model"),
    "toy": ModelSpec(ToyConfig, ToyModel, "the theory's toy model: KTIW matrix B + positional attention"),
    "multihead": ModelSpec(
        MultiHeadConfig,
        MultiHeadGRU,
        "GRU seq2seq with H bilinear attention heads (averaged projected contexts)",
    ),
    "classifier": ModelSpec(
        ClassifierConfig,
        AttentionClassifier,
        "gated LSTM classifier, attention softmax(v.h), score sigmoid(sum p W h)",
        data_format="labelled",
    ),
    "transformer": ModelSpec(
        TransformerConfig,
        seeds_of(build_transformer, "transformer"),
        "encoder-decoder transformer, one single-head cross-attention (one seed's nn.Module, vmapped)",
    ),
}
"""Every model ``ktiw train --model`` may name, by name (a user's ``MODULE:FUNCTION`` model is
loaded by :func:`build_model` without an entry)."""


def build_model(
    name: str, model_config: dict[str, Any], dist: Distribution, n_seeds: int, *, uniform: bool
) -> tuple[SeedModel, Any]:
    """Instantiate model ``name`` with config fields ``model_config`` (unknown keys: KtiwError)."""
    spec = MODELS.get(name)
    if spec is None and is_user_model(name):
        factory = load_factory(name)
        options = dict(model_config)
        model = ModuleSeeds(lambda task: factory(task, **options), dist, n_seeds, uniform=uniform, name=name)
        return model, options
    if spec is None:
        raise KtiwError(f"unknown model {name!r}; valid models: {', '.join(sorted(MODELS))}")
    known = {f.name for f in fields(spec.config)}
    extra = sorted(set(model_config) - known)
    if extra:
        raise KtiwError(f"unknown option(s) {', '.join(extra)} for model {name}; valid: {', '.join(known)}")
    cfg = spec.config(**check_fields(spec.config, model_config, f"option for model {name}"))
    return spec.cls(cfg, dist, n_seeds, uniform=uniform), cfg


__all__ = [
    "MODELS",
    "Evaluation",
    "LSTMConfig",
    "LSTMSeq2Seq",
    "ModelSpec",
    "SeedModel",
    "ToyConfig",
    "ToyModel",
    "build_model",
]
