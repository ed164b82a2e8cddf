"""Issue 21, class 10: a write that fails inside ``torch.save`` (or any other result write),
from a full disk or the file-size limit, is one line naming the file and the cause, exit 2;
the previous checkpoint stays intact, the summary does not claim a finished run, and
``--resume`` completes the run afterwards."""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ktiw.core.errors import KtiwError
from ktiw.empirics import runfiles
from ktiw.empirics import trainer as tr
from ktiw.empirics.resume import resume

ENTRY = [sys.executable, "-c", "import sys; from ktiw.cli.app import main; sys.argv[0] = 'ktiw'; main()"]
LSTM = ["train", "subset:L=3,V=4", "--model", "lstm", "--hidden", "64", "--steps", "6", "--seeds", "2",
        "--eval-samples", "4", "--batch-size", "4", "--proxy-steps", "0", "--checkpoint-every", "2",
        "--eval-every", "2", "--quiet", "--threads", "1"]  # fmt: skip
CFG = dict(spec="subset:L=3,V=4", model="toy", steps=8, seeds=[0, 1], batch_size=4, eval_samples=4,
           eval_every=2, checkpoint_every=2, proxy_steps=0)  # fmt: skip


def limited(nbytes: int):
    def preexec() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))

    return preexec


def test_checkpoint_over_the_file_size_limit_is_one_line(tmp_path: Path) -> None:
    """The LSTM's checkpoint (about 2 MB) is over a 150 kB ``ulimit -f``; curves and probes are
    not.  Without SIGXFSZ ignored the process would be killed; without the write guard torch
    raises ``RuntimeError: ... unexpected pos``."""
    out = tmp_path / "run"
    p = subprocess.run([*ENTRY, *LSTM, "--out", str(out)], preexec_fn=limited(150_000),
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2 and len(lines) == 1, p.stderr
    assert "checkpoint.pt" in lines[0] and "file-size limit" in lines[0] and "Traceback" not in p.stderr
    assert not (out / "checkpoint.pt.tmp").exists()
    assert json.loads((out / "summary.json").read_text())["finished"] is False


def test_a_failed_checkpoint_keeps_the_previous_one_and_resume_completes(tmp_path: Path, monkeypatch) -> None:
    reference = tr.train(dict(CFG), tmp_path / "ref", progress=False)
    run = tmp_path / "run"
    real_save, calls = torch.save, []

    def failing_save(obj, f, *a, **k):  # the third checkpoint (step 4) hits a full disk
        calls.append(obj["step"])
        if obj["step"] == 4:
            f.write(b"partial")
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(tr.torch, "save", failing_save)
    with pytest.raises(KtiwError, match=r"cannot write .*checkpoint\.pt: .*written before it are kept"):
        tr.train(dict(CFG), run, progress=False)
    monkeypatch.setattr(tr.torch, "save", real_save)
    assert not (run / "checkpoint.pt.tmp").exists()
    state = torch.load(run / runfiles.CHECKPOINT, weights_only=True)
    assert int(state["step"]) == 2  # the last good one, intact
    assert json.loads((run / "summary.json").read_text())["finished"] is False
    resume(run, progress=False)
    assert (run / "curves.csv").read_bytes() == (reference / "curves.csv").read_bytes()


def test_probe_write_over_the_limit_is_one_line_and_curves_stay_whole(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["train", "subset:L=3,V=4", "--model", "toy", "--steps", "4", "--seeds", "2", "--eval-samples",
            "4", "--batch-size", "4", "--proxy-steps", "0", "--quiet", "--out", str(out)]  # fmt: skip
    p = subprocess.run([*ENTRY, *args], preexec_fn=limited(2000), capture_output=True, text=True, timeout=120)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2 and len(lines) == 1 and "step_000000.npz" in lines[0], p.stderr
    assert not list((out / "probes").glob("*.tmp.npz"))
    runfiles.read_curves(out / "curves.csv")  # whole lines only
    shutil.rmtree(out)


def test_write_cause_names_the_reason() -> None:
    import errno

    full = OSError(errno.ENOSPC, "No space left on device")
    assert "No space left" in runfiles.write_cause(Path("x"), full)
    assert "ulimit -f" in runfiles.write_cause(Path("x"), OSError(errno.EFBIG, "File too large"))


@pytest.mark.parametrize("limit", [0, 1000])
def test_plot_over_the_file_size_limit_is_one_line_naming_the_figure(tmp_path: Path, limit: int) -> None:
    """Figures go through the same write guard as every other result: no ``OSError: File too
    large`` from PIL, no partial image; at ``ulimit -f 0`` start-up itself works (below)."""
    run = tr.train(tr.TrainConfig(**CFG), tmp_path / "run", progress=False)
    figs = tmp_path / "figs"
    p = subprocess.run([*ENTRY, "plot", str(run), "--out", str(figs)], preexec_fn=limited(limit),
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2 and len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    assert "accuracy.png" in lines[0] and "file-size limit" in lines[0]
    assert not list(figs.glob("*.png")) and not list(figs.glob(".*.tmp"))


def test_a_temporary_directory_is_found_at_ulimit_f_0(tmp_path: Path) -> None:
    """``tempfile.gettempdir`` writes a test file in each candidate, so at ``ulimit -f 0`` it
    raises for whichever library asks first (torch's import of dill did: a traceback before
    any ktiw code ran); :func:`ktiw.core.env.settle_tempdir` chooses a writable one unwritten."""
    code = ("import tempfile; from ktiw.core import env; env.settle_tempdir(); "
            "print(tempfile.gettempdir())")  # fmt: skip
    p = subprocess.run([sys.executable, "-c", code], preexec_fn=limited(0), capture_output=True, text=True,
                       timeout=60, env={"TMPDIR": str(tmp_path), "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert p.returncode == 0 and p.stdout.strip() == str(tmp_path), p.stderr
    bare = subprocess.run([sys.executable, "-c", "import tempfile; tempfile.gettempdir()"],
                          preexec_fn=limited(0), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert bare.returncode == 1 and "No usable temporary directory" in bare.stderr  # what it fixes
