"""The console entry point turns the option parser's own usage errors into one line, exit 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

ENTRY = "import sys; from ktiw.cli.app import main; sys.argv[0] = 'ktiw'; main()"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["predict", "--model", "toy", "subset:L=4,V=6", "--eps", "abc"], "Invalid value for '--eps'"),
        (["predict", "--model", "toy", "--bogus"], "No such option: --bogus"),
        (["nope"], "No such command 'nope'"),
        (["predict", "--model", "toy", "blah:L=3"], "unknown distribution family 'blah'"),
    ],
)
def test_usage_errors_are_one_line_exit_2(args: list[str], message: str) -> None:
    res = run(*args)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in res.stderr


def test_bare_command_shows_help_and_succeeds() -> None:
    res = run()
    assert res.returncode == 0 and "Commands" in res.stdout and "predict" in res.stdout


def test_with_pyarrow_loaded_the_program_ends_in_main_and_code_calling_main_gets_it_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With pyarrow loaded, a ``main()`` called by the program's top level ends the process
    itself (its streams flushed, its exit code kept: Arrow's thread pools can abort the
    interpreter's teardown), so nothing after it runs; a ``main()`` called from other code
    (here, a test) raises ``SystemExit`` as usual and the caller goes on."""
    pytest.importorskip("pyarrow")
    code = "import pyarrow; " + ENTRY + "; print('after main')"
    res = subprocess.run(
        [sys.executable, "-c", code, "families"], capture_output=True, text=True, timeout=120, check=False
    )
    assert res.returncode == 0 and "permutation" in res.stdout and "after main" not in res.stdout
    bad = subprocess.run(
        [sys.executable, "-c", code, "nope"], capture_output=True, text=True, timeout=120, check=False
    )
    assert bad.returncode == 2 and "No such command" in bad.stderr
    import pyarrow  # noqa: F401

    from ktiw.cli.app import main

    monkeypatch.setattr(sys, "argv", ["ktiw", "families"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 0
