"""Run a chapter's model-definition cells outside the notebook, so tests and benchmarks use the very same code.

The models live in the chapters, where the learner reads them. Cells tagged ``model-definition`` hold
self-contained definitions (they import what they use). ``load(path)`` executes those cells, in order, in a
fresh namespace and returns it::

    ns = load("chapters/03_vae.ipynb")
    vae = ns["VAE"](ns["build_encoder"](2), ns["build_decoder"](2))
"""

from pathlib import Path

import nbformat

TAG = "model-definition"


def load(path, tag=TAG):
    """Execute the code cells of notebook ``path`` tagged ``tag`` and return their namespace (a dict)."""
    path = Path(path)
    cells = [c for c in nbformat.read(path, as_version=4).cells
             if c.cell_type == "code" and tag in c.get("metadata", {}).get("tags", [])]
    if not cells:
        raise ValueError(f"{path} has no code cell tagged {tag!r}")
    namespace = {"__name__": f"model_cells_{path.stem}"}
    for number, cell in enumerate(cells):
        exec(compile(cell.source, f"{path.name}[{tag} cell {number}]", "exec"), namespace)  # noqa: S102 (our own notebook)
    return namespace
