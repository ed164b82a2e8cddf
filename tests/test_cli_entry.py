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
