"""The environment and the output streams (issue 21, classes 8 and 9).

* every ``KTIW_*`` variable is read in one place (:mod:`ktiw.core.env`) with the rules of
  options: ``KTIW_DEBUG=0`` is off, a bad value is one line naming the variable;
* ``COLUMNS=0`` never swallows a message or a table;
* without a UTF-8 locale, non-ASCII names print as escapes instead of failing a finished run;
* a stdout that cannot be written (closed, full, broken pipe) turns a success into exit 2 with
  one line; an unwritable stderr never changes the exit code.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ktiw.core import console, env
from ktiw.core.errors import KtiwError

ENTRY = [sys.executable, "-c", "import sys; from ktiw.cli.app import main; sys.argv[0] = 'ktiw'; main()"]
TINY = ["--model", "toy", "--steps", "2", "--seeds", "1", "--eval-samples", "2", "--batch-size", "2",
        "--proxy-steps", "0", "--quiet"]  # fmt: skip


def ktiw(
    tmp: Path, *args: str, shell: str | None = None, **variables: str | None
) -> subprocess.CompletedProcess:
    """Run the console entry point in ``tmp`` (``shell``: a redirection such as ``>&-``)."""
    e = dict(os.environ, KTIW_CACHE_DIR=str(tmp / "cache"), OMP_NUM_THREADS="1")
    for k, v in variables.items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    cmd = [*ENTRY, *args]
    if shell is not None:
        cmd = ["sh", "-c", f'"$@" {shell}', "sh", *cmd]
    return subprocess.run(cmd, cwd=tmp, env=e, capture_output=True, text=True, errors="replace", timeout=300)


# ------------------------------------------------------------------ parsing, in-process


@pytest.mark.parametrize(
    ("value", "on"),
    [("", False), ("0", False), ("false", False), (" FALSE ", False), ("no", False), ("off", False),
     ("1", True), ("true", True), ("Yes", True), ("on", True)],
)  # fmt: skip
def test_debug_flag_reads_off_values_as_off(monkeypatch: pytest.MonkeyPatch, value: str, on: bool) -> None:
    monkeypatch.setenv("KTIW_DEBUG", value)
    assert env.flag("KTIW_DEBUG") is on


@pytest.mark.parametrize("value", ["maybe", "2", "-1", "0x1", "é"])
def test_debug_flag_refuses_nonsense_naming_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("KTIW_DEBUG", value)
    with pytest.raises(KtiwError, match=r"^KTIW_DEBUG must be one of"):
        env.flag("KTIW_DEBUG")


@pytest.mark.parametrize(
    ("value", "size"),
    [("8G", 8 << 30), ("8GiB", 8 << 30), ("8gb", 8 << 30), ("512M", 512 << 20), ("1e12", 10**12),
     ("100000000", 10**8), (" 4G ", 4 << 30), ("0.5K", 512), ("1", 1)],
)  # fmt: skip
def test_sizes(monkeypatch: pytest.MonkeyPatch, value: str, size: int) -> None:
    monkeypatch.setenv("KTIW_MAX_MEMORY", value)
    assert env.size("KTIW_MAX_MEMORY") == size


@pytest.mark.parametrize(
    "value",
    ["inf", "-inf", "nan", "1e400", "-1", "0", "abc", "8X", "9" * 400, "0.1", "8 G", "1_000", "½G", "٣G"],
)
@pytest.mark.parametrize("name", ["KTIW_MAX_MEMORY", "KTIW_MAX_DATA_BYTES"])
def test_bad_sizes_are_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    """Before: KTIW_MAX_MEMORY=inf ended in OverflowError, =1e400 likewise, =٣G was 3 GiB."""
    monkeypatch.setenv(name, value)
    with pytest.raises(KtiwError, match=f"^{name} must be") as info:
        env.size(name)
    assert len(str(info.value)) < 200


def test_memory_limit_and_data_cap_read_the_one_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    from ktiw.core.limits import memory_limit
    from ktiw.data.datafile import max_data_bytes

    monkeypatch.setenv("KTIW_MAX_MEMORY", "3M")
    monkeypatch.setenv("KTIW_MAX_DATA_BYTES", "2K")
    assert (memory_limit(), max_data_bytes()) == (3 << 20, 2048)
    monkeypatch.setenv("KTIW_MAX_MEMORY", "inf")
    with pytest.raises(KtiwError, match="KTIW_MAX_MEMORY"):
        memory_limit()


@pytest.mark.parametrize(
    ("value", "width"),
    [
        (None, None),
        ("0", 80),
        ("-1", 80),
        ("abc", 80),
        ("1", 40),
        ("30", 40),
        ("120", 120),
        ("99999999", 1000),
    ],
)
def test_columns_is_clamped_never_zero(
    monkeypatch: pytest.MonkeyPatch, value: str | None, width: int | None
) -> None:
    if value is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", value)
    assert env.columns() == width


def test_unknown_ktiw_variables_are_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KTIW_MAX_MEMOR", "1G")
    assert "KTIW_MAX_MEMOR" in env.check()


# ------------------------------------------------------------------ the guarded stream, in-process


class Failing(io.StringIO):
    def __init__(self, exc: OSError) -> None:
        super().__init__()
        self.exc = exc

    def write(self, text: str) -> int:
        raise self.exc


def test_guarded_stream_keeps_the_first_failure_and_never_raises() -> None:
    s = console.GuardedStream(Failing(BrokenPipeError(32, "Broken pipe")), "stdout")
    assert s.write("x" * 10) == 10 and s.write("y") == 1
    s.flush()
    assert s.why() == "Broken pipe"
    closed = console.GuardedStream(None, "stdout")
    closed.write("table")
    assert closed.why() == "it is closed"


def test_guarded_stream_escapes_what_the_encoding_cannot_hold() -> None:
    raw = io.TextIOWrapper(io.BytesIO(), encoding="ascii", errors="strict")
    s = console.GuardedStream(raw, "stdout")
    s.write("runé …\n")
    s.flush()
    assert raw.buffer.getvalue() == b"run\\xe9 \\u2026\n" and s.why() == ""


def test_notes_are_one_line_and_printed_once(capsys: pytest.CaptureFixture[str]) -> None:
    console.note("cache entry x\nis damaged; rebuilding it (test_notes_once)")
    console.note("cache entry x\nis damaged; rebuilding it (test_notes_once)")
    assert capsys.readouterr().err == "note: cache entry x is damaged; rebuilding it (test_notes_once)\n"


# ------------------------------------------------------------------ the real entry point


def test_debug_zero_keeps_unexpected_errors_to_one_line(tmp_path: Path) -> None:
    """Before: KTIW_DEBUG=0 turned debug on and printed a traceback."""
    done = ktiw(tmp_path, "train", "subset:L=3,V=4", *TINY, "--out", "/proc/x", KTIW_DEBUG="0")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_bad_environment_is_refused_by_every_command(tmp_path: Path) -> None:
    done = ktiw(tmp_path, "families", KTIW_MAX_MEMORY="inf")
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: KTIW_MAX_MEMORY must be a size") and not done.stdout


def test_columns_zero_swallows_neither_the_error_nor_the_table(tmp_path: Path) -> None:
    """Before: COLUMNS=0 gave exit 2 with an empty stderr, and no table on stdout."""
    bad = ktiw(tmp_path, "predict", "nope:L=3", COLUMNS="0")
    assert bad.returncode == 2 and "unknown distribution family 'nope'" in bad.stderr
    good = ktiw(tmp_path, "families", COLUMNS="0")
    assert good.returncode == 0 and "subset" in good.stdout


def test_finished_training_never_fails_for_want_of_utf8(tmp_path: Path) -> None:
    """Before: PYTHONIOENCODING=ascii (no UTF-8 locale) ended a saved run in exit 1."""
    done = ktiw(tmp_path, "train", "subset:L=3,V=4", *TINY, "--out", "runé…", PYTHONIOENCODING="ascii")
    assert done.returncode == 0, done.stderr
    assert "run\\xe9\\u2026" in done.stdout
    assert json.loads((tmp_path / "runé…" / "summary.json").read_text())["finished"] is True


@pytest.mark.parametrize("redirect", [">&-", ">/dev/full", "| true"])
def test_lost_stdout_is_exit_2_with_one_line(tmp_path: Path, redirect: str) -> None:
    """Before: a closed stdout exited 0 (the table lost), a broken pipe exited 1."""
    if redirect == "| true":  # the reader is gone before ktiw writes: EPIPE
        done = subprocess.run(
            ["sh", "-c", '("$@"; echo $? > rc) | true', "sh", *ENTRY, "families"],
            cwd=tmp_path, capture_output=True, text=True, timeout=300, env=dict(os.environ, COLUMNS="80"),
        )  # fmt: skip
        rc = int((tmp_path / "rc").read_text())
    else:
        done = ktiw(tmp_path, "families", shell=redirect)
        rc = done.returncode
    assert rc == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: could not write the output to stdout")


@pytest.mark.parametrize("redirect", ["2>&-", "2>/dev/full"])
def test_unwritable_stderr_keeps_the_exit_code(tmp_path: Path, redirect: str) -> None:
    """Before: a refusal with stderr on /dev/full exited 1 instead of 2."""
    assert ktiw(tmp_path, "predict", "nope:L=3", shell=redirect).returncode == 2
    ok = ktiw(tmp_path, "families", shell=redirect)
    assert ok.returncode == 0 and "subset" in ok.stdout


def test_long_messages_are_cut_to_one_short_line(tmp_path: Path) -> None:
    """Before: a spec with 12,000 unknown keys gave an 85 KB error line."""
    keys = ",".join(f"k{i}=1" for i in range(12_000))
    done = ktiw(tmp_path, "predict", f"subset:L=3,V=4,{keys}")
    assert done.returncode == 2 and len(done.stderr) < 400
    assert "unknown key(s) k0, k1, k2, k3, k4, ... (12000 in all) for subset" in done.stderr
