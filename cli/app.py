"""The `ktiw` command line: a thin typer app; every command lives in its own module
and holds no science (it calls ``ktiw.theory`` / ``ktiw.empirics``).

Commands import their heavy dependencies (torch) inside the function body so that
``ktiw predict`` never loads torch.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

import typer

from ktiw.core import console, env
from ktiw.core.errors import KtiwError

from . import data as data_cmd
from . import families as families_cmd
from . import plot as plot_cmd
from . import predict as predict_cmd
from . import presets as presets_cmd
from . import sweep as sweep_cmd
from . import train as train_cmd
from . import verify as verify_cmd
from .errors import (
    EXIT_BAD_INPUT,
    debug,
    fail_usage,
    is_usage_error,
    report_unexpected,
    say,
    set_debug,
    user_errors,
)


def _flags_show_no_type() -> None:
    """Show a flag as ``--json``, not ``--json <bool>``: typer 0.29 with click 8.5 prints a type
    after every flag in ``--help`` (and in the docs' CLI reference), as if it took a value, and
    ``--json true`` then reads ``true`` as a SPEC.  Options that take a value keep their type."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich
    if getattr(shown, "ktiw_flags", False):
        return

    def display_type_rich(self: TyperOption, ctx: object) -> str | None:
        return None if self.is_flag else shown(self, ctx)  # type: ignore[arg-type]

    display_type_rich.ktiw_flags = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_show_no_type()

app = typer.Typer(
    name="ktiw",
    help="Predict and verify whether a training distribution lets single-head attention learn.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"ktiw {version('ktiw')}")
        except PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
            typer.echo("ktiw (version unknown: not installed)")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", help="print the version and exit", callback=_version, is_eager=True
    ),
    debug: bool = typer.Option(False, "--debug", help="show the traceback of unexpected errors"),
) -> None:
    """ktiw: KTIW (knowledge to translate individual words) drives attention learning."""
    set_debug(debug)


app.command("families")(user_errors(families_cmd.families))
app.command("predict")(user_errors(predict_cmd.predict))
app.command("train")(user_errors(train_cmd.train))
app.command("verify")(user_errors(verify_cmd.verify))
app.command("plot")(user_errors(plot_cmd.plot))
app.command("sweep")(user_errors(sweep_cmd.sweep))
app.command("presets")(user_errors(presets_cmd.presets))
data_cmd.data_app.command("list")(user_errors(data_cmd.list_datasets))
data_cmd.data_app.command("fetch")(user_errors(data_cmd.fetch))
app.add_typer(data_cmd.data_app, name="data")


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM (clusters, Ray, ``kill``) is handled like Ctrl-C."""
    raise KeyboardInterrupt


def main() -> None:
    """Console-script entry point: the outer error boundary (see :mod:`ktiw.cli.errors`).

    Usage errors that the option parser detects itself (unknown option, ``--eps abc``) are
    printed as one line and exit 2, like every other bad input; SIGTERM is handled like
    Ctrl-C; whatever else escapes the commands becomes one line and a log file.  The standard
    streams are guarded (:mod:`ktiw.core.console`): a stdout that could not be written
    turns a success into exit 2, an unwritable stderr changes nothing.  Every environment
    variable is read first (:mod:`ktiw.core.env`): a bad value is one line and exit 2.
    """
    signal.signal(signal.SIGTERM, _terminate)
    if hasattr(signal, "SIGXFSZ"):  # over `ulimit -f` a write fails with EFBIG (one line), not a kill
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    # before torch (and its OpenMP runtime) is loaded: threads waiting at a barrier sleep
    # instead of spinning, so a run whose thread lost its core to another job does not stall
    # (benchmarks/README.md, "Threads on a shared CPU"); a user's own setting is kept
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    previous = console.guard_streams()
    try:
        code = _run()
        lost = console.stdout_lost()
        if lost is not None and code == 0:
            say(f"could not write the output to stdout ({lost}); nothing else went wrong")
            code = EXIT_BAD_INPUT
    finally:
        console.restore_streams(previous)
    caller = sys._getframe(1)
    top_level = caller.f_code.co_name == "<module>" and caller.f_globals.get("__name__") == "__main__"
    if "pyarrow" in sys.modules and top_level:
        # Arrow's C++ thread pools may still hold a joinable thread when the interpreter tears
        # down, and then abort the process after its answer was printed ("terminate called
        # without an active exception", apache/arrow#34314).  When the program's top level
        # called main() (the console script, ``python -c``), nothing runs after it: end the
        # process here, the streams flushed.  Called from other code (a test), just return.
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)
    raise SystemExit(code)


def _run() -> int:
    """The command's exit code (see :func:`main`)."""
    try:
        unknown = env.check()
        env.normalise_columns()
        env.settle_tempdir()
    except KtiwError as exc:
        say(str(exc))
        return EXIT_BAD_INPUT
    if unknown:
        console.note(
            f"ignoring {', '.join(unknown)}: not a ktiw variable (those are {', '.join(env.VARIABLES)})"
        )
    try:
        code = app(standalone_mode=False)
    except (typer.Abort, KeyboardInterrupt):
        say("interrupted")
        return EXIT_BAD_INPUT
    except Exception as exc:
        if is_usage_error(exc):
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare `ktiw`: the help was the answer
                return 0
            return fail_usage(exc)
        if "--debug" in sys.argv[1:] or debug():
            raise
        return report_unexpected(exc)
    return code if isinstance(code, int) else 0
