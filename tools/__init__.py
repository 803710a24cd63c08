"""Maintenance tools of the course, importable as ``tools.NAME`` from the repository root.

- ``make_exercises``: writes ``exercises/`` from ``solutions/`` (``make exercises``).
- ``model_cells``: runs a chapter's ``model-definition`` cells, for tests and benchmarks.
- ``exectime``, ``unique_scripts``: Sphinx extensions that shape the built pages (``_config.yml``).
"""
