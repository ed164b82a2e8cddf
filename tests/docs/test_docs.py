"""The docs site: derivation pages come from the theory code, and ``sphinx-build -W`` passes
with MathJax served from the built site (no CDN)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def load_extension() -> ModuleType:
    """docs/_ext/ktiw_docs.py, imported without Sphinx."""
    spec = importlib.util.spec_from_file_location("ktiw_docs_under_test", DOCS / "_ext" / "ktiw_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def ext() -> ModuleType:
    return load_extension()


# Formulas to alter: (module whose derive() returns the sympy objects, field, page that shows it).
ALTERED = (
    ("ktiw.theory.toy_model", "stage1", "stage-1"),
    ("ktiw.theory.reduction", "loss", "copy-reduction"),
)

# Runs in a fresh interpreter with an empty derivation cache ($KTIW_CACHE_DIR), so nothing rendered
# before the formulas were altered (in memory or on disk) can be reused.  Prints, per altered
# formula, the LaTeX of the real and of the altered expression.
ALTER_AND_RENDER = """
import dataclasses, importlib, json, sys
from pathlib import Path
import sympy as sp
altered, out, ext_dir = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
printed = []
for n, (module, field, _page) in enumerate(altered):
    source = importlib.import_module(module)
    real = source.derive()
    new = sp.Symbol("zeta") ** (3 + n) - sp.Symbol("delta") / 7
    source.derive = (lambda r, f, e: lambda: dataclasses.replace(r, **{f: e}))(real, field, new)
    printed.append([sp.latex(getattr(real, field)), sp.latex(new)])
