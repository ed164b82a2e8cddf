"""End-to-end `ktiw predict` through typer's runner: table, JSON, --data, --derivation, errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ktiw.cli.app import app

runner = CliRunner()


def test_done_criterion_table() -> None:
    res = runner.invoke(app, ["predict", "--model", "toy", "permutation:L=40", "subset:L=40,V=60"])
    assert res.exit_code == 0, res.output
    rows = [line for line in res.output.splitlines() if line.strip().startswith(("subset:", "permutation:"))]
    # sorted by takeoff: subset (3.9e3) before permutation (1.06e4 from eps = 1e-3)
    assert "subset:L=40,V=60" in rows[0] and "drift" in rows[0] and "3895" in rows[0]
    assert "permutation:L=40" in rows[1] and "saddle" in rows[1] and "±6.25e-04" in rows[1]


def test_json_list_has_the_fields() -> None:
    specs = ["permutation:L=40", "subset:L=40,V=60", "iid:L=4,V=6"]
    res = runner.invoke(app, ["predict", "--model", "toy", *specs, "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert [d["spec"] for d in out] == ["subset:L=40,V=60", "permutation:L=40", "iid:L=4,V=6"]
    assert [d["regime"] for d in out] == ["drift", "saddle", "drift"]
    need = {
        "spec",
        "regime",
        "ktiw_margin",
        "initial_ktiw_velocity",
        "ktiw_learnable",
        "attention_learnable",
        "takeoff_time",
        "fixed_point_eigenvalues",
        "ambiguity",
        "reason",
    }
    assert all(need <= set(d) for d in out)
    assert out[0]["initial_ktiw_velocity"] == pytest.approx(20 / (40 * 60 * 59))
    assert out[1]["fixed_point_eigenvalues"] == pytest.approx([-1 / 1600, 1 / 1600])
    assert out[2]["takeoff_time"] is None and out[2]["fixed_point_eigenvalues"] is None


def test_eps_moves_the_saddle_takeoff() -> None:
    times = []
    for eps in ("1e-2", "1e-4"):
        res = runner.invoke(app, ["predict", "--model", "toy", "permutation:L=6", "--json", "--eps", eps])
        times.append(json.loads(res.output)[0]["takeoff_time"])
    assert times[1] - times[0] == pytest.approx(36 * 4.605, rel=0.05)  # k^2 ln(100)


def test_data_file(tmp_path) -> None:
    path = tmp_path / "pairs.tsv"
    path.write_text("# copy\na b c\ta b c\nb c d\tb c d\nc d a\tc d a\nd a b\td a b\n")
    res = runner.invoke(app, ["predict", "--model", "toy", "--data", str(path), "--json"])
    assert res.exit_code == 0, res.output
    (d,) = json.loads(res.output)
    assert d["spec"] == f"file:{path}" and d["regime"] == "drift" and d["takeoff_time"] is None
    table = runner.invoke(app, ["predict", "--model", "toy", "subset:L=3,V=4", "--data", str(path)])
    assert table.exit_code == 0 and "pairs.tsv" in table.output


def test_derivation_prints_markdown_with_latex() -> None:
    res = runner.invoke(app, ["predict", "--model", "toy", "permutation:L=40", "--derivation"])
    assert res.exit_code == 0, res.output
    assert res.output.startswith("# Derivation for `permutation:L=40`")
    assert "\\frac{1}{k^{2}}" in res.output and "## The exact 2-D reduction for copying" in res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give at least one distribution SPEC or --data FILE"),
        (["blah:L=3"], "unknown distribution family 'blah'"),
        (["subset:L=5,V=4"], "needs L <= V"),
        (["subset:L=x,V=4"], "is not an integer"),
        (["subset:L=3,V=4", "--eps", "0"], "--eps must be a positive number"),
        (["--data", "/nonexistent/pairs.tsv"], "does not exist"),
        (["subset:L=3,V=100000"], "too large"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, message) -> None:
    res = runner.invoke(app, ["predict", "--model", "toy", *args])
    assert res.exit_code == 2
    assert message in res.output
    assert len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output


def test_data_file_without_tab_names_the_line(tmp_path) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text("a b\tc\nno tab here\n")
    res = runner.invoke(app, ["predict", "--model", "toy", "--data", str(path)])
    assert res.exit_code == 2 and "bad.tsv:2" in res.output and len(res.output.strip().splitlines()) == 1


def test_predict_data_label_file_is_classification_or_a_one_line_hint(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from ktiw.cli.app import app

    f = tmp_path / "reviews.tsv"
    f.write_text("pos\tgreat film loved it\nneg\tboring film\npos\tloved the acting\nneg\tawful plot\n")
    res = CliRunner().invoke(app, ["predict", "--model", "toy", "--data", str(f)])
    assert (
        res.exit_code == 2
        and "looks like label<TAB>tokens" in res.output
        and "--task classification" in res.output
    )
    args = ["--data", str(f), "--task", "classification", "--json"]
    res = CliRunner().invoke(app, ["predict", "--model", "toy", *args])
    assert res.exit_code == 0, res.output
    import json

    (pred,) = json.loads(res.stdout)
    assert pred["spec"].startswith("labelled:")  # the label is the output, not the input
