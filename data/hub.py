"""``hf:NAME[:CONFIG][:SPLIT]``: a Hugging Face dataset through ``datasets`` (extra ``[hf]``).

Never hangs offline: before ``datasets`` is asked for anything, the Hub's host is probed with
a short TCP connect (:data:`PROBE_TIMEOUT_S`).  When it cannot be reached, the dataset is
looked up in the local ``datasets`` cache only (``HF_DATASETS_OFFLINE=1``,
``HF_HUB_OFFLINE=1``), and a dataset that is not there is one line: it could not be reached.
"""

from __future__ import annotations

import os
import socket
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
    try:
        import datasets
    except ImportError:
        raise KtiwError('hf: datasets need the optional extra: pip install -e ".[hf]"') from None
    why = hub_reachable()
    if why is not None:
        os.environ["HF_DATASETS_OFFLINE"] = "1"
        os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", "10")
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", "30")
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
    row = 1
    for batch in ds.iter(batch_size=BATCH_ROWS):
        values = [list(batch[c]) for c in columns]
        n = len(values[0])
        yield range(row, row + n), values
        row += n
