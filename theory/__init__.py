"""ktiw.theory: the toy model's two-stage gradient dynamics, derived with sympy and
solved with scipy, and the distributions they are about.  Never imports torch."""

from .classification import load_labelled  # importing it registers the keyword family
from .datafile import load_pairs
from .distribution import Batch, Cooccurrence, Distribution, EmpiricalDistribution
from .errors import DataFileError, KtiwError, SpecError
from .families import FAMILIES, from_spec

__all__ = [
    "FAMILIES",
    "Batch",
    "Cooccurrence",
    "DataFileError",
    "Distribution",
    "EmpiricalDistribution",
    "KtiwError",
    "SpecError",
    "from_spec",
    "load_labelled",
    "load_pairs",
]
