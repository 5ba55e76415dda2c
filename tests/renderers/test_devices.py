"""The device facts: what a result records, how many images a batch holds, the matmul peak."""

from __future__ import annotations

import time

import keras

from gallery.renderers import devices


def test_this_machine_renders_on_its_cpu_and_says_so() -> None:
    assert devices.device() == "CPU"
    assert devices.configure() == "CPU"  # after TensorFlow started: its settings stand, no error


def test_a_batch_holds_what_the_memory_budget_holds_between_one_and_the_cap() -> None:
    budget, cap = devices.MEMORY_BUDGET_BYTES["CPU"], devices.MAX_BATCH["CPU"]
    assert devices.images_fitting(1.0) == cap
    assert devices.images_fitting(2 ** 24) == budget // (2 ** 24 * 4 * 3) == 5  # 4 bytes a float, three times
    assert devices.images_fitting(budget) == 1
    gpu_budget = devices.MEMORY_BUDGET_BYTES["GPU"]  # a GPU worker's batches, sized on a CPU driver
    assert devices.images_fitting(1.0, "GPU") == devices.MAX_BATCH["GPU"] > cap
    assert devices.images_fitting(2 ** 24, "GPU") == gpu_budget // (2 ** 24 * 4 * 3) == 85
    assert [devices.kind_of(name) for name in ("CPU", "GPU: NVIDIA H200", "GPU")] == ["CPU", "GPU", "GPU"]


def test_activation_floats_count_every_layer_output() -> None:
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs))
    assert devices.activation_floats(model) == 8 * 8 * 3 + 6 * 6 * 4


def test_the_matmul_peak_is_a_plausible_rate() -> None:
    assert 1e9 < devices.matmul_rate(size=256, repeats=3) < 1e14


def test_fastest_is_the_least_disturbed_call() -> None:
    pauses = iter([0.05, 0.01, 0.03])
    seconds = devices.fastest(lambda: time.sleep(next(pauses)), 3)
    assert 0.01 <= seconds < 0.03
