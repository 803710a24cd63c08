"""gdl.glue: glued where myst-nb is installed, printed where it is not."""

import sys

import pytest

from gdl.glue import glue


def test_glue_stores_the_value_for_myst_nb(monkeypatch, capsys):
    stored = {}
    fake = type(sys)("myst_nb")
    fake.glue = lambda name, value, display: stored.update({name: (value, display)})
    monkeypatch.setitem(sys.modules, "myst_nb", fake)
    glue("ch02_ae_hole_fraction", 0.25)
    assert stored == {"ch02_ae_hole_fraction": (0.25, False)}
    assert capsys.readouterr().out == ""


def test_numpy_scalars_are_glued_as_plain_numbers(monkeypatch):
    """myst-nb formats text/plain: 'np.float64(0.5)' cannot take a format spec such as :.2f."""
    import numpy as np

    stored = {}
    fake = type(sys)("myst_nb")
    fake.glue = lambda name, value, display: stored.update({name: value})
    monkeypatch.setitem(sys.modules, "myst_nb", fake)
    glue("ch04_x", np.float64(0.25))
    glue("ch04_n", np.int64(3))
    assert stored == {"ch04_x": 0.25, "ch04_n": 3}
    assert type(stored["ch04_x"]) is float and type(stored["ch04_n"]) is int
    assert repr(stored["ch04_x"]) == "0.25"


def test_glue_prints_where_myst_nb_is_absent(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # import fails, as in Colab
    glue("ch03_iw_nll", 101.5)
    assert capsys.readouterr().out == "ch03_iw_nll = 101.5\n"


@pytest.mark.parametrize("name", ["hole_fraction", "ch2_x", "ch02-x", "CH02_x", "ch02_"])
def test_glue_names_follow_the_convention(name):
    with pytest.raises(ValueError, match="chNN_snake_case"):
        glue(name, 1.0)


def test_a_glued_phrase_is_shown_without_quotes(monkeypatch):
    """The {glue:} role prints the text/plain repr: a str would appear in quotes in the sentence."""
    from IPython.core.formatters import format_display_data

    stored = {}
    fake = type(sys)("myst_nb")
    fake.glue = lambda name, value, display: stored.update({name: value})
    monkeypatch.setitem(sys.modules, "myst_nb", fake)
    glue("ch04_gain_largest", "the k-means labels")
    assert format_display_data(stored["ch04_gain_largest"])[0]["text/plain"] == "the k-means labels"
