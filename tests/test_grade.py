"""The grader: points from its own process and pristine checks, whatever the notebook does.

Most cases are variants of Chapter 1's solutions notebook (graded in about a second), with exercise 1.1,
``gaussian_log_density``, made wrong and then disguised. Each must score 0 on 1.1 and full points on the rest.
"""

import csv
import json
import subprocess
import sys

import nbformat
import pytest
from conftest import ROOT

from gdl import checks, grade
from gdl.checks import ch01

SOLUTIONS = ROOT / "solutions" / "01_gaussian.ipynb"
TARGET = "gaussian_log_density"
WRONG = '''def gaussian_log_density(x, mu, sigma):
    return -0.5 * np.log(2 * np.pi) - np.log(sigma) - (x - mu) ** 2 / 2
'''
CHECK_CELL = "ch01.check_gaussian_log_density(gaussian_log_density)"
FAST = {"cell_timeout": 5.0, "exercise_timeout": 30.0}


def _index(nb, text):
    return next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and text in c.source)


def _variant(tmp_path, name, edit):
    """Chapter 1's solutions with ``edit(nb)`` applied, written to tmp_path/name.ipynb."""
    nb = nbformat.read(SOLUTIONS, as_version=4)
    edit(nb)
    for i, cell in enumerate(nb.cells):
        cell.id = f"t{i:02d}"
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


def _replace(nb, text, source):
    nb.cells[_index(nb, text)].source = source


def _insert_before(nb, text, source):
    nb.cells.insert(_index(nb, text), nbformat.v4.new_code_cell(source))


def _wrong(nb):
    _replace(nb, f"def {TARGET}(", WRONG)


def _graded(path, **kwargs):
    before = path.read_bytes()
    report = grade.grade_notebook(path, **{**FAST, **kwargs})
    assert path.read_bytes() == before, "the grader modified the submission"
    return report


def _points(report):
    return {r["exercise"]: r["points"] for r in report["rows"]}


FULL = {check.exercise: check.points for _, check in grade.exercises(ch01)}


def _only_target_lost(report):
    points = _points(report)
    assert points[TARGET] == 0, grade.render(report)
    assert {k: v for k, v in points.items() if k != TARGET} == {k: v for k, v in FULL.items() if k != TARGET}, (
        grade.render(report))


# --------------------------------------------------------------------------- in-process scoring


def test_exercises_follow_the_notebooks_order_and_points_are_declared_once():
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        module = __import__(f"gdl.checks.ch{path.name[:2]}", fromlist=["_"])
        short = module.__name__.rsplit(".", 1)[-1]
        cells = nbformat.read(path, as_version=4).cells
        called = [name for c in cells for name in grade.check_calls(c.source, short) or []]
        assert called == [check.exercise for _, check in grade.exercises(module)], path.name
        assert all(isinstance(check.points, int) and check.points >= 1 for _, check in grade.exercises(module))
    assert [n for n, _ in grade.exercises(ch01)] == ["1.1", "1.2", "1.3", "1.4", "1.5", "1.6"]
    with pytest.raises(ValueError, match="points"):
        checks.make_check("x", lambda f: None, points=0)


def test_every_exercise_notebook_ends_with_the_learners_standing():
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        cells = nbformat.read(path, as_version=4).cells
        assert cells[-1].source == f"from gdl import grade\n\ngrade.standing(ch{path.name[:2]}, globals())", path.name
        assert "python -m gdl.grade" in cells[-2].source and "To hand in" in cells[-2].source, path.name


def test_reads_checks_finds_the_reference_however_it_is_reached():
    import gdl.checks.ch01 as module
    namespace = {"ch01": module, "_ref": module._log_density, "np": __import__("numpy")}
    exec("def direct(x, mu, s):\n    return ch01._log_density(x, mu, s)\n"  # noqa: S102 (test code)
         "def captured(x, mu, s):\n    return _ref(x, mu, s)\n"
         "def helper(x, mu, s):\n    return direct(x, mu, s)\n"
         "def default(x, mu, s, f=_ref):\n    return f(x, mu, s)\n"
         "def own(x, mu, s):\n    return -np.log(s) - (x - mu) ** 2 / (2 * s**2) - 0.5 * np.log(2 * np.pi)\n",
         namespace)
    for name in ("direct", "captured", "helper", "default"):
        assert grade.reads_checks(namespace[name]), name
    assert not grade.reads_checks(namespace["own"])
    rows = grade.score(ch01, {"gaussian_log_density": namespace["captured"]})
    assert rows[0]["points"] == 0 and rows[0]["message"].startswith("Flagged")
    assert rows[1]["message"].startswith("The notebook defines no `fit_gaussian`")
    assert grade.score(ch01, {"gaussian_log_density": namespace["own"]})[0]["status"] == checks.PASSED


