"""pyarrow, the optional dependency of the data readers (extra ``[data]``): required for
CSV/JSON Lines/Parquet (a one-line error naming the extra when missing), optional for
headerless TSV (vectorised line cutting when installed)."""

from __future__ import annotations

from typing import Any

from ktiw.core.errors import KtiwError


def require_pyarrow(what: str) -> Any:
    """Import pyarrow or raise the one-line error naming the extra."""
    try:
        import pyarrow
    except ImportError:
        raise KtiwError(f'reading {what} needs pyarrow: pip install -e ".[data]"') from None
    return pyarrow


def optional_pyarrow() -> Any | None:
    """pyarrow if it is installed, else ``None`` (for readers that work without it, only slower)."""
    try:
        import pyarrow
        import pyarrow.compute
    except ImportError:
        return None
    return pyarrow