sys.path.insert(0, ext_dir)
import ktiw_docs
ktiw_docs.render_derivations(Path(out))
print(json.dumps(printed))
"""


def test_changing_a_formula_in_the_theory_changes_the_generated_page(ext: ModuleType, tmp_path: Path) -> None:
    """Alter derived sympy expressions in the theory code: exactly the pages that show them change,
    and they show the altered formulas' LaTeX (the page text comes from the code, not from a copy)."""
    import json

    before = ext.render_derivations(tmp_path / "a")
    args = [json.dumps(ALTERED), str(tmp_path / "b"), str(DOCS / "_ext")]
    env = {**os.environ, "KTIW_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-c", ALTER_AND_RENDER, *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    printed = json.loads(done.stdout.splitlines()[-1])

    changed = {page for _, _, page in ALTERED}
    for n, ((_module, _field, page), (real_tex, altered_tex)) in enumerate(
        zip(ALTERED, printed, strict=True)
    ):
        original = before[page].read_text()
        text = (tmp_path / "b" / "derivations" / f"{page}.md").read_text()
        assert real_tex in original and real_tex not in text
        assert altered_tex in text and rf"\zeta^{{{3 + n}}}" in text and r"\frac{\delta}{7}" in text
    for slug, path in before.items():
        if slug not in changed:
            after = (tmp_path / "b" / "derivations" / f"{slug}.md").read_text()
            assert after == path.read_text(), f"{slug} changed although it shows none of the altered formulas"


def test_every_derivation_page_is_listed_in_order_and_titled(ext: ModuleType, tmp_path: Path) -> None:
    from ktiw.theory.derivation import pages as theory_pages

    written = ext.render_derivations(tmp_path)
    expected = theory_pages()
    assert list(written)[: len(expected)] == list(expected)
    assert list(written)[len(expected) :] == list(ext.EXTRA_PAGES)
    index = (tmp_path / "derivations" / "index.md").read_text()
    toc = index.split("```{toctree}")[1].split("```")[0].splitlines()
    assert [t for t in toc if t and not t.startswith(":")] == list(written)
    for slug, path in written.items():
        text = path.read_text()
        if slug in expected:
            assert text.rstrip() == expected[slug].rstrip()
        assert text.startswith("# ") and "$" in text, f"{slug}: no title or no formula"
    with pytest.raises(ValueError, match="must start with a '# Title'"):
        ext.page_title("no title\n$x$", "bad")


def test_readme_test_command_and_ci_install_the_same_extras(ext: ModuleType) -> None:
    commands = ext.readme_commands(ROOT / "README.md")
    test_cmd = next(c for c in commands if "pytest" in c)
    extras = re.findall(r'pip install -e "?\.(\[[\w,]+\])?', test_cmd)
    ci = (ROOT / ".ci" / "run").read_text()
    ci_extras = re.findall(r'pip install -q -e "?\.(\[[\w,]+\])?', ci)
    assert extras and ci_extras[:1] == extras
    # an optional extra CI installs afterwards (for its marked tests) is one the README says how to test
    readme = (ROOT / "README.md").read_text()
    for extra in ci_extras[1:]:
        assert f'pip install -e ".{extra}" && python -m pytest -q -m' in readme, extra
    assert "docs" in extras[0], "the docs-build test needs the docs extra"


@pytest.fixture(scope="module")
def built_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The docs built once for this module with ``sphinx-build -W`` (warnings are errors)."""
    tmp = tmp_path_factory.mktemp("docs")
    out = tmp / "html"
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E", "-j1", "-q", "-b", "html"]
    cmd += ["-d", str(tmp / "doctrees"), str(DOCS), str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


class RawLatex(HTMLParser):
    """Collects TeX (``\\frac``, ``\\big``, ``$\\``, ``$^``) in text that MathJax will not typeset: outside
    the elements Sphinx marks ``class="math"`` and outside code, scripts and styles."""

    TEX = re.compile(r"\\[A-Za-z]{2,}|\$[\\{^_]")
    SKIP = frozenset({"script", "style", "pre", "code", "kbd", "samp", "textarea", "title"})
    VOID = frozenset({"br", "img", "hr", "meta", "link", "input", "wbr", "col", "area", "base", "source"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.VOID:
            classes = (dict(attrs).get("class") or "").split()
            self.stack.append((tag, tag in self.SKIP or "math" in classes))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        if not any(skip for _, skip in self.stack):
            self.found += [data[max(0, m.start() - 40) : m.end() + 20] for m in self.TEX.finditer(data)]


def raw_latex(html: str) -> list[str]:
    parser = RawLatex()
    parser.feed(html)
    return parser.found


def test_raw_latex_scanner_finds_tex_outside_math_elements() -> None:
    """The stage-2 page as it was built when a line inside ``$...$`` started with ``- ``: MyST
    made it a list item and the TeX around it text."""
    broken = (
        '<p>moves at rate\n$\\frac{\\tau}{L}\\big(\\tilde C_{x_l, y_t}</p>\n<ul class="simple">\n'
        '<li><p>\\frac{1}{L}\\sum_{l} \\tilde C<span class="math notranslate nohighlight">\\(:\n'
        "attention \\)</span>\\arg\\max_l</p></li></ul>"
    )
    assert len(raw_latex(broken)) >= 3
    fine = (
        '<p>rate <span class="math notranslate nohighlight">\\(\\frac{\\tau}{L}\\)</span>, code '
        "<code>$\\frac{a}{b}$</code></p><pre>\\big</pre><p>costs $5 or 5$</p>"
    )
    assert raw_latex(fine) == []


def test_built_pages_show_no_raw_latex(built_html: Path) -> None:
    found = {
        str(page.relative_to(built_html)): hits
        for page in sorted(built_html.rglob("*.html"))
        if (hits := raw_latex(page.read_text(encoding="utf-8")))
    }
    assert not found, found


def test_sphinx_build_W_passes_and_math_is_served_locally(built_html: Path) -> None:
    out = built_html

    # every public module of the four packages has an API page
    for top in ("theory", "empirics", "comparator", "cli"):
        for py in (ROOT / top).rglob("*.py"):
            rel = py.relative_to(ROOT / top).with_suffix("").parts
            if any(part.startswith("_") for part in rel if part != "__init__"):
                continue
            name = ".".join(("ktiw", top, *[p for p in rel if p != "__init__"]))
            assert (out / "_generated" / "api" / f"{name}.html").exists(), name

    # the two-stage figure drawn from the flow at build time is on the overview page
    assert '<img alt="Two-stage curves' in (out / "overview.html").read_text()
    assert (out / "_images" / "two_stage.png").stat().st_size > 10_000

    mathjax = out / "_static" / "mathjax" / "tex-chtml.js"
    assert mathjax.stat().st_size > 100_000
    pages = sorted((out / "_generated" / "derivations").glob("*.html"))
    assert len(pages) >= 2
    for page in pages:
        html = page.read_text()
        srcs = re.findall(r'<script[^>]*\bsrc="([^"]+)"', html)
        assert not [s for s in srcs if re.match(r"(https?:)?//", s)], srcs
        if page.stem == "index":
            continue
        assert any(s.split("?")[0].endswith("_static/mathjax/tex-chtml.js") for s in srcs), srcs
        assert 'class="math' in html
        assert re.search(r"\\\[|\\\(", html), "no TeX delimiters for MathJax in " + page.name
        # the resolved script path exists next to the page
        local = next(s for s in srcs if "mathjax/tex-chtml.js" in s).split("?")[0]
        assert (page.parent / local).resolve() == mathjax.resolve()


def test_stored_verify_run_is_rendered_with_its_refuted_checks(ext: ModuleType, tmp_path: Path) -> None:
    import json

    data = tmp_path / "data"
    data.mkdir()
    verdicts = [
        {
            "name": "success-rate",
            "subject": "subset:L=4,V=6",
            "measured": "5/5",
            "expected": "x",
            "status": "pass",
        },
        {
            "name": "success-rate",
            "subject": "permutation:L=4",
            "measured": "5/5",
            "expected": "< 1",
            "status": "FAIL",
            "passed": False,
            "detail": "REFUTED: as often as drift",
        },
        {
            "name": "takeoff-order",
            "subject": "all",
            "measured": "tau undefined",
            "expected": "tau > 0",
            "status": "inconclusive",
            "sentence": "needs two distributions",
        },
    ]
    doc = {
        "passed": False,
        "exit_code": 1,
        "meta": {"preset": "quick", "wall_time_s": 12.5},
        "verdicts": verdicts,
    }
    (data / "verdicts.json").write_text(json.dumps(doc))
    (data / "success.png").write_bytes(b"\x89PNG fake")
    out = tmp_path / "gen"
    ext.ROOT = tmp_path  # paths in the page are shown relative to the repository root

    page = ext.render_verify_results(out, data).read_text()
    table = [
        line
        for line in page.splitlines()
        if line.startswith("| success-rate") or line.startswith("| takeoff")
    ]
    assert len(table) == 3
    assert "| success-rate | permutation:L=4 | FAIL | 5/5 | < 1 |" in table
    assert "* **success-rate** (`permutation:L=4`): REFUTED: as often as drift" in page
    assert '| preset | `"quick"` |' in page and "| exit_code | `1` |" in page
    assert "![success](/_generated/verify_figures/success.png)" in page
    assert (out / "verify_figures" / "success.png").read_bytes() == b"\x89PNG fake"

    # another preset: its own page and figure folder, the quick page untouched
    paper = ext.render_verify_results(out, data, "paper")
    assert paper.name == "verify_results_paper.md" and paper.read_text() != ""
    assert "![success](/_generated/verify_figures_paper/success.png)" in paper.read_text()
    assert (out / "verify_results.md").read_text() == page
    missing = ext.render_verify_results(out, tmp_path / "nothing", "paper").read_text()
    assert "store_verify.sh paper" in missing

    refuted = ext.render_verify_refuted(out, data).read_text()
    assert "* **success-rate** (`permutation:L=4`): REFUTED: as often as drift" in refuted
    assert "* `subset:L=4,V=6`: 5/5" in refuted.split("Success rates in the same run")[1]
    assert "subset:L=4,V=6" not in refuted.split("Success rates in the same run")[0]
    assert "* **takeoff-order** (`all`): needs two distributions" in refuted


def test_readme_is_read_in_five_minutes() -> None:
    """At most 12,000 characters (issue 17; nanoGPT's is 13.9k): what ktiw is for, the two
    set-up commands, three commands with their output, verdicts, findings, links. Sweeps, timing
    logs and long tables belong on the docs pages."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text) <= 12_000, f"README.md has {len(text):,} characters; move detail to docs/"
    for page in re.findall(r"\]\((docs/[\w./-]+\.md)\)", text):
        assert (ROOT / page).exists(), page
