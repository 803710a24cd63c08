"""The run profile: how much compute a notebook may spend.

Chapter 1 introduces it. Every notebook states its sizes in one cell near the top::

    from gdl.budget import budget
    EPOCHS = budget(smoke=1, cpu=10, gpu=60)

The profile comes from the environment variable ``GDL_PROFILE``:

- ``smoke``: seconds per notebook; the tests use it. Results are not meaningful.
- ``cpu``: minutes per chapter on a laptop; results are recognisable.
- ``gpu``: full training for the best results.

Without ``GDL_PROFILE`` the profile is ``gpu`` when TensorFlow sees a GPU, else ``cpu``.
"""

import os

PROFILES = ("smoke", "cpu", "gpu")
ENV_VAR = "GDL_PROFILE"


def _gpu_visible():
    try:
        import tensorflow as tf
    except ImportError:
        return False
    return bool(tf.config.list_physical_devices("GPU"))


def profile():
    """Return the active profile name: ``"smoke"``, ``"cpu"`` or ``"gpu"``."""
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if not value:
        return "gpu" if _gpu_visible() else "cpu"
    if value not in PROFILES:
        raise ValueError(
            f"{ENV_VAR}={os.environ[ENV_VAR]!r} is not a profile; use one of {', '.join(PROFILES)} "
            f"(or leave it unset to pick gpu or cpu from the hardware)."
        )
    return value


def budget(*, smoke, cpu, gpu):
    """Pick the value for the active profile, e.g. ``budget(smoke=1, cpu=10, gpu=60)``."""
    return {"smoke": smoke, "cpu": cpu, "gpu": gpu}[profile()]


def describe():
    """Which profile is active and why, and which devices train (``gdl.devices``): a notebook's first output."""
    from gdl import devices

    name = profile()
    reason = f"set by {ENV_VAR}" if os.environ.get(ENV_VAR, "").strip() else "chosen from the hardware"
    return f"Run profile: {name} ({reason}; set {ENV_VAR}=smoke|cpu|gpu to change it).\n{devices.describe()}"
