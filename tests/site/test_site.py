"""The built site, as `make test` builds it in the smoke profile (GDL_SITE points at its html folder)."""

import os
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SITE = Path(os.environ.get("GDL_SITE", ROOT / "_build" / "html"))
if not (SITE / "index.html").exists():
    pytest.fail(f"no built site at {SITE}: run `make site-smoke` first (or `make test`)", pytrace=False)

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO = CONFIG["repository"]["url"].removeprefix("https://github.com/")
BRANCH = CONFIG["repository"]["branch"]
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
DOCS = [TOC["root"]] + [c["file"] for part in TOC["parts"] for c in part["chapters"]]
NOTEBOOKS = [d for d in DOCS if (ROOT / f"{d}.ipynb").exists()]
# Lines that TensorFlow, absl or XLA write when imported or run; none may reach a page.
LOG_LINE = re.compile(r"cudart_stub|absl::|oneDNN custom operations|[IWEF]0000 00:00|tensorflow/core/|cuda_platform")


def page(doc):
    return (SITE / f"{doc}.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("doc", DOCS)
def test_every_toc_page_is_built(doc):
    text = page(doc)
    assert "<h1" in text


def test_front_matter_and_chapter_1_are_there():
    for doc in ("book/intro", "book/setup", "book/notation", "chapters/01_gaussian", "exercises/01_gaussian"):
        assert doc in DOCS


def test_solutions_are_not_published():
    assert not (SITE / "solutions").exists()
    assert not list(SITE.rglob("*BEGIN SOLUTION*"))
    for html in SITE.rglob("*.html"):
        assert "### BEGIN SOLUTION" not in html.read_text(encoding="utf-8"), html


@pytest.mark.parametrize("doc", NOTEBOOKS)
def test_launch_links_point_at_the_right_file(doc):
    text = page(doc)
    colab = f'href="https://colab.research.google.com/github/{REPO}/blob/{BRANCH}/{doc}.ipynb"'
    binder = f'href="https://mybinder.org/v2/gh/{REPO}/{BRANCH}?urlpath=tree/{doc}.ipynb"'
    assert colab in text, f"{doc}: no Colab link {colab}"
    assert binder in text, f"{doc}: no Binder link {binder}"


@pytest.mark.parametrize("doc", NOTEBOOKS)
def test_notebook_pages_show_executed_results_and_no_errors(doc):
    text = page(doc)
    assert "cell_output" in text, f"{doc}: no executed output"
    assert "Traceback (most recent call last)" not in text
    if doc.startswith("chapters/"):
        assert re.search(r'<img[^>]+src="\.\./_images/[0-9a-f]+\.png"', text), f"{doc}: no figure"


def test_exercise_pages_show_the_not_yet_complete_verdicts():
    for doc in NOTEBOOKS:
        if doc.startswith("exercises/"):
            text = page(doc)
            assert "not yet complete" in text and "YOUR CODE HERE" in text


@pytest.mark.parametrize("doc", DOCS)
def test_no_log_lines_in_pages(doc):
    match = LOG_LINE.search(page(doc))
    assert match is None, f"{doc}: a TensorFlow log line reached the page: {match.group(0)!r}"
