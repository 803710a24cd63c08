"""Sphinx extension: show, near the top of each notebook page, how long the notebook took to execute.

The time is the one myst-nb measured when it executed the notebook (or when it executed it for the
cached result it reused), and the profile is the one the book was built in (``GDL_PROFILE``, which
``make book`` sets). Nothing is typed by hand.
"""

import html
import os
import re


def _duration(seconds):
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds:02d} s"


def note_for(runtime, profile):
    """The HTML note for a page executed in ``runtime`` seconds in ``profile``."""
    where = f" in the <code>{html.escape(profile)}</code> profile" if profile else ""
    return (
        '<p class="gdl-exectime" style="font-size:0.9em;color:#57606a">'
        f"<b>Run time:</b> executing this notebook took {_duration(runtime)}{where} when this page was built."
        "</p>"
    )


def _add_note(app, pagename, templatename, context, doctree):
    from myst_nb.sphinx_ import NbMetadataCollector

    data = NbMetadataCollector.get_exec_data(app.env, pagename) if doctree is not None else None
    if not data or data.get("runtime") is None or "body" not in context:
        return
    note = note_for(data["runtime"], os.environ.get("GDL_PROFILE", "").strip())
    context["body"] = re.sub(r"(</h1>)", lambda m: m.group(1) + note, context["body"], count=1)


def setup(app):
    app.connect("html-page-context", _add_note)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
