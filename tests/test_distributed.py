"""Data parallelism (``gdl.devices``, the appendix "Training on many devices"): the chapters' models trained by
``tf.distribute`` give the weights that one device gives.

1. ``MirroredStrategy`` on the CPU split into 2 logical devices: one step of Chapter 3's VAE, Chapter 4's
   DCGAN-style GAN (its custom step with the R1 penalty, the EMA generator and batch normalisation;
   unconditional and class-conditional) and Chapter 6's U-Net diffusion model with global batch B equals one
   step on one device with batch B. SGD, because Adam's first step, lr * g / |g|, would hide a gradient off by
   the number of replicas.
2. ``MultiWorkerMirroredStrategy``: two worker processes on 127.0.0.1 (``TF_CONFIG``) train the VAE a few
   steps; both end with the same weights, equal to one process with the same global batch.

Split devices and ``TF_CONFIG`` must be in place before TensorFlow starts, so each run is a fresh process: this
file, run as a script (``mirrored``, ``worker`` or ``single``).
"""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENV = {"KERAS_BACKEND": "tensorflow", "CUDA_VISIBLE_DEVICES": "-1", "TF_CPP_MIN_LOG_LEVEL": "2",
       "TF_ENABLE_ONEDNN_OPTS": "0", "PYTHONPATH": str(ROOT), "GDL_PROFILE": "smoke"}
BATCH = 16  # the global batch of every check
TOLERANCE = dict(rtol=1e-4, atol=1e-5)
WORKER_STEPS = 3
WORKER_TIMEOUT = 120  # seconds for the two workers together


# ----------------------------------------------------------------------------- run in the child processes


def _chapter(name, **values):
    from tools import model_cells

    return model_cells.load(ROOT / "chapters" / name, **values)


def _weights(model):
    return [v.numpy() for v in model.weights]


def _vae(ns, latent_dim=4):
    import keras

    vae = ns["VAE"](ns["build_encoder"](latent_dim, hidden=(32,)), ns["build_decoder"](latent_dim, hidden=(32,)))
    vae.compile(optimizer=keras.optimizers.SGD(0.1))
    return vae


def _gan(ns, num_classes):
    import keras

    gan = ns["GAN"](ns["dcgan_generator"](8, width=8, num_classes=num_classes),
                    ns["dcgan_discriminator"](width=8, num_classes=num_classes), 8, label_smoothing=0.1,
                    ema_decay=0.999, r1_weight=5.0)
    gan.compile(d_optimizer=keras.optimizers.SGD(0.1), g_optimizer=keras.optimizers.SGD(0.1), jit_compile=False)
    return gan


def _diffusion(ns):
    import keras
    import numpy as np

    diffusion = ns["Diffusion"](ns["build_unet"]((8, 16)), np.linspace(1e-4, 0.02, 100), seed=0, target="v")
    diffusion.compile(optimizer=keras.optimizers.SGD(0.1, use_ema=True, ema_momentum=0.9), jit_compile=False)
    return diffusion


def _cases():
    """(name, build, data): build() makes a compiled model; data are fit's arguments."""
    import numpy as np

    rng = np.random.default_rng(0)
    vae_ns, gan_ns, diffusion_ns = _chapter("03_vae.ipynb"), _chapter("04_gans.ipynb"), _chapter("06_diffusion.ipynb")
    binary = (rng.uniform(size=(BATCH, 784)) < 0.3).astype("float32")
    images = rng.uniform(-1, 1, (BATCH, 28, 28, 1)).astype("float32")
    labels = (np.arange(BATCH) % 10).astype("int32")
    return [("Chapter 3 VAE", lambda: _vae(vae_ns), (binary,)),
            ("Chapter 4 DCGAN-style GAN", lambda: _gan(gan_ns, None), (images,)),
            ("Chapter 4 conditional GAN", lambda: _gan(gan_ns, 10), (images, labels)),
            ("Chapter 6 U-Net diffusion", lambda: _diffusion(diffusion_ns), (images,))]


