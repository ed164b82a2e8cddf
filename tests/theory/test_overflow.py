"""Issue 21, class 2: numbers that overflow.  What a float32 model and the simulation can hold
is checked in one place (ktiw.core.limits: MAX_LR, MAX_INIT_SCALE, MAX_STEPS, MAX_SAMPLES),
and a NaN or inf inside the simulation or the reduced map is an error, never "no takeoff"."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

from ktiw.core.errors import KtiwError, NumericOverflowError
from ktiw.core.limits import MAX_INIT_SCALE, MAX_LR
from ktiw.core.training import Training, parse_init
from ktiw.data.families import from_spec
from ktiw.theory.adam_reduction import reduced_run
from ktiw.theory.simulate import simulate

ENTRY = [sys.executable, "-c", "import sys; from ktiw.cli.app import main; sys.argv[0] = 'ktiw'; main()"]


def ktiw(*args: str) -> tuple[int, list[str]]:
    p = subprocess.run([*ENTRY, *args], capture_output=True, text=True, timeout=120,
                       env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "COLUMNS": "100"})  # fmt: skip
    return p.returncode, [ln for ln in p.stderr.splitlines() if ln.strip()]


@pytest.mark.parametrize(
    "training",
    [Training(lr=MAX_LR * 10), Training(lr=1e308), Training(steps=10**10), Training(batch_size=10**9)],
)
def test_training_outside_the_representable_range_is_refused(training: Training) -> None:
    with pytest.raises(KtiwError):
        training.validate()


def test_init_scales_are_bounded() -> None:
    assert parse_init(f"eps:{MAX_INIT_SCALE:g}").value == MAX_INIT_SCALE
    for text in ("eps:1e200", "normal:1e7", "normal:inf", "eps:nan"):
        with pytest.raises(KtiwError):
            parse_init(text)


def test_reduced_map_overflow_is_an_error_not_no_takeoff() -> None:
    """Adam at lr 1e5 moves B by 1e5 in one step; the next gradient's exp overflows float64."""
    training = Training(lr=1e5, steps=50, init=parse_init("zero"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy overflow warning may escape
        with pytest.raises(NumericOverflowError, match="overflowed at step 2"):
            reduced_run(6, 9, training)


def test_simulation_overflow_is_an_error_not_no_takeoff() -> None:
    """Before the check, an unvalidated lr of 1e300 gave a NaN simulation read as "never takes
    off" (P = 0); now it is an error (and validation refuses the lr before it gets here)."""
    dist = from_spec("iid:L=4,V=6")
    training = Training(optimizer="sgd", lr=1e300, steps=20, batch_size=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(NumericOverflowError, match="overflowed"):
            simulate(dist, training, n_seeds=4)


@pytest.mark.parametrize(
    ("args", "word"),
    [
        (["predict", "--model", "toy", "subset:L=6,V=9", "--lr", "1e30"], "--lr"),
        (["predict", "--model", "toy", "subset:L=6,V=9", "--lr", "1e5"], "overflowed"),
        (["predict", "--model", "toy", "subset:L=6,V=9", "--init", "normal:1e300"], "--init"),
        (["predict", "--model", "toy", "permutation:L=6", "--eps", "1e300"], "--eps"),
        (["train", "subset:L=3,V=4", "--model", "toy", "--lr", "1e308", "--quiet", "--out", "never"], "lr"),
        (["train", "subset:L=3,V=4", "--model", "toy", "--toy-init", "eps", "--toy-eps", "1e300", "--quiet",
          "--out", "never"], "eps"),
    ],
)  # fmt: skip
def test_cli_overflow_is_one_line_exit_2(args: list[str], word: str, tmp_path) -> None:
    code, lines = ktiw(*[a.replace("never", str(tmp_path / "never")) for a in args])
    assert code == 2 and len(lines) == 1, lines
    assert word in lines[0] and "Warning" not in lines[0]
