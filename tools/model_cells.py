"""Run a chapter's model-definition cells outside the notebook, so tests and benchmarks use the very same code.

The models live in the chapters, where the learner reads them. Cells tagged ``model-definition`` hold
self-contained definitions (they import what they use). ``load(path)`` executes those cells, in order, in a
fresh namespace and returns it::

    ns = load("chapters/03_vae.ipynb")
    vae = ns["VAE"](ns["build_encoder"](2), ns["build_decoder"](2))
"""

import linecache
from pathlib import Path

import nbformat

TAG = "model-definition"


def load(path, tag=TAG, **values):
    """Execute the code cells of notebook ``path`` tagged ``tag`` and return their namespace (a dict).

    ``values`` are put in the namespace first: the settings that the tagged cells take from the notebook's
    hyperparameter cell (``load(path, LATENT_DIM=100)``).
    """
    path = Path(path)
    cells = [c for c in nbformat.read(path, as_version=4).cells
             if c.cell_type == "code" and tag in c.get("metadata", {}).get("tags", [])]
    if not cells:
        raise ValueError(f"{path} has no code cell tagged {tag!r}")
    namespace = {"__name__": f"model_cells_{path.stem}", **values}
    for number, cell in enumerate(cells):
        filename = f"{path.name}[{tag} cell {number}]"
        # Register the source so that tracebacks, inspect and TensorFlow's AutoGraph can read it.
        linecache.cache[filename] = (len(cell.source), None, cell.source.splitlines(True), filename)
        exec(compile(cell.source, filename, "exec"), namespace)  # noqa: S102 (our own notebook)
    return namespace
