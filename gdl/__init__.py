"""Helpers for the course *Generative Deep Learning with Python*.

Small modules with one job each; import what you use, e.g. ``from gdl import data, plot``.

- ``gdl.budget``: the run profile (smoke, cpu, gpu) and ``budget(...)`` for per-profile sizes.
- ``gdl.data``: MNIST, Fashion-MNIST, rendered letters and 2-D toy data sets, offline-first.
- ``gdl.plot``: the figures the chapters draw again and again.
- ``gdl.widgets``: interactive controls that still leave a static figure in the built book.
- ``gdl.metrics``: what the chapters measure (negative ELBO and importance-weighted NLL in nats).
- ``gdl.latent``: the autoencoder code space that Chapters 6 and 9 share, trained once and cached.
- ``gdl.checks``: the graded-exercise checks, one module per chapter.
- ``gdl.grade``: grades submitted exercise notebooks (``python -m gdl.grade``) and shows a learner's standing.
- ``gdl.glue``: numbers from the run, glued into the prose.
- ``gdl.report``: report cards, each chapter's samples and numbers for Chapter 10's bench.
- ``gdl.progress``: one line per training run instead of per-epoch logs.

Importing ``gdl`` imports nothing heavy; TensorFlow is only imported where it is needed.
"""

__version__ = "0.1.0"
