"""``ktiw verify --experiment translation --data PARALLEL``: the copying experiment's checks on
real, alignment-free parallel text, scored against the theory's predicted alignment.

A parallel corpus has no gold alignment.  The theory supplies one: for every target token the
source position that stage 2 sends attention to first, ``argmax_l C[x_l, y_t]``
(:func:`ktiw.theory.stages.predicted_alignment`, ``-1`` where different words tie); the data
source option ``align=theory`` (:mod:`ktiw.data.corpus`) attaches it to the data.  Then
everything of the copying experiment (:mod:`ktiw.comparator.experiments.copy`) applies unchanged:
``ktiw-under-uniform`` asks whether the uniform-attention model's KTIW probe ``beta_uf``
peaks at the predicted position, the agreement table compares ``alpha``, ``beta``,
``beta_uf``, ``beta_px`` and ``Delta`` with each other, and attention accuracy is measured
against the predicted alignment.  The default model is the copying LSTM with separate
vocabularies (``--model`` picks another); the presets give it the authors' translation shape
where the model supports it (2 layers).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ktiw.core.errors import KtiwError

from ..framework import Request
from .copy import CopyExperiment, CopySetup


class TranslationExperiment(CopyExperiment):
    name = "translation"
    title = (
        "The translation experiment: on parallel text, does attention go where the theory's "
        "co-occurrence alignment says, and does a uniform-attention model know the words there?"
    )

    def setup(self, request: Request) -> CopySetup:
        from ktiw.data.corpus import DataSource

        if request.data is None or request.specs:
            raise KtiwError(
                "the translation experiment takes one --data PARALLEL file "
                "(--input-col/--output-col) and no SPEC"
            )
        source = DataSource.parse(str(request.data)).with_options(align="theory")
        return super().setup(replace(request, data=Path(str(source))))


EXPERIMENT = TranslationExperiment()
