"""What a user-given path is, in words, for one-line errors: a FIFO given as a data file is
"not a regular file (a named pipe)", not "does not exist"."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def kind(path: str | Path) -> str:
    """``missing``, ``file``, ``directory``, ``named pipe``, ``socket``, ``device`` or
    ``unreadable`` (a path whose status cannot be read, e.g. a name too long), following links."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "missing"
    except (OSError, ValueError):
        return "unreadable"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISFIFO(mode):
        return "named pipe"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "device"


def not_a_file(path: str | Path) -> str | None:
    """Why ``path`` is not a regular file (``does not exist``, ``is a directory``, ``is not a
    regular file (a named pipe)``, ...), or ``None`` when it is one."""
    what = kind(path)
    return {
        "file": None,
        "missing": "does not exist",
        "directory": "is a directory",
        "unreadable": "cannot be read",
    }.get(what, f"is not a regular file (a {what})")


def not_a_directory(path: str | Path) -> str | None:
    """Why ``path`` is not a directory, or ``None`` when it is one."""
    what = kind(path)
    return {
        "directory": None,
        "missing": "does not exist",
        "file": "is a file, not a directory",
        "unreadable": "cannot be read",
    }.get(what, f"is not a directory (a {what})")
