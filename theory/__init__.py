"""ktiw.theory: the toy model's two-stage gradient dynamics, derived with sympy and
solved with scipy.  Mathematics only: the distributions it is about live in :mod:`ktiw.data`.
Never imports torch (an import-linter contract, ``.importlinter``)."""
