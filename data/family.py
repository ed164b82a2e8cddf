"""The base of every named distribution family: :class:`Family` (a distribution named by a
spec ``family:key=value,...``) and :class:`Param` (one spec key, its type, default and bounds).
The families themselves and their registry are in :mod:`ktiw.data.families`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ktiw.core.errors import SpecError, shown

from .distribution import Batch, Cooccurrence, Distribution
from .spec import format_spec

_REQUIRED = object()


@dataclass(frozen=True)
class Param:
    """One key of a family's spec: its type, default and allowed values."""

    name: str
    kind: type
    default: object = _REQUIRED
    choices: tuple[str, ...] | None = None
    minimum: int | None = 1
    help: str = ""

    @property
    def required(self) -> bool:
        """Whether a spec must give this key (it has no default)."""
        return self.default is _REQUIRED

    def convert(self, raw: str, spec: str) -> object:
        if self.kind is int:
            try:
                value: object = int(raw)
            except ValueError:
                raise SpecError(f"{self.name}={shown(raw)} is not an integer in spec {shown(spec)}") from None
            if self.minimum is not None and value < self.minimum:  # type: ignore[operator]
                raise SpecError(
                    f"{self.name} must be >= {self.minimum}, got {shown(value)} in spec {shown(spec)}"
                )
            return value
        if self.choices is not None and raw not in self.choices:
            raise SpecError(
                f"{self.name}={shown(raw)} is not one of {'|'.join(self.choices)} in spec {shown(spec)}"
            )
        return raw


class Family(Distribution):
    """Base of the named families: declares ``name`` and ``params``; parsed by :func:`from_spec`."""

    name: ClassVar[str]
    params: ClassVar[tuple[Param, ...]]
    summary: ClassVar[str]

    def __init__(self, **values: object) -> None:
        self.values = dict(values)
        shown = {
            p.name: values[p.name]
            for p in self.params
            if p.default is _REQUIRED or values[p.name] != p.default
        }
        self.spec = format_spec(self.name, shown)

    def __getattr__(self, key: str) -> object:
        values = self.__dict__.get("values", {})
        if key in values:
            return values[key]
        raise AttributeError(key)

    def validate(self) -> None:
        """Raise :class:`SpecError` for impossible parameter combinations."""

    def _copy_batch(self, src: np.ndarray, tgt: np.ndarray, align: np.ndarray) -> Batch:
        n = src.shape[0]
        return Batch(
            src.astype(np.int64),
            tgt.astype(np.int64),
            np.full(n, src.shape[1], np.int64),
            np.full(n, tgt.shape[1], np.int64),
            align.astype(np.int64),
        )

    def _two_value_cooccurrence(self, c_d: float, c_o: float, columns: np.ndarray) -> Cooccurrence:
        """``C[i, o] = c_d`` if ``o = columns[i]`` else ``c_o``."""
        C = np.full((self.n_in, self.n_out), c_o, dtype=np.float64)
        C[np.arange(self.n_in), columns] = c_d
        return Cooccurrence.from_dense(C, "closed-form")
