import nbformat
import pytest

from tools import make_exercises as mx

SOLUTION = '''def f(x):
    """Docstring stays."""
    ### BEGIN SOLUTION
    y = x + 1
    return y
    ### END SOLUTION'''


def test_region_becomes_an_indented_stub():
    text, count = mx.strip_solutions(SOLUTION)
    assert count == 1
    assert text == 'def f(x):\n    """Docstring stays."""\n    # YOUR CODE HERE\n    raise NotImplementedError()'


@pytest.mark.parametrize(
    "source, message",
    [
        ("### BEGIN SOLUTION\nx = 1", "never closed"),
        ("x = 1\n### END SOLUTION", "without a"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside another"),
    ],
)
def test_malformed_markers(source, message):
    with pytest.raises(mx.MarkerError, match=message):
        mx.strip_solutions(source)


def _notebook(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    return nb


def test_outputs_are_cleared_and_input_untouched():
    cell = nbformat.v4.new_code_cell(SOLUTION)
    cell.outputs = [nbformat.v4.new_output("stream", text="hi")]
    cell.execution_count = 3
    nb = _notebook(nbformat.v4.new_markdown_cell("# Title"), cell)
    out = mx.make_exercise(nb)
    assert out.cells[1].outputs == [] and out.cells[1].execution_count is None
    assert "y = x + 1" not in out.cells[1].source and "y = x + 1" in nb.cells[1].source


def test_notebook_without_regions_and_markers_in_markdown_are_errors():
    with pytest.raises(mx.MarkerError, match="no ### BEGIN SOLUTION region"):
        mx.make_exercise(_notebook(nbformat.v4.new_code_cell("x = 1")))
    with pytest.raises(mx.MarkerError, match="code cells only"):
        mx.make_exercise(_notebook(nbformat.v4.new_markdown_cell("### BEGIN SOLUTION")))


def test_check_mode_detects_stale_and_orphan_exercises(tmp_path, capsys):
    (tmp_path / "solutions").mkdir()
    nbformat.write(_notebook(nbformat.v4.new_code_cell(SOLUTION)), tmp_path / "solutions" / "01_x.ipynb")
    assert mx.main(["--root", str(tmp_path), "--check"]) == 1  # not generated yet
    assert mx.main(["--root", str(tmp_path)]) == 0
    assert mx.main(["--root", str(tmp_path), "--check"]) == 0
    nb = nbformat.read(tmp_path / "solutions" / "01_x.ipynb", as_version=4)
    nb.cells[0].source = nb.cells[0].source.replace("x + 1", "x + 2")  # a changed solution outside the region
    nb.cells[0].source += "\nprint('new line')"
    nbformat.write(nb, tmp_path / "solutions" / "01_x.ipynb")
    assert mx.main(["--root", str(tmp_path), "--check"]) == 1
    mx.main(["--root", str(tmp_path)])
    (tmp_path / "exercises" / "02_orphan.ipynb").write_text("{}")
    assert mx.main(["--root", str(tmp_path), "--check"]) == 1
    assert "has no solutions/02_orphan.ipynb" in capsys.readouterr().err
