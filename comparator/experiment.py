"""What the paper's other experiments (``ktiw verify --experiment multihead|classification``)
share: the result type, the trainer config of one run, and the report writer.

An experiment trains its runs through :func:`ktiw.comparator.pipeline.obtain_run` (the
trainer's Python API, ``--reuse`` included), turns them into :class:`~ktiw.comparator.checks.Verdict`
rows and writes ``report.md``, ``verdicts.json`` and its figures into ``out_dir``, like
``ktiw verify``.  Exit code: 0 when no verdict refutes a prediction, 1 otherwise.
"""

from __future__ import annotations

import json
import platform
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .checks import Outcome, Verdict, _jsonable
from .report import verdict_markdown


@dataclass
class ExperimentResult(Outcome):
    """Verdicts of one experiment, the numbers behind them, and where the files went."""

    experiment: str
    verdicts: list[Verdict]
    numbers: dict[str, Any]
    meta: dict[str, Any]
    out_dir: Path
    figures: dict[str, Path] = field(default_factory=dict)


def run_config(
    spec: str,
    model: str,
    model_config: Any,
    *,
    preset: str,
    seeds: list[int],
    steps: int,
    batch_size: int,
    lr: float,
    eval_every: int,
    eval_samples: int,
    device: str,
    uniform: bool = False,
    probe_every: int = 0,
    proxy_steps: int = 0,
) -> dict[str, Any]:
    """The trainer's config record for one run (as ``config.json`` stores it, for ``--reuse``)."""
    from ktiw.empirics.trainer import TrainConfig, resolve_device
    from ktiw.theory.families import from_spec

    cfg = TrainConfig(
        spec=from_spec(spec).spec,
        model=model,
        uniform=uniform,
        preset=preset,
        seeds=list(seeds),
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        eval_every=eval_every,
        eval_samples=eval_samples,
        probe_every=probe_every,
        proxy_steps=proxy_steps,
        device=resolve_device(device),
        model_config=asdict(model_config),
    )
    cfg.validate()
    record = asdict(cfg)
    record["device_requested"] = cfg.device
    return record


def provenance_meta(experiment: str, preset: Any, wall_s: float, device: str) -> dict[str, Any]:
    """Command, preset values, device, versions and git commit of an experiment."""
    from ktiw.empirics.trainer import provenance

    prov = provenance()
    return {
        "experiment": experiment,
        "command": "ktiw " + " ".join(sys.argv[1:]) if sys.argv and "ktiw" in sys.argv[0] else "ktiw verify",
        "preset": preset.name,
        "preset_values": asdict(preset),
        "device": device,
        "wall_time_s": wall_s,
        "python": platform.python_version(),
        **prov,
    }


def write_outputs(result: ExperimentResult, sections: list[str]) -> dict[str, Path]:
    """Write ``verdicts.json`` (every number) and ``report.md`` (verdicts, details, ``sections``
    of extra Markdown, figures) into ``result.out_dir``."""
    out = result.out_dir
    out.mkdir(parents=True, exist_ok=True)
    rel = {k: p.relative_to(out).as_posix() for k, p in result.figures.items()}
    doc = {
        "experiment": result.experiment,
        "passed": result.passed,
        "exit_code": result.exit_code,
        "meta": result.meta,
        "verdicts": [v.to_dict() for v in result.verdicts],
        "numbers": result.numbers,
        "figures": rel,
    }
    json_path = out / "verdicts.json"
    json_path.write_text(json.dumps(_jsonable(doc), indent=2, allow_nan=False) + "\n")
    n_fail = sum(v.passed is False for v in result.verdicts)
    outcome = "every prediction holds" if result.passed else f"{n_fail} verdict(s) refute a prediction"
    meta = result.meta
    lines = [
        f"# ktiw verify --experiment {result.experiment}",
        "",
        f"**Outcome: {outcome}** (exit code {result.exit_code}).",
        "",
        f"Command: `{meta.get('command')}`  ",
        f"Preset: `{meta.get('preset')}`; wall time: {float(meta.get('wall_time_s', 0.0)):.0f} s; "
        f"device: {meta.get('device')}; git commit: `{meta.get('git_commit')}`",
        "",
        "## Verdicts",
        "",
        *verdict_markdown(result.verdicts),
    ]
    lines += ["", "## Details", ""]
    lines += [f"* **{v.name}** (`{v.subject}`, {v.status}): {v.detail}" for v in result.verdicts]
    lines += [""]
    for sec in sections:
        lines += [sec, ""]
    if rel:
        lines += ["## Figures", ""]
        lines += [f"![{k}]({p})\n" for k, p in rel.items()]
    md_path = out / "report.md"
    md_path.write_text("\n".join(lines) + "\n")
    return {"report": md_path, "verdicts": json_path, **result.figures}
