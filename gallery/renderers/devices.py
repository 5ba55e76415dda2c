"""The device a process renders on: its threads, whether it sees a GPU, memory growth on that GPU,
and how many images a batch on it holds.

TensorFlow fixes all of these when it runs its first operation, so `configure` is called before
any (a Ray worker's first line); later it only reports. TensorFlow does not read Ray's
OMP_NUM_THREADS, and Ray no longer hides GPUs from an actor that asked for none: both are set here.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

# A batch's memory budget and largest size: on a GPU a batch starts large and callers halve it on
# out-of-memory (keeping the size that fit); on a CPU, larger batches gain nothing.
MEMORY_BUDGET_BYTES = {"CPU": 1 << 30, "GPU": 16 << 30}
MAX_BATCH = {"CPU": 64, "GPU": 1024}


def configure(threads: int | None = None, gpu: bool = True) -> str:
    """Set this process's threads (None: TensorFlow's default) and GPU use; returns `device()`."""
    try:
        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        gpus = tf.config.list_physical_devices("GPU")
        if not gpu:
            tf.config.set_visible_devices([], "GPU")
        else:
            for card in gpus:  # take memory as batches need it, not the whole card at start
                tf.config.experimental.set_memory_growth(card, True)
    except RuntimeError:
        pass  # TensorFlow already started in this process: its settings stand
    return device()


@functools.cache
def device() -> str:
    """What this process renders on, as results record it: "CPU" or "GPU: <name>" (fixed once TensorFlow runs)."""
    visible = tf.config.get_visible_devices("GPU")
    if not visible:
        return "CPU"
    name = tf.config.experimental.get_device_details(visible[0]).get("device_name", "")
    return f"GPU: {name}" if name else "GPU"


def matmul_rate(size: int = 1024, repeats: int = 10) -> float:
    """This device's float32 FLOP/s on square matmuls, the best of a few timed runs (about 0.2 s on 2
    cores): the peak gallery.estimate's shares are of."""
    a = tf.random.uniform((size, size))
    product = tf.function(lambda x: tf.linalg.matmul(x, x))
    product(a).numpy()  # trace and warm up
    return 2 * size ** 3 / fastest(lambda: product(a).numpy(), repeats)


def fastest(run: Callable[[], object], repeats: int) -> float:
    """Seconds of the fastest of `repeats` calls of `run`: the one least disturbed by other work on the machine."""
    seconds = []
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - began)
    return min(seconds)


def activation_floats(model: Any) -> int:
    """Floats one image's forward pass through `model` keeps (every layer's output)."""
    return sum(int(np.prod([d or 1 for d in layer.output.shape[1:]])) for layer in model.layers)


def kind_of(device_name: str) -> str:
    """"CPU" or "GPU", the key of MEMORY_BUDGET_BYTES and MAX_BATCH, of a `device()` string."""
    return "CPU" if device_name == "CPU" else "GPU"


def images_fitting(floats_per_image: float, kind: str | None = None) -> int:
    """Images a batch on a device of `kind` (None: this process's) holds when each keeps
    `floats_per_image` floats, with their gradients and the work space between (three times that):
    at least 1. A Ray driver sizes a GPU worker's chunks by its kind, not by the driver's own."""
    kind = kind or kind_of(device())
    return int(np.clip(MEMORY_BUDGET_BYTES[kind] // (floats_per_image * 4 * 3), 1, MAX_BATCH[kind]))
