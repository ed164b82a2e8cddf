"""The researcher's own model: ``--model mypkg.models:build`` or an entry point.

``MODULE:FUNCTION`` names a factory ``FUNCTION(task, **options)`` importable from ``MODULE``
(``options``: ``--opt KEY=VALUE``); a name without a colon that is not a built-in model is
looked up in the ``ktiw.models`` entry-point group of the installed packages
(``[project.entry-points."ktiw.models"] mymodel = "mypkg.models:build"``).  The factory returns
one seed's ``nn.Module`` (contract: :mod:`.module_seeds`).  Every failure is one line.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from torch import nn

from ktiw.core.errors import KtiwError

ENTRY_POINT_GROUP = "ktiw.models"


def is_user_model(name: str) -> bool:
    """``MODULE:FUNCTION`` or an installed ``ktiw.models`` entry point."""
    return ":" in name or any(ep.name == name for ep in entry_points(group=ENTRY_POINT_GROUP))


def load_factory(name: str) -> Callable[..., nn.Module]:
    """The factory ``name`` points to (one-line :class:`KtiwError` when it cannot be loaded)."""
    if ":" not in name:
        eps = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
        if not eps:
            raise KtiwError(f"unknown model {name!r}: not built in and no {ENTRY_POINT_GROUP} entry point")
        name = eps[0].value
    module_name, _, attr = name.partition(":")
    if not module_name or not attr:
        raise KtiwError(f"--model {name!r}: expected MODULE:FUNCTION, e.g. mypkg.models:build")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or module_name
        raise KtiwError(
            f"--model {name}: cannot import module {module_name!r} (no module named {missing!r}); "
            "install the package beside ktiw or put it on PYTHONPATH"
        ) from None
    except Exception as exc:
        raise KtiwError(
            f"--model {name}: importing module {module_name!r} raised {type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:160] if str(exc) else ''}"
        ) from None
    factory: Any = module
    for part in attr.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise KtiwError(f"--model {name}: module {module_name!r} has no attribute {attr!r}")
    if not callable(factory):
        raise KtiwError(f"--model {name}: {attr!r} is not callable")
    return factory
