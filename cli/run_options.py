"""The run a ``ktiw predict`` describes: ``ktiw train``'s options resolved the way ``train``
resolves them (``--preset`` fills what is not given), as a
:class:`ktiw.matched.predict.RunOptions`; without torch."""

from __future__ import annotations

from typing import Any

from ktiw.core.errors import KtiwError

from .options import parse_key_values

TOY_OPTIONS = ("init", "eps", "sigma")
"""The toy model's config fields (:class:`ktiw.empirics.models.toy.ToyConfig`; a test checks
that they agree), listed here so that ``--model toy`` needs no torch."""


def run_options(
    *,
    model: str,
    preset: str,
    optimizer: str,
    lr: float | None,
    batch_size: int | None,
    steps: int | None,
    seeds: str | None,
    momentum: float,
    hidden: int | None,
    layers: int | None,
    bidirectional: bool,
    heads: int | None,
    opt: list[str] | None,
    init: str | None,
    toy_init: str | None,
    toy_eps: float | None,
    toy_sigma: float | None,
    dtype: str,
    precision: str | None = None,
) -> Any:
    """``RunOptions`` for ``model`` (one-line :class:`KtiwError` for options the model does not have)."""
    from ktiw.config.presets import training_for
    from ktiw.matched.predict import RunOptions

    from .train import parse_seeds

    block = training_for(preset, model)
    mc: dict[str, Any] = dict(block.model_config)
    named = {
        "hidden": hidden,
        "layers": layers,
        "heads": heads,
        "init": toy_init,
        "eps": toy_eps,
        "sigma": toy_sigma,
    }
    mc.update({k: v for k, v in named.items() if v is not None})
    mc.update(parse_key_values(opt or [], "--opt"))
    if bidirectional:
        mc["bidirectional"] = True
    if dtype not in ("float32", "float64"):
        raise KtiwError(f"--dtype must be float32 or float64, got {dtype!r}")
    if model == "toy":
        extra = sorted(set(mc) - set(TOY_OPTIONS))
        if extra:
            raise KtiwError(
                f"option(s) {', '.join(extra)} do not apply to model toy; valid: {', '.join(TOY_OPTIONS)}"
            )
        if init is None:
            kind = str(mc.get("init", "zero"))
            init = {
                "zero": "zero",
                "eps": f"eps:{mc.get('eps', 1e-3)}",
                "normal": f"normal:{mc.get('sigma', 0.1)}",
            }.get(kind, kind)
    else:
        if init is not None:
            raise KtiwError(f"--init sets the toy model's start; it does not apply to model {model}")
        if optimizer == "gd":
            raise KtiwError(
                f"--optimizer gd (full batch) is the toy's only; ktiw train trains {model} with adam or sgd"
            )
    if momentum and optimizer != "sgd":
        raise KtiwError("--momentum applies to --optimizer sgd only")
    n_seeds = block.seeds if seeds is None else len(parse_seeds(seeds))
    return RunOptions(
        model=model,
        model_config=mc,
        seeds=n_seeds,
        steps=block.steps if steps is None else steps,
        batch_size=block.batch_size if batch_size is None else batch_size,
        lr=block.lr if lr is None else lr,
        optimizer=optimizer,
        momentum=momentum,
        dtype=dtype,
        precision=precision or "fp32",
        toy_init=init or "zero",
    )
