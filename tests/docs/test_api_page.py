"""docs/api.md's Python examples run as written (at the tiny sizes the page shows), in order,
in one namespace, in a temporary folder; and `import ktiw` stays light."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", PAGE.read_text(encoding="utf-8"), re.S | re.M)


def test_the_api_page_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = blocks()
    assert len(code) >= 4  # predict, train, plot, verify
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for block in code:
        exec(compile(block, str(PAGE), "exec"), namespace)
    run = namespace["run"]
    assert run.seeds == [0, 1] and run.config["steps"] == 20  # type: ignore[attr-defined]
    assert (tmp_path / "curves.png").stat().st_size > 0
    result = namespace["result"]
    assert result.verdicts and (tmp_path / "verify-tiny" / "report.md").exists()  # type: ignore[attr-defined]


def test_import_ktiw_and_predict_do_not_load_torch() -> None:
    code = (
        "import sys, ktiw; from ktiw import predict; predict('subset:L=6,V=9'); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_api_takes_a_seed_count_or_a_list() -> None:
    from ktiw.empirics.train_config import TrainConfig

    assert TrainConfig(spec="iid:L=2,V=3", seeds=3).seeds == [0, 1, 2]
    assert TrainConfig.from_dict({"spec": "iid:L=2,V=3", "seeds": 2}).seeds == [0, 1]
    assert TrainConfig(spec="iid:L=2,V=3", seeds=[4, 7]).seeds == [4, 7]


def test_train_config_defaults_are_the_quick_presets() -> None:
    """TrainConfig() trains what the quick preset's copy block says (one set of defaults)."""
    from ktiw.config.presets import PRESETS
    from ktiw.core.training import Training
    from ktiw.empirics.train_config import TrainConfig

    quick = PRESETS[("copy", "lstm", "quick")].training
    cfg = TrainConfig(spec="iid:L=2,V=3")
    # the same block, up to the automatic probe schedule and options the model has by default
    assert Training() == dataclasses.replace(quick, probe_every=None, model_config={})
    for name in ("model", "steps", "batch_size", "lr", "eval_every", "eval_samples", "optimizer"):
        assert getattr(cfg, name) == getattr(quick, name), name
    assert len(cfg.seeds) == quick.seeds
    from ktiw.empirics.models import MODELS

    assert MODELS["lstm"].config().hidden == quick.model_config["hidden"]
