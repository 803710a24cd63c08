"""Notebook hygiene: no stored outputs, the first-cell conventions, the table of contents, exercises in sync."""

import re
import subprocess
import sys

import nbformat
import pytest
import yaml
from conftest import ROOT

NOTEBOOKS = sorted(p for folder in ("chapters", "solutions", "exercises") for p in (ROOT / folder).glob("*.ipynb"))
IDS = [str(p.relative_to(ROOT)) for p in NOTEBOOKS]


def test_there_are_notebooks():
    assert {p.parent.name for p in NOTEBOOKS} == {"chapters", "solutions", "exercises"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} hold outputs; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_title_first_then_the_hidden_environment_cell(path):
    cells = nbformat.read(path, as_version=4).cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# "), f"{path.name}: start with a title"
    assert cells[1].cell_type == "code" and "hide-input" in cells[1].metadata.get("tags", []), (
        f"{path.name}: the environment cell follows the title, tagged hide-input"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_first_cell_sets_up_the_environment(path):
    first = next(c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code").source
    before_import = first.split("import keras")[0] if "import keras" in first else first
    for line in ('os.environ["KERAS_BACKEND"] = "tensorflow"', 'os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"',
                 'os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"', 'if "google.colab" in sys.modules:'):
        assert line in before_import, f"{path.name}: the first cell must contain {line!r} before importing Keras"
    repo = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    urls = re.findall(r"git\+(https://\S+?)[\"']", first)
    assert urls == [repo], f"{path.name}: the Colab install must use the repository of _config.yml ({repo})"


def test_the_site_build_skips_the_environments_the_makefile_creates():
    # `make test` builds .venv-colab after the smoke site; a second build must not read that environment's files.
    makefile = (ROOT / "Makefile").read_text()
    environments = re.findall(r"^(?:VENV|COLAB_VENV) := (\S+)$", makefile, flags=re.MULTILINE)
    excluded = yaml.safe_load((ROOT / "_config.yml").read_text())["exclude_patterns"]
    assert len(environments) == 2, f"expected VENV and COLAB_VENV in the Makefile, found {environments}"
    missing = [env for env in environments if env not in excluded]
    assert not missing, f"_config.yml exclude_patterns must list {missing}"


def _toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [c["file"] for part in toc["parts"] for c in part["chapters"]]


def test_each_chapter_is_followed_by_its_exercises_and_solutions_are_not_published():
    files = _toc_files()
    chapters = sorted(p.stem for p in (ROOT / "chapters").glob("*.ipynb"))
    for stem in chapters:
        assert f"chapters/{stem}" in files, f"chapters/{stem} is missing from _toc.yml"
        if (ROOT / "solutions" / f"{stem}.ipynb").exists():
            i = files.index(f"chapters/{stem}")
            assert files[i + 1] == f"exercises/{stem}", f"exercises/{stem} must follow its chapter in _toc.yml"
    assert not any(f.startswith("solutions/") for f in files)


def test_solutions_have_matching_chapters():
    for path in (ROOT / "solutions").glob("*.ipynb"):
        assert (ROOT / "chapters" / path.name).exists(), f"solutions/{path.name} has no chapter"


def test_exercises_are_in_sync():
    result = subprocess.run([sys.executable, "tools/make_exercises.py", "--check"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
