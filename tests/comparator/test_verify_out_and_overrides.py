"""`ktiw verify` refuses, before anything is trained, an --out folder that holds someone
else's files and a --set value that --seeds/--steps would silently replace; a `translate`
spec with an impossible vocabulary is refused by the size checks instead of drawing V numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

import ktiw.comparator.experiments as experiments
from ktiw.comparator.framework import REPORT_MARKERS, check_report_dir
from ktiw.core.errors import KtiwError
from ktiw.data.families import from_spec


def test_foreign_nonempty_out_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(KtiwError, match="holds other files and no ktiw verify report"):
        check_report_dir(tmp_path)
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_out_file_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(KtiwError, match="is a file"):
        check_report_dir(f)


@pytest.mark.parametrize("marker", REPORT_MARKERS)
def test_earlier_report_and_empty_or_new_folders_are_accepted(tmp_path: Path, marker: str) -> None:
    check_report_dir(tmp_path / "new")
    check_report_dir(tmp_path)  # empty
    (tmp_path / marker).mkdir()
    (tmp_path / "other.txt").write_text("x")
    check_report_dir(tmp_path)


@pytest.mark.parametrize(("flag", "key"), [("seeds", "seeds"), ("steps", "steps")])
def test_set_and_flag_for_the_same_field_conflict(tmp_path: Path, flag: str, key: str) -> None:
    kwargs = {flag: 2}
    with pytest.raises(KtiwError, match=f"--{flag} and --set {key}"):
        experiments.verify("copy", "quick", out_dir=tmp_path / "v", overrides={key: "abc"}, **kwargs)
    assert not (tmp_path / "v").exists()


def test_translate_dictionary_is_built_on_first_use() -> None:
    dist = from_spec("translate:L=5,V=1000000000")
    assert "dictionary" not in vars(dist)  # nothing of size V drawn yet
    small = from_spec("translate:L=3,V=7,seed=1")
    assert sorted(small.dictionary.tolist()) == list(range(7))
