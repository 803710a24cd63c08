"""The Sphinx extensions in tools/ that shape the built pages."""

import importlib
from types import SimpleNamespace


def _load(name):
    return importlib.import_module(f"tools.{name}")


def test_execution_time_note():
    exectime = _load("exectime")
    assert "took 9.1 s in the <code>cpu</code> profile" in exectime.note_for(9.06, "cpu")
    assert "took 42 s" in exectime.note_for(42.4, "")
    assert "took 3 min 05 s" in exectime.note_for(185, "gpu")
    assert "profile" not in exectime.note_for(1.0, "")


def test_identical_scripts_are_kept_once():
    unique = _load("unique_scripts")
    a = SimpleNamespace(filename=None, attributes={"body": "const X = 1"})
    b = SimpleNamespace(filename="", attributes={"body": "const X = 1"})
    c = SimpleNamespace(filename="_static/x.js", attributes={})
    d = SimpleNamespace(filename="", attributes={"body": "const Y = 2"})
    context = {"script_files": [a, c, b, d, c]}
    unique._dedupe(None, "page", None, context, None)
    assert context["script_files"] == [a, c, d]
