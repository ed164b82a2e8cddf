"""``ktiw train --resume``: continue a run directory from its last checkpoint, with results
identical to an uninterrupted run; the options given with ``--resume`` either apply
(:data:`RESUME_APPLIES`) or must equal the run's record (:func:`resume_options`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ktiw.core.errors import KtiwError
from ktiw.core.paths import not_a_directory

from . import runfiles
from .train_config import TrainConfig
from .trainer import Trainer

RESUME_APPLIES = ("steps", "threads")
"""Options ``--resume`` applies: the step budget (extended, or shortened down to the step of
the checkpoint) and the CPU thread count (it does not change the numbers).  Every other
training option determines the run's numbers and is taken from ``config.json``: given with
``--resume``, it must equal the recorded value."""


def _recorded(config: dict[str, Any], name: str) -> Any:
    """The value ``config.json`` records for field ``name`` (``model_config.KEY`` for a model
    field), or a marker when it records none."""
    if name.startswith("model_config."):
        return dict(config.get("model_config") or {}).get(name.split(".", 1)[1], _MISSING)
    return config.get(name, _MISSING)


_MISSING = object()


def _same(given: Any, stored: Any) -> bool:
    if isinstance(given, bool) or isinstance(stored, bool):
        return given is stored
    if isinstance(given, (int, float)) and isinstance(stored, (int, float)):
        return float(given) == float(stored)
    return json.loads(json.dumps(given)) == stored


def resume_options(
    run_dir: Path, config: dict[str, Any], options: dict[str, tuple[str, Any]]
) -> dict[str, Any]:
    """Check the options given with ``--resume`` against the run's ``config.json``.

    ``options``: option as the user wrote it (``--steps``) -> (config field, value).  Returns
    the fields to apply (:data:`RESUME_APPLIES`); any other option whose value differs from the
    recorded one is a one-line :class:`KtiwError` naming the option and the recorded value."""
    apply: dict[str, Any] = {}
    for flag, (name, value) in options.items():
        if name in RESUME_APPLIES:
            apply[name] = value
            continue
        stored = _recorded(config, name)
        if name == "device" and value in (config.get("device_requested"), config.get("device")):
            continue
        if stored is not _MISSING and _same(value, stored):
            continue
        shown = "not recorded" if stored is _MISSING else json.dumps(stored)
        given = value if isinstance(value, str) else json.dumps(value)
        raise KtiwError(
            f"{flag} {given}: --resume continues {run_dir} as recorded ({name} = {shown} "
            "in its config.json); to change it, train a new run with another --out"
        )
    return apply


def resume(
    run_dir: str | Path,
    progress: bool = True,
    callback: Callable[[Trainer], None] | None = None,
    options: dict[str, tuple[str, Any]] | None = None,
) -> Path:
    """Continue ``run_dir`` from its last checkpoint (identical results to an uninterrupted run).

    ``options`` (:func:`resume_options`): what the user gave with ``--resume``; ``steps`` moves
    the step budget (an extended run equals an uninterrupted run of the new length, except for
    an extra evaluation row at the old last step when it lies off the ``eval_every`` grid),
    ``threads`` sets the CPU threads; any other option must equal its recorded value."""
    run_dir = Path(run_dir)
    problem = not_a_directory(run_dir)
    if problem is not None:
        raise KtiwError(f"--resume {run_dir}: the run directory {problem}")
    config = runfiles.read_config(run_dir)
    try:
        cfg = TrainConfig.from_dict(config)
        cfg.device = config.get("device_requested", cfg.device)
        cfg.validate()
    except KtiwError as exc:
        raise runfiles.damaged(run_dir / "config.json", str(exc)) from None
    apply = resume_options(run_dir, config, options or {})
    for name, value in apply.items():
        setattr(cfg, name, value)
    cfg.validate()
    trainer = Trainer(cfg, run_dir, resume=True)
    if cfg.steps != config.get("steps"):  # the new budget is the run's from now on
        try:
            runfiles.write_json(run_dir / "config.json", {**config, "steps": cfg.steps})
        except BaseException:
            trainer.lock.release()
            raise
    return trainer.run(progress, callback)
