"""The model-matched prediction: measure the real model (:mod:`ktiw.empirics.pilot`), read
the measurements in the toy's coordinates and clock (:mod:`ktiw.theory.matched`), predict.

This package sits above ``theory`` and ``empirics`` (which do not import each other) and
below ``comparator`` and ``cli``."""
