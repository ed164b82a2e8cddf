"""Sphinx configuration for the ktiw documentation (MyST Markdown, offline MathJax)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))

project = "ktiw"
author = "ktiw developers"
copyright = "ktiw developers"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # serves MathJax 3 from _static/mathjax: no internet needed
    "sphinxcontrib.typer",
    "ktiw_docs",  # writes _generated/ from the code at every build
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "scripts", "data", "examples", "_generated/*.md"]  # fragments are {include}d

myst_enable_extensions = ["dollarmath", "amsmath", "deflist"]
myst_heading_anchors = 3

autodoc_typehints = "description"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True}

html_theme = "alabaster"
html_title = "ktiw"
html_static_path: list[str] = []
html_last_updated_fmt = None
html_theme_options = {"page_width": "1100px", "sidebar_width": "220px", "code_font_size": "0.78em"}
