"""Which devices train the models: one, several GPUs, or several machines, with ``tf.distribute``.

The appendix "Training on many devices" teaches it; Chapters 3, 4 and 6 use it. Keras 3's own
``keras.distribution`` serves only the JAX and PyTorch backends, so with TensorFlow the engine is
``tf.distribute``, and :func:`strategy` picks its strategy once per process:

- ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` names several workers (several machines, or several
  processes on one machine), each with all of its GPUs (or its CPU);
- ``MirroredStrategy`` when this process sees several GPUs, or a CPU split into several logical devices
  (:func:`split_cpu`, as the appendix does);
- otherwise TensorFlow's default strategy: one device, and nothing changes.

A chapter builds and compiles its models under the strategy's scope and fits as before::

    with devices.scope():
        model = build_model(...)
        model.compile(...)
    model.fit(x, batch_size=BATCH_SIZE)  # BATCH_SIZE is the global batch, split over the replicas

Keras's own ``train_step`` scales the compiled loss and ``add_loss`` terms for the replicas. A custom
``train_step`` must do it itself (:func:`scale_loss`), and must draw its noise so that replicas do not
all draw the same rows (:func:`replica_rows`). On one device both return their input unchanged.
"""

import json
import os

_chosen = None  # the strategy picked for this process (MultiWorkerMirroredStrategy may be created only once)


def workers():
    """The number of workers that ``TF_CONFIG`` names (chief and workers), 1 without it."""
    try:
        cluster = json.loads(os.environ.get("TF_CONFIG", "") or "{}").get("cluster", {})
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not JSON: {error}") from None
    return max(1, len(cluster.get("worker", [])) + len(cluster.get("chief", [])))


def split_cpu(n):
    """Split the CPU into ``n`` logical devices, so that a machine without GPUs can train ``n`` replicas.

    Call it before TensorFlow runs anything (before the first tensor, model or :func:`strategy`).
    """
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
    except RuntimeError:
        if len(tf.config.list_logical_devices("CPU")) == n:
            return  # done already in this process (a notebook cell run twice)
        raise RuntimeError("split_cpu must run before TensorFlow is initialised: restart the kernel and call "
                           "it first") from None


def strategy():
    """The ``tf.distribute`` strategy for this process, picked on the first call and kept."""
    global _chosen
    if _chosen is None:
        import tensorflow as tf

        if workers() > 1:
            _chosen = tf.distribute.MultiWorkerMirroredStrategy()
            _chosen.reduce = _scalars_reduced(_chosen.reduce)
        else:
            gpus = tf.config.list_logical_devices("GPU")
            cpus = tf.config.list_logical_devices("CPU")
            if len(gpus) > 1:
                _chosen = tf.distribute.MirroredStrategy([d.name for d in gpus])
            elif not gpus and len(cpus) > 1:
                _chosen = tf.distribute.MirroredStrategy([d.name for d in cpus])
            else:
                _chosen = tf.distribute.get_strategy()  # the default: one device
        if _chosen.num_replicas_in_sync > 1 and tf.get_logger().level < 30:  # below WARNING
            tf.get_logger().setLevel("WARNING")  # not one INFO line per all-reduce in a page
    return _chosen


def _scalars_reduced(reduce):
    """``strategy.reduce`` that takes a scalar with ``axis=0`` as ``axis=None``.

    Keras 3's ``fit`` averages the scalar logs of a multi-worker step with ``reduce("MEAN", value, axis=0)``,
    which fails on a scalar ("Invalid reduction dimension 0 for input with 0 dimensions";
    tensorflow/tensorflow#72388, still so in Keras 3.15). A scalar has nothing to average along.
    """

    def scalar_safe(reduce_op, value, axis=None):
        import tensorflow as tf

        first = value.values[0] if isinstance(value, tf.distribute.DistributedValues) else value
        if axis is not None and getattr(first, "shape", None) is not None and first.shape.rank == 0:
            axis = None
        return reduce(reduce_op, value, axis=axis)

    return scalar_safe


def replicas():
    """How many replicas train in step (1 on one device)."""
    return strategy().num_replicas_in_sync


def scope():
    """The chosen strategy's scope: build and compile the models inside it (``with devices.scope():``)."""
    return strategy().scope()


def describe():
    """One sentence: which strategy trains, on how many replicas."""
    import tensorflow as tf

    chosen = strategy()
    n = chosen.num_replicas_in_sync
    if isinstance(chosen, tf.distribute.MultiWorkerMirroredStrategy):
        task = json.loads(os.environ["TF_CONFIG"]).get("task", {})
        where = f"{workers()} workers (this is {task.get('type', 'worker')} {task.get('index', 0)})"
        return f"Strategy: MultiWorkerMirroredStrategy, {n} replicas on {where}; batch sizes are global."
    if n > 1:
        names = ", ".join(d.split("device:")[-1] for d in chosen.extended.worker_devices)
        return f"Strategy: MirroredStrategy, {n} replicas ({names}); batch sizes are global."
    return "Strategy: one device (TensorFlow's default strategy)."


# ----------------------------------------------------------------------------- inside a custom train_step


def _layout(n):
    """(start, total): where this replica's ``n`` rows begin in the global batch, and its size; None alone."""
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    count = context.num_replicas_in_sync
    mine = tf.one_hot(context.replica_id_in_sync_group, count) * tf.cast(n, tf.float32)
    sizes = tf.cast(context.all_reduce(tf.distribute.ReduceOp.SUM, mine), tf.int32)  # every replica's rows
    before = tf.range(count) < context.replica_id_in_sync_group
    return tf.reduce_sum(tf.where(before, sizes, 0)), tf.reduce_sum(sizes)


def scale_loss(loss, n):
    """A replica's mean loss over its ``n`` rows, scaled to its share of the global batch: ``loss * n / N``.

    The strategy sums the replicas' gradients (all-reduce), so the sum of these shares is the mean over
    the global batch of ``N`` rows: the same gradient as one device with the whole batch. Report the
    unscaled loss; differentiate the scaled one.
    """
    layout = _layout(n)
    if layout is None:
        return loss
    import tensorflow as tf

    return loss * tf.cast(n, loss.dtype) / tf.cast(layout[1], loss.dtype)


def replica_rows(draw, n):
    """This replica's ``n`` rows of ``draw(N)``, a random draw of ``N`` rows for the whole global batch.

    Every replica reads the same random state, so a plain draw would give each replica the same noise;
    taking disjoint rows of one global draw gives them the rows one device would have drawn.
    ``draw(m)`` must return ``m`` rows, e.g. ``lambda m: keras.random.normal((m, d), seed=generator)``.
    """
    layout = _layout(n)
    if layout is None:
        return draw(n)
    start, total = layout
    return draw(total)[start:start + n]