def mirrored():
    """One step on one device and one under MirroredStrategy on 2 logical CPUs; report the largest differences."""
    from gdl import devices

    devices.split_cpu(2)
    import keras
    import numpy as np
    import tensorflow as tf

    strategy = devices.strategy()
    assert isinstance(strategy, tf.distribute.MirroredStrategy) and strategy.num_replicas_in_sync == 2, strategy
    report = {"describe": devices.describe()}
    for name, build, data in _cases():
        results = []
        for context in (tf.distribute.get_strategy().scope, strategy.scope):  # one device, then two replicas
            keras.utils.set_random_seed(0)
            with context():
                model = build()
            before = _weights(model)
            model.fit(*data, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
            results.append((before, _weights(model)))
        (start_1, end_1), (start_2, end_2) = results
        assert len(end_1) == len(end_2)
        assert all(np.array_equal(a, b) for a, b in zip(start_1, start_2)), f"{name}: different initial weights"
        moved = max(float(np.max(np.abs(b - a))) for a, b in zip(start_1, end_1) if a.dtype.kind == "f")
        worst = 0.0
        for a, b in zip(end_1, end_2):
            if not np.allclose(a, b, **TOLERANCE):
                worst = max(worst, float(np.max(np.abs(a - b))))
        report[name] = {"largest step": moved, "largest mismatch": worst}
    print(json.dumps(report))


def _vae_run(strategy):
    """A few steps of the VAE under ``strategy`` on a fixed data set; its weights."""
    import keras
    import numpy as np

    ns = _chapter("03_vae.ipynb")
    x = (np.random.default_rng(1).uniform(size=(WORKER_STEPS * BATCH, 784)) < 0.3).astype("float32")
    keras.utils.set_random_seed(0)
    with strategy.scope():
        vae = _vae(ns)
    vae.fit(x, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    return [w.tolist() for w in vae.get_weights()], int(vae.optimizer.iterations.numpy())


def worker(out):
    """One of two workers (TF_CONFIG set by the test): MultiWorkerMirroredStrategy picked by gdl.devices."""
    import tensorflow as tf

    from gdl import devices

    strategy = devices.strategy()
    assert isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy), strategy
    weights, steps = _vae_run(strategy)
    Path(out).write_text(json.dumps({"describe": devices.describe(), "replicas": strategy.num_replicas_in_sync,
                                     "steps": steps, "weights": weights}))


def single(out):
    import tensorflow as tf

    weights, steps = _vae_run(tf.distribute.get_strategy())
    Path(out).write_text(json.dumps({"steps": steps, "weights": weights}))


# ----------------------------------------------------------------------------- the tests


def _run(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, __file__, *args], env={**os.environ, **ENV, **(env or {})}, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def test_one_step_under_mirrored_strategy_equals_one_step_on_one_device():
    start = time.perf_counter()
    result = _run("mirrored")
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"{time.perf_counter() - start:.1f} s: {report}")
    assert report.pop("describe").startswith("Strategy: MirroredStrategy, 2 replicas")
    for name, found in report.items():
        assert found["largest step"] > 1e-4, f"{name}: the step did not move the weights"
        assert found["largest mismatch"] == 0.0, f"{name}: two replicas differ from one device: {found}"


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def test_two_workers_on_loopback_train_like_one_process(tmp_path):
    import numpy as np

    start = time.perf_counter()
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    processes = []
    try:
        for index in range(2):
            config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
            env = {**os.environ, **ENV, "TF_CONFIG": json.dumps(config)}
            processes.append(subprocess.Popen([sys.executable, __file__, "worker", str(tmp_path / f"w{index}.json")],
                                              env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                              text=True))
        deadline = time.monotonic() + WORKER_TIMEOUT
        for p in processes:
            try:
                _, err = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pytest.fail(f"the workers did not finish in {WORKER_TIMEOUT} s")
            assert p.returncode == 0, err[-4000:]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
    result = _run("single", str(tmp_path / "single.json"))
    assert result.returncode == 0, result.stderr[-4000:]
    runs = [json.loads((tmp_path / f"{name}.json").read_text()) for name in ("w0", "w1", "single")]
    print(f"{time.perf_counter() - start:.1f} s: {runs[0]['describe']}")
    assert runs[0]["describe"].startswith("Strategy: MultiWorkerMirroredStrategy, 2 replicas on 2 workers")
    assert [r["steps"] for r in runs] == [WORKER_STEPS] * 3
    (w0, w1, one) = ([np.array(w) for w in r["weights"]] for r in runs)
    assert all(np.array_equal(a, b) for a, b in zip(w0, w1)), "the two workers ended with different weights"
    mismatch = [i for i, (a, b) in enumerate(zip(w0, one)) if not np.allclose(a, b, **TOLERANCE)]
    assert not mismatch, f"weights {mismatch}: two workers differ from one process with the same global batch"


if __name__ == "__main__":
    {"mirrored": mirrored, "worker": worker, "single": single}[sys.argv[1]](*sys.argv[2:])