def test_standing_shows_the_score_and_enforces_the_modes(monkeypatch, capsys):
    namespace = {"gaussian_log_density": lambda x, mu, s: 0 * x}
    grade.standing(ch01, namespace)
    assert "0 of 6 exercises pass: 0 of 7 points" in capsys.readouterr().out
    monkeypatch.setenv("GDL_CHECKS_MODE", "exercises")
    with pytest.raises(checks.CheckModeError, match="1.1 is failed"):
        grade.standing(ch01, namespace)
    monkeypatch.setenv("GDL_CHECKS_MODE", "solutions")
    with pytest.raises(checks.CheckModeError, match="expects every exercise 'passed'"):
        grade.standing(ch01, {})


# --------------------------------------------------------------------------- whole notebooks in the worker


def test_every_chapter_solutions_score_full_and_exercises_zero(tmp_path):
    """The acceptance run, through the command line: all of solutions/ and exercises/ in one gradebook."""
    notebooks = sorted((ROOT / "solutions").glob("*.ipynb")) + sorted((ROOT / "exercises").glob("*.ipynb"))
    out = _cli(*notebooks, "--csv", tmp_path / "book.csv")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader((tmp_path / "book.csv").open()))
    half = len(notebooks) // 2
    assert all(r["total"] == r["max"] != "0" for r in rows[:half]), out.stdout
    assert all(r["total"] == "0" for r in rows[half:]), out.stdout
    assert not any(r["note"] for r in rows), [r["note"] for r in rows]


def test_solutions_score_full_and_exercises_zero(tmp_path):
    report = _graded(SOLUTIONS)
    assert _points(report) == FULL and not report["notes"], grade.render(report)
    report = _graded(ROOT / "exercises" / "01_gaussian.ipynb")
    assert sum(_points(report).values()) == 0
    assert {r["status"] for r in report["rows"]} == {checks.INCOMPLETE}


TAMPERING = {
    "check_cell_deleted": lambda nb: (_wrong(nb), nb.cells.pop(_index(nb, CHECK_CELL))),
    "check_cell_prints_well_done": lambda nb: (_wrong(nb), _replace(nb, CHECK_CELL, 'print("Well done")')),
    "check_replaced": lambda nb: (_wrong(nb), _insert_before(
        nb, CHECK_CELL, "import gdl.checks.ch01\ngdl.checks.ch01.check_gaussian_log_density = lambda f: None\n"
        "ch01.check_gaussian_log_density = lambda f: None")),
    "evaluate_patched": lambda nb: (_wrong(nb), _insert_before(
        nb, CHECK_CELL, "import gdl.checks\ngdl.checks.evaluate = lambda name, test, fn: "
        "gdl.checks.Result(name, 'passed', 'Well done.')")),
    "mode_set_in_the_notebook": lambda nb: (_wrong(nb), _insert_before(
        nb, CHECK_CELL, 'os.environ["GDL_CHECKS_MODE"] = "exercises"')),
    "overwritten_by_a_wrong_one_later": lambda nb: _insert_before(nb, "grade.standing(", WRONG),
    "reads_the_private_reference": lambda nb: _replace(
        nb, f"def {TARGET}(", f"def {TARGET}(x, mu, sigma):\n    return ch01._log_density(x, mu, sigma)\n"),
    "reads_it_through_importlib": lambda nb: _replace(
        nb, f"def {TARGET}(", f"import importlib\n\n\ndef {TARGET}(x, mu, sigma):\n"
        "    return importlib.import_module('gdl.checks.ch01')._log_density(x, mu, sigma)\n"),
}


@pytest.mark.parametrize("attempt", sorted(TAMPERING))
def test_tampering_scores_zero_for_its_exercise_and_leaves_the_others(tmp_path, attempt):
    report = _graded(_variant(tmp_path, attempt, TAMPERING[attempt]))
    _only_target_lost(report)
    if attempt.startswith("reads"):
        assert report["rows"][0]["message"].startswith("Flagged"), grade.render(report)


def test_a_notebook_that_loops_exits_crashes_floods_and_bombs_is_still_graded(tmp_path):
    def edit(nb):
        after_first = _index(nb, CHECK_CELL) + 1
        for source in ["while True:\n    pass",
                       "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass",
                       "import sys\nsys.exit(3)",
                       "os._exit(3)",
                       "import ctypes\nctypes.string_at(0)",
                       "kept = b'x' * 2**32  # one C call: no alarm can stop it, the ceiling does",
                       "for _ in range(300):\n    print('x' * 10**6)\nos.write(1, b'y' * 10**8)"]:
            nb.cells.insert(after_first, nbformat.v4.new_code_cell(source))

    report = _graded(_variant(tmp_path, "hostile", edit), cell_timeout=3.0, memory_mb=1300)
    assert _points(report) == FULL, grade.render(report)
    notes = " | ".join(report["notes"])
    for fragment in ("ran past 3 s and was stopped", "did not stop when told to", "exit code 3",
                     "exit code -11", "more than 1300 MB"):
        assert fragment in notes, notes


