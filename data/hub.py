"""``hf:NAME[:CONFIG][:SPLIT]``: a Hugging Face dataset through ``datasets`` (extra ``[hf]``).

Never hangs offline: before ``datasets`` is asked for anything, the Hub's host is probed with
a short TCP connect (:data:`PROBE_TIMEOUT_S`).  When it cannot be reached, the dataset is
looked up in the local ``datasets`` cache only (``HF_DATASETS_OFFLINE=1``,
``HF_HUB_OFFLINE=1``, set before ``datasets`` is imported, which reads them once), and a
dataset that is not there is one line: it could not be reached.  The libraries' own loggers,
progress bars and warnings are silenced, so that line is all the user sees (no retry logs).

Columns must hold text, as in every data file (:func:`ktiw.data.tabular.is_text_type`): a
``Value`` of strings, numbers or booleans, or a ``ClassLabel``; a list, dict (``translation``),
image or audio column is refused in one line naming it and its type.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import socket
import sys
import warnings
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlparse

from ktiw.core.errors import KtiwError

PROBE_TIMEOUT_S = 3.0
BATCH_ROWS = 10_000


def parse_hf(location: str) -> tuple[str, str | None, str]:
    """``hf:NAME[:CONFIG][:SPLIT]`` -> ``(name, config or None, split (default train))``."""
    parts = location.removeprefix("hf:").split(":")
    if not parts[0] or len(parts) > 3:
        raise KtiwError(f"expected hf:NAME[:CONFIG][:SPLIT], got {location!r}")
    name = parts[0]
    config = parts[1] or None if len(parts) > 1 else None
    split = parts[2] if len(parts) > 2 and parts[2] else "train"
    return name, config, split


def check_feature(location: str, column: str, feature: Any) -> None:
    """Refuse (one line) a column whose ``datasets`` feature does not hold text."""
    import datasets

    from .tabular import is_text_type, not_text

    if isinstance(feature, datasets.ClassLabel):
        return
    if isinstance(feature, datasets.Value) and is_text_type(feature.pa_type):
        return
    shown = repr(feature)
    raise not_text(location, column, shown if len(shown) <= 80 else shown[:77] + "...")


@contextlib.contextmanager
def _silenced() -> Iterator[None]:
    """The loggers, progress bars and warnings of ``datasets`` and ``huggingface_hub`` off."""
    names = ("datasets", "huggingface_hub", "fsspec", "urllib3", "filelock", "httpx")
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _set_offline() -> None:
    for module, attr in (
        ("huggingface_hub.constants", "HF_HUB_OFFLINE"),
        ("datasets.config", "HF_HUB_OFFLINE"),
        ("datasets.config", "HF_DATASETS_OFFLINE"),
    ):
        mod = sys.modules.get(module)
        if mod is not None and hasattr(mod, attr):
            setattr(mod, attr, True)


def hub_reachable(timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """``None`` when the Hub's host accepts a TCP connection within ``timeout``, else why not."""
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1":
        return "offline mode is set (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE)"
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"{host}:{port} unreachable ({exc.strerror or type(exc).__name__})"


def iter_hf_columns(location: str, columns: list[str]) -> Iterator[tuple[Sequence[int], list[list[Any]]]]:
    """Yield ``(row numbers, [values of each column])`` batches of a Hub dataset split."""
    name, config, split = parse_hf(location)
    if importlib.util.find_spec("datasets") is None:
        raise KtiwError('hf: datasets need the optional extra: pip install -e ".[hf]"')
    why = hub_reachable()
    quiet = {
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HUB_ETAG_TIMEOUT": "10",
        "HF_HUB_DOWNLOAD_TIMEOUT": "30",
    }
    for key, value in quiet.items():
        os.environ.setdefault(key, value)
    if why is not None:  # before the import: both libraries read these once, at import
        os.environ["HF_DATASETS_OFFLINE"] = "1"
        os.environ["HF_HUB_OFFLINE"] = "1"
    with _silenced():
        import datasets

        if why is not None:  # imported earlier in this process: tell the modules themselves
            _set_offline()
        try:
            ds = datasets.load_dataset(name, config, split=split)
        except Exception as exc:  # datasets raises many unrelated types for "not available"
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            reason = f"not in the local cache and the Hub is not reachable: {why}" if why else first
            raise KtiwError(f"could not load dataset {location}: {reason}") from None
    missing = [c for c in columns if c not in ds.column_names]
    if missing:
        raise KtiwError(
            f"{location} has no column {', '.join(map(repr, missing))}; "
            f"columns there: {', '.join(ds.column_names)}"
        )
    for c in columns:
        check_feature(location, c, ds.features[c])
    row = 1
    for batch in ds.iter(batch_size=BATCH_ROWS):
        values = [list(batch[c]) for c in columns]
        n = len(values[0])
        yield range(row, row + n), values
        row += n
