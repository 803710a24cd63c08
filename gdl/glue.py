"""Numbers from the run, glued into the prose (every chapter).

``glue("ch02_ae_hole_fraction", hole_fraction)`` stores the value under that name for the book's
``{glue:}`ch02_ae_hole_fraction``` role (myst-nb), so the text shows the number this run produced instead
of one typed by hand. Where myst-nb is absent (Colab, a plain Jupyter), the role cannot be rendered, so
the value is printed instead: the reader of any copy sees it.

Names start with the chapter (``chNN_``); the chapter standard lists the headline names each chapter
must glue.
"""

import re

_NAME = re.compile(r"^ch\d\d_[a-z0-9_]+$")


class _Text:
    """A glued phrase (a verdict): displayed as its text, without the quotes of a str's repr, which
    the book's ``{glue:}`` role would otherwise print around it."""

    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return self.text


def glue(name, value):
    """Glue ``value`` under ``name`` (``chNN_snake_case``); print it where myst-nb is absent."""
    if not _NAME.match(name):
        raise ValueError(f"glue name {name!r}: use chNN_snake_case, e.g. 'ch02_ae_hole_fraction'")
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()  # np.float64(0.5) -> 0.5: the book formats the plain number ({glue:text}`x:.2f`)
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        print(f"{name} = {value}")
        return
    myst_glue(name, _Text(value) if isinstance(value, str) else value, display=False)