def test_reaching_for_the_graders_frames_is_flagged_for_review(tmp_path):
    peek = "import sys\nframe = sys._getframe(0)\nwhile frame.f_back is not None:\n    frame = frame.f_back"
    report = _graded(_variant(tmp_path, "peek", lambda nb: _insert_before(nb, CHECK_CELL, peek)))
    assert report["notes"][0].startswith("review by hand: the notebook uses _getframe, f_back"), report["notes"]


def test_a_check_that_never_returns_is_stopped(tmp_path):
    slow = f"import time\n\n\ndef {TARGET}(x, mu, sigma):\n    time.sleep(60)\n"
    report = _graded(_variant(tmp_path, "slow", lambda nb: (_replace(nb, f"def {TARGET}(", slow),
                                                             nb.cells.pop(_index(nb, CHECK_CELL)))),
                     exercise_timeout=2.0)
    _only_target_lost(report)
    assert "ran past 2 s" in report["rows"][0]["message"]


@pytest.mark.parametrize("content, message", [
    ("print('hello')", "not valid JSON"),
    ('{"cells": 3}', "is not a Jupyter notebook"),
    ("\x89PNG\x00\xff".encode("latin-1"), "not a text file"),
])
def test_a_file_that_is_not_a_notebook_gets_a_line_and_zero(tmp_path, content, message):
    path = tmp_path / "submission.ipynb"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    report = grade.grade_notebook(path, chapter="ch01")
    assert message in report["error"] and sum(_points(report).values()) == 0
    assert message in grade.render(report)


def test_a_notebook_of_another_chapter_scores_zero(tmp_path):
    report = grade.grade_notebook(ROOT / "exercises" / "03_vae.ipynb", chapter="ch01")
    assert report["error"] == "is Chapter 3's exercise notebook, not Chapter 1's"
    assert set(_points(report)) == set(FULL) and sum(_points(report).values()) == 0
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# x"), nbformat.v4.new_code_cell("1")])
    nbformat.write(nb, tmp_path / "plain.ipynb")
    assert "never imports gdl.checks" in grade.grade_notebook(tmp_path / "plain.ipynb")["error"]


# --------------------------------------------------------------------------- the command line


def _cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "gdl.grade", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_command_line_table_gradescope_json_and_gradebook(tmp_path):
    wrong = _variant(tmp_path, "wrong", _wrong)
    (tmp_path / "broken.ipynb").write_text("{")
    out = _cli(SOLUTIONS, "--json", tmp_path / "results.json")
    assert out.returncode == 0, out.stderr
    assert "6 of 6 exercises pass: 7 of 7 points" in out.stdout
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["score"] == results["max_score"] == 7
    assert [t["name"] for t in results["tests"]][0] == "Exercise 1.1: gaussian_log_density"
    assert {t["status"] for t in results["tests"]} == {"passed"}
    assert set(results["tests"][0]) == {"name", "score", "max_score", "status", "output"}

    out = _cli(SOLUTIONS, ROOT / "exercises" / "01_gaussian.ipynb", wrong, tmp_path / "broken.ipynb",
               ROOT / "exercises" / "03_vae.ipynb", "--chapter", 1, "--csv", tmp_path / "book.csv")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader((tmp_path / "book.csv").open()))
    assert [r["total"] for r in rows] == ["7", "0", "6", "0", "0"]
    assert {r["max"] for r in rows} == {"7"}
    assert rows[2]["1.1 gaussian_log_density"] == "0" and rows[2]["1.2 fit_gaussian"] == "1"
    assert "not valid JSON" in rows[3]["note"] and "Chapter 3's" in rows[4]["note"]


@pytest.mark.parametrize("args, message", [
    ((), "the following arguments are required"),
    (("nowhere.ipynb",), "no such file"),
    ((SOLUTIONS, SOLUTIONS, "--json", "r.json"), "one submission"),
    ((SOLUTIONS, "--chapter", 42), "no Chapter 42"),
])
def test_usage_errors_exit_2(args, message, tmp_path):
    out = _cli(*args, cwd=tmp_path)
    assert out.returncode == 2 and message in out.stderr, out.stderr
