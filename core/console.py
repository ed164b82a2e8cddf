"""The standard streams of the command line, made safe for the work they report on.

A training that ran for hours must not end in an internal error because its last line could
not be printed, and a prediction that was never written must not exit 0.  So, for the CLI
(:func:`ktiw.cli.app.main` calls :func:`guard_streams` first and :func:`stdout_lost` last):

* **closed descriptors**: a standard descriptor that is closed at start (``ktiw ... >&-``) is
  opened on ``/dev/null``, so that no file ktiw opens later gets number 0, 1 or 2 (a
  checkpoint would otherwise receive the table meant for stdout);
* **writes never raise**: ``sys.stdout`` and ``sys.stderr`` become :class:`GuardedStream`
  objects; the first failed write (closed, broken pipe, disk full) is remembered in
  ``lost``, its descriptor is pointed at ``/dev/null`` (so the interpreter's last flush is
  quiet) and later writes are dropped.  The work goes on;
* **exit codes**: a lost **stdout** means the command's main output is gone, so a command
  that otherwise succeeded exits 2 with one line on stderr (:func:`stdout_lost`).  SIGPIPE
  is ignored, as Python does by default: ``ktiw predict | head -0`` exits 2 rather than
  dying silently.  A lost **stderr** only loses messages: the exit code stays the one the
  command earned;
* **encodings**: a character the stream's encoding cannot hold (``LANG=C``,
  ``PYTHONIOENCODING=ascii``) is written as a backslash escape (``\\xe9``), never an error.

:func:`note` prints the one-line notices (``note: ...``) of the layers below the CLI, e.g.
a damaged cache entry that was rebuilt.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import sys
from typing import Any, TextIO


class GuardedStream(io.TextIOBase):
    """A text stream over ``stream`` whose writes never raise (see the module docstring)."""

    def __init__(self, stream: TextIO | None, name: str) -> None:
        super().__init__()
        self.stream = stream
        self.stream_name = name
        self.lost: OSError | None = None
        if stream is None:
            self.lost = OSError(errno.EBADF, "it is closed")
        else:
            with contextlib.suppress(AttributeError, ValueError, OSError, io.UnsupportedOperation):
                stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]

    def write(self, text: str) -> int:
        if self.lost is None:
            try:
                self.stream.write(text)  # type: ignore[union-attr]
            except UnicodeEncodeError:
                self._write_escaped(text)
            except (OSError, ValueError) as exc:  # ValueError: the stream was closed
                self._lose(exc)
        return len(text)

    def _write_escaped(self, text: str) -> None:
        enc = self.encoding
        try:
            self.stream.write(text.encode(enc, "backslashreplace").decode(enc))  # type: ignore[union-attr]
        except (OSError, ValueError) as exc:
            self._lose(exc)

    def flush(self) -> None:
        if self.lost is None:
            try:
                self.stream.flush()  # type: ignore[union-attr]
            except (OSError, ValueError) as exc:
                self._lose(exc)

    def _lose(self, exc: Exception) -> None:
        self.lost = exc if isinstance(exc, OSError) else OSError(errno.EBADF, "it is closed")
        try:  # the buffered rest then goes to /dev/null: no second error at interpreter exit
            fd = self.stream.fileno()  # type: ignore[union-attr]
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, fd)
            os.close(null)
        except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
            pass

    def why(self) -> str:
        """The failure in words (``Broken pipe``, ``No space left on device``, ``it is closed``)."""
        if self.lost is None:
            return ""
        return self.lost.strerror or str(self.lost) or type(self.lost).__name__

    # the rest of the TextIO interface, as the wrapped stream has it
    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str:  # type: ignore[override]
        return "backslashreplace"

    def fileno(self) -> int:
        if self.stream is None:
            raise io.UnsupportedOperation("fileno")
        return self.stream.fileno()

    def isatty(self) -> bool:
        try:
            return self.lost is None and self.stream is not None and self.stream.isatty()
        except (OSError, ValueError):
            return False

    def writable(self) -> bool:
        return True

    def __getattr__(self, name: str) -> Any:  # line_buffering, mode, ... of the wrapped stream
        if name == "buffer":  # writes to the bytes underneath would bypass the guard
            raise AttributeError(name)
        return getattr(self.stream, name)


def open_std_descriptors() -> None:
    """Open ``/dev/null`` on each of the descriptors 0, 1 and 2 that is closed."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


def guard_streams() -> tuple[TextIO | None, TextIO | None]:
    """Make the standard streams safe (module docstring); return the previous ``sys.stdout``
    and ``sys.stderr`` for :func:`restore_streams`."""
    previous = sys.stdout, sys.stderr
    open_std_descriptors()
    if not isinstance(sys.stdout, GuardedStream):
        sys.stdout = GuardedStream(sys.stdout, "stdout")
    if not isinstance(sys.stderr, GuardedStream):
        sys.stderr = GuardedStream(sys.stderr, "stderr")
    return previous


def restore_streams(previous: tuple[TextIO | None, TextIO | None]) -> None:
    sys.stdout, sys.stderr = previous  # type: ignore[assignment]


def stdout_lost() -> str | None:
    """After flushing stdout: why its output was lost (``None`` when it was all written)."""
    out = sys.stdout
    if isinstance(out, GuardedStream):
        out.flush()
        return out.why() or None
    return None


_NOTED: set[str] = set()


def note(message: str) -> None:
    """One line ``note: message`` on stderr, once per process however often it is noted; best
    effort, it never fails the work."""
    line = f"note: {' '.join(str(message).split())}"
    if line in _NOTED:
        return
    _NOTED.add(line)
    with contextlib.suppress(OSError, ValueError):
        print(line, file=sys.stderr, flush=True)
