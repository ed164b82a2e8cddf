"""The report files are written and well formed: JSON parses and holds every verdict's
numbers, the markdown references PNG files that exist, refutations are spelled out."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from ktiw.comparator.evidence import time_scale
from ktiw.comparator.report import write_report


def test_report_files_well_formed(tmp_path: Path, make_result: Callable) -> None:
    res = make_result(tmp_path / "out", contrast=True)
    files = write_report(res)
    doc = json.loads((tmp_path / "out" / "verdicts.json").read_text())
    assert doc["passed"] is True and doc["exit_code"] == 0
    assert [v["name"] for v in doc["verdicts"]] == [v.name for v in res.verdicts]
    assert doc["verdicts"][0]["numbers"]["max_abs_diff"] == 0.0
    # the saddle's 1/3 success against the drift's 3/3
    assert doc["evidence"][1]["success"] == {"k": 1, "n": 3}
    assert doc["thresholds"]["FIDELITY_MAX_ABS_DIFF"] == 0.02
    md = files["report"].read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(images) == 6  # fidelity, takeoff, success, agreement, 2 x curves
    for rel in images:
        png = (tmp_path / "out" / rel).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Nothing: no check refutes a prediction." in md
    # the time scale uses the distributions that took off: drift median step 50, predicted 100
    ev = res.evidence
    assert ev[0].takeoff.measured_median == 50.0 and ev[1].takeoff.measured_median == float("inf")
    assert time_scale(ev) == 2.0
    ev[1].takeoff = type(ev[1].takeoff)("p", 400.0, 50.0)  # a second finite takeoff: geometric mean
    assert time_scale(ev) == (2.0 * 8.0) ** 0.5


def test_report_names_the_refuted_prediction(tmp_path: Path, make_result: Callable) -> None:
    res = make_result(tmp_path, contrast=False)
    write_report(res)
    doc = json.loads((tmp_path / "verdicts.json").read_text())
    assert doc["passed"] is False and doc["exit_code"] == 1
    md = (tmp_path / "report.md").read_text()
    section = md.split("## What the data refute")[1].split("## Details")[0]
    assert "success-rate" in section and "permutation:L=4" in section and "REFUTED" in section
