"""``--precision bf16``: mixed precision numerics, hardware refusal, determinism, config identity,
and the evidence that bf16 does not change the science (issue 20)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from ktiw.cli.app import app
from ktiw.comparator.equivalence import TAKEOFF_AGREEMENT, compare
from ktiw.comparator.thresholds import P_VALUE
from ktiw.core.errors import KtiwError
from ktiw.empirics import batched as bt
from ktiw.empirics import precision as pr
from ktiw.empirics.train_config import TrainConfig
from ktiw.empirics.trainer import train
from ktiw.runs.reuse import same_config

CPUINFO = """processor\t: 0
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni
processor\t: 1
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni
"""


@pytest.fixture
def any_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """bf16 allowed on any CPU (these tests check numbers, not speed)."""
    monkeypatch.setenv(pr.SLOW_OVERRIDE, "1")


def test_cpu_flags_are_read_from_cpuinfo() -> None:
    assert pr.cpu_bf16_flags(CPUINFO) == ["avx512_bf16"]
    assert pr.cpu_bf16_flags("flags\t: fpu sse2 avx2 amx_bf16 amx_tile\n") == ["amx_bf16"]
    assert pr.cpu_bf16_flags("Features\t: fp asimd bf16 i8mm\n") == ["bf16"]
    assert pr.cpu_bf16_flags("flags\t: fpu sse2 avx2\n") == []


def test_bf16_is_refused_in_one_line_without_fast_hardware(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(pr.SLOW_OVERRIDE, raising=False)
    monkeypatch.setattr(pr, "cpu_bf16_flags", lambda cpuinfo=None: [])
    with pytest.raises(KtiwError, match="slower than fp32"):
        pr.check_precision("bf16", "cpu")
    pr.check_precision("fp32", "cpu")  # fp32 is always fine
    res = CliRunner().invoke(
        app,
        ["train", "subset:L=3,V=5", "--precision", "bf16", "--device", "cpu", "--out", str(tmp_path / "r")],
    )
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1 and "bf16" in res.output
    assert not (tmp_path / "r").exists()
    with pytest.raises(KtiwError, match="precision must be one of"):
        pr.check_precision("fp16", "cpu")


def test_recurrence_under_autocast_is_fp32_within_bf16_rounding(any_cpu: None) -> None:
    """The stacked LSTM kernel under bf16 autocast: bfloat16 products, float32 state and
    gradients; its outputs and gradients within bfloat16 rounding (8 bits) of the fp32 ones."""
    g = torch.Generator().manual_seed(0)
    S, B, L, H = 2, 3, 6, 8
    leaves = [
        torch.randn(S, B, L, 4 * H, generator=g),
        torch.randn(S, 4 * H, H, generator=g) * 0.3,
        torch.randn(S, B, H, generator=g),
        torch.randn(S, B, H, generator=g),
    ]

    def run(precision: str) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        xs = [t.clone().requires_grad_(True) for t in leaves]
        with pr.autocast(precision, "cpu"):
            out, cs = bt.LSTMRecurrence.apply(*xs)
        ((out.float() ** 2).sum() + 0.5 * (cs**2).sum()).backward()
        return out, cs, [x.grad for x in xs]

    out32, cs32, g32 = run("fp32")
    out16, cs16, g16 = run("bf16")
    assert out32.dtype == torch.float32 and out16.dtype == torch.bfloat16 and cs16.dtype == torch.float32
    assert all(gr.dtype == torch.float32 for gr in g16)
    assert (out16.float() - out32).abs().max() < 2**-7 * 2  # h in (-1, 1): a few bf16 ulps
    assert (cs16 - cs32).abs().max() < 0.05 * cs32.abs().max()
    for a, b in zip(g32, g16, strict=True):
        assert (a - b).abs().max() < 0.05 * a.abs().max()


def _small(spec: str, precision: str, seeds: int, steps: int) -> TrainConfig:
    return TrainConfig(
        spec=spec,
        model="lstm",
        seeds=list(range(seeds)),
        steps=steps,
        batch_size=32,
        lr=3e-3,
        eval_every=10,
        eval_samples=32,
        proxy_steps=0,
        probe_every=0,
        threads=1,
        device="cpu",
        model_config={"hidden": 32},
        precision=precision,
    )


def test_bf16_is_deterministic_and_recorded(any_cpu: None, tmp_path: Path) -> None:
    cfg = _small("subset:L=4,V=6", "bf16", 2, 12)
    a = train(cfg, tmp_path / "a", progress=False)
    b = train(cfg, tmp_path / "b", progress=False)
    assert (a / "curves.csv").read_text() == (b / "curves.csv").read_text()
    recorded = json.loads((a / "config.json").read_text())
    assert recorded["precision"] == "bf16"
    fp32 = json.loads(
        (
            train(_small("subset:L=4,V=6", "fp32", 2, 12), tmp_path / "c", progress=False) / "config.json"
        ).read_text()
    )
    assert fp32["precision"] == "fp32"
    assert (tmp_path / "c" / "curves.csv").read_text() != (a / "curves.csv").read_text()
    # --reuse never mixes precisions; a run stored before the field existed was fp32
    want = {**fp32, "precision": "bf16"}
    assert same_config(fp32, fp32) and same_config(recorded, recorded)
    assert not same_config(want, fp32) and not same_config(fp32, recorded)
    old = {k: v for k, v in fp32.items() if k != "precision"}
    assert same_config(fp32, old) and not same_config(recorded, old)


def test_bf16_does_not_change_the_science(any_cpu: None, tmp_path: Path) -> None:
    """The same seeds trained in fp32 and bf16 on a drift and a saddle distribution: success
    counts not different by Fisher's exact test (two-sided, 5%), and takeoff steps (gold
    attention mass 1/2) equal within one evaluation interval for at least 90% of the seeds.
    The saddle run has a mixed outcome (some seeds fail), so the counts can tell."""
    runs: dict[str, dict[str, Path]] = {"fp32": {}, "bf16": {}}
    for spec in ("subset:L=6,V=9", "permutation:L=6"):
        for precision in runs:
            name = spec.replace(":", "_")
            runs[precision][name] = train(
                _small(spec, precision, 10, 100), tmp_path / precision / name, progress=False
            )
    result = compare(runs["fp32"], runs["bf16"])
    detail = json.dumps(result.to_dict()["runs"])
    assert len(result.runs) == 2 and all(r.takeoff_compared == 10 for r in result.runs)
    assert all(r.fisher_p >= P_VALUE for r in result.runs), detail
    assert result.takeoff_share >= TAKEOFF_AGREEMENT, detail
    assert result.same


@pytest.mark.parametrize(
    ("model", "spec", "options"),
    [
        ("lstm", "subset:L=4,V=6", {"hidden": 8, "layers": 2, "bidirectional": True}),
        ("toy", "subset:L=4,V=6", {}),
        ("multihead", "permutation:L=4", {"hidden": 8, "heads": 2}),
        ("classifier", "keyword:L=6,V=12,K=2", {"hidden": 8}),
        ("transformer", "subset:L=4,V=6", {"d_model": 16, "n_head": 2}),
    ],
)
def test_every_model_trains_in_bf16(
    any_cpu: None, tmp_path: Path, model: str, spec: str, options: dict
) -> None:
    """One mechanism for every model: the bf16 run's losses are finite, its parameters stay
    float32, and its first training step's loss is the fp32 one within bfloat16 rounding."""
    curves = {}
    for precision in ("fp32", "bf16"):
        cfg = TrainConfig(
            spec=spec, model=model, seeds=[0, 1], steps=2, batch_size=8, eval_every=1, eval_samples=8,
            proxy_steps=0, probe_every=0, threads=1, device="cpu", model_config=options, precision=precision,
        )  # fmt: skip
        run = train(cfg, tmp_path / precision, progress=False)
        curves[precision] = (run / "curves.csv").read_text().splitlines()[1:]
        params = torch.load(run / "checkpoint.pt", weights_only=True)["params"]
        assert all(p.dtype == torch.float32 for p in params.values())
    loss = {p: [float(line.split(",")[2]) for line in rows] for p, rows in curves.items()}
    assert all(torch.isfinite(torch.tensor(v)).all() for v in loss.values())
    assert loss["fp32"][:2] == loss["bf16"][:2]  # step 0: both evaluate the same float32 model
    assert loss["fp32"] != loss["bf16"]  # then bf16 training took different (rounded) steps
    for a, b in zip(loss["fp32"], loss["bf16"], strict=True):
        assert abs(a - b) < 0.05 * abs(a) + 1e-3

