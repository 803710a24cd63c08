"""Sphinx extension: drop repeated identical scripts from a page.

sphinx-thebe and sphinx-togglebutton (loaded by Jupyter Book 1.x) can register the same inline script
twice on one page; the second ``const THEBE_JS_URL = ...`` is a JavaScript error in the reader's browser.
"""


def _dedupe(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        # The same inline script can come once with filename None and once with "": treat both as inline.
        key = (getattr(script, "filename", None) or "", repr(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
