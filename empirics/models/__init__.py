"""Models ``ktiw train --model`` can train; see :mod:`ktiw.empirics.models.base` for the interface.

Registered here: ``lstm`` (the paper's copying model, :mod:`.lstm`) and ``toy`` (the theory's
toy model, :mod:`.toy`); ``multihead`` (:mod:`.multihead`) and ``classifier`` (:mod:`.classifier`)
register themselves when imported below.  Add a model with one line:
``MODELS["name"] = ModelSpec(ConfigClass, ModelClass, "summary")``.
"""

from __future__ import annotations

from .base import MODELS, Evaluation, ModelSpec, SeedModel, build_model
from .lstm import LSTMConfig, LSTMSeq2Seq
from .module_seeds import seeds_of
from .toy import ToyConfig, ToyModel
from .transformer import TransformerConfig
from .transformer import build as build_transformer

MODELS["lstm"] = ModelSpec(LSTMConfig, LSTMSeq2Seq, "the paper's attention LSTM seq2seq model")
MODELS["toy"] = ModelSpec(ToyConfig, ToyModel, "the theory's toy model: KTIW matrix B + positional attention")
MODELS["transformer"] = ModelSpec(
    TransformerConfig,
    seeds_of(build_transformer, "transformer"),
    "encoder-decoder transformer, one single-head cross-attention (one seed's nn.Module, vmapped)",
)

from . import classifier, multihead  # noqa: E402, F401  (importing registers them)

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
