"""The Ray executor's scaling, measured here, and what a whole-network atlas would take on a cluster.

    pip install -e ".[ray]"
    python benchmarks/scale.py [--cache .gallery-cache] [--filters 64] [--chunk 16]

1. Executors on the same job, in one run: MNIST conv2d_2, `--filters` filters under keras-vis's
   200-step default, cut into chunks of `--chunk` images (the engine's batch, lowered so that two
   actors have chunks to share). Each executor runs the job six times: the first run pays start-up
   and compiling, the fastest of the other five is the chunk time. Printed: Ray with 1 actor
   (all cores) against the local executor, the two taking turns run by run; 2 actors of 1 core
   against 1 actor of 1 core; and the estimate's prediction of the 2-actor run from the 1-actor
   measurements (start-up + compile + chunks shared by 2), against the measured run.
2. gallery.estimate's model against one warm chunk of one layer of EfficientNet-Lite0 and of
   ResNet50 (random weights: speed does not depend on them), at this machine's matmul peak.
3. Its estimates of an atlas of every conv channel of both networks, 200 steps each, on N = 1..64
   nodes like this one, and on 1..8 GPUs at an assumed matmul peak: no GPU was measured here (pass
   --gpu-peak with devices.matmul_rate() measured on one).

Trained MNIST weights come from `--cache` (trained there if missing).
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import ray  # noqa: E402

from gallery import config, estimate, models  # noqa: E402
from gallery.config import Setting  # noqa: E402
from gallery.executor import LocalExecutor, RenderTask  # noqa: E402
from gallery.executor.ray import NICENESS, RayExecutor  # noqa: E402
from gallery.models import describe, efficientnet_lite  # noqa: E402
from gallery.renderers import activation_max  # noqa: E402
from gallery.renderers.devices import matmul_rate  # noqa: E402

MNIST = Path(__file__).resolve().parents[1] / "configs" / "mnist.yaml"
WHOLE_STEPS = 200
WARM_RUNS = 5


def timed(executors: list[LocalExecutor | RayExecutor], tasks: list[RenderTask],
          chunk: int) -> list[tuple[float, float, float]]:
    """Per executor, (start-up, first run, fastest of the warm runs) seconds on the job, in batches of
    `chunk` (a Ray driver cuts chunks by its local engine's batch; workers keep them whole). The
    executors take turns run by run, so a slow spell of the machine slows each of them alike, and the
    fastest run counts, as a burst of other work on a shared machine only ever slows a run down."""
    starts = []
    for executor in executors:
        local = executor.local if isinstance(executor, RayExecutor) else executor
        for task in tasks:
            local.engine(task).fitting_images[task.setting.objective] = chunk
        began = time.perf_counter()
        if isinstance(executor, RayExecutor):
            executor._start()
        starts.append(time.perf_counter() - began)
    runs: list[list[float]] = [[] for _ in executors]
    for _ in range(1 + WARM_RUNS):
        for executor, seconds in zip(executors, runs):
            began = time.perf_counter()
            done = sum(1 for _ in executor.run(tasks))
            seconds.append(time.perf_counter() - began)
            assert done == sum(len(task.filters) for task in tasks)
    return [(start, seconds[0], min(seconds[1:])) for start, seconds in zip(starts, runs)]


def on_ray(cpus: int, actors: int | None, loaded: dict[str, models.LoadedModel], tasks: list[RenderTask],
           chunk: int, beside: LocalExecutor | None = None) -> list[tuple[float, float, float]]:
    """`timed` of a Ray executor on a new local cluster of `cpus` (and of `beside`, taking turns with it)."""
    os.environ.setdefault("RAY_worker_niceness", NICENESS)  # as a cluster gallery starts
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    executor = RayExecutor(loaded, actors=actors)
    try:
        return timed([executor] + ([beside] if beside else []), tasks, chunk)
    finally:
        executor.close()
        ray.shutdown()


def executors(cache: Path, filters: int, chunk: int) -> None:
    loaded_config = config.load(MNIST)
    spec = loaded_config.config.models[0]
    loaded = {spec.id: models.load(spec, loaded_config, cache)}
    tasks = [RenderTask(spec.id, "conv2d_2", "channel", Setting(), loaded[spec.id].input_range,
                        tuple(range(filters)))]
    chunks = math.ceil(filters / chunk)
    (_, _, one_all), (_, local_first, local) = on_ray(os.cpu_count() or 2, None, loaded, tasks, chunk,
                                                      beside=LocalExecutor(loaded))
    [(start_1, first_1, one)] = on_ray(1, None, loaded, tasks, chunk)
    [(start_2, first_2, two)] = on_ray(2, 2, loaded, tasks, chunk)
    compile_1 = first_1 - one
    predicted = start_1 + compile_1 + math.ceil(chunks / 2) * one / chunks
    print(f"job: MNIST conv2d_2, {filters} filters x 200 steps in {chunks} chunks of {chunk}")
    print(f"  local executor: {local:.2f} s warm ({local_first:.2f} s with compiling)")
    print(f"  Ray, 1 actor on all cores: {one_all:.2f} s warm: {local / one_all:.2f}x the local speed")
    print(f"  Ray, 1 actor on 1 core: {one:.2f} s warm, {first_1:.2f} s first (start-up {start_1:.2f} s)")
    print(f"  Ray, 2 actors on 1 core each: {two:.2f} s warm: {one / two:.2f}x 1 actor")
    measured = start_2 + first_2
    print(f"  estimate, 2 actors from the 1-actor run (start-up + compile + chunks shared by 2): "
          f"{predicted:.2f} s predicted, {measured:.2f} s measured: {(predicted - measured) / measured:+.1%}")


def checked(network: keras.Model, layer: str, images: int, steps: int, peak: float) -> tuple[float, float]:
    """(measured, estimated) seconds of one warm chunk: the estimate from gallery.estimate at `peak`."""
    engine = activation_max.ActivationMaximizer(network, layer, "channel")
    setting = Setting(steps=steps)
    list(engine.render(list(range(images)), setting.model_copy(update={"steps": 2}), (0.0, 1.0)))  # compile
    began = time.perf_counter()
    list(engine.render(list(range(images)), setting, (0.0, 1.0)))
    measured = time.perf_counter() - began
    one = estimate.picture_cost(describe(network.name, network, {}), layer, setting)
    return measured, one.times(images).seconds(peak, compile_seconds=0)  # warm: nothing left to compile


def whole_network(info: models.ModelInfo) -> estimate.Cost:
    """Every channel of every Conv2D, one picture each at WHOLE_STEPS steps."""
    setting = Setting(steps=WHOLE_STEPS)
    return sum((estimate.picture_cost(info, layer.name, setting).times(layer.units) for layer in info.layers
                if layer.type == "Conv2D" and layer.units), estimate.NOTHING)


def atlases(gpu_peak: float, compile_seconds: float | None) -> None:
    peak = matmul_rate()
    print(f"float32 matmul peak here: {peak / 1e9:.1f} GFLOP/s")
    lite = efficientnet_lite.build_network()
    resnet = keras.applications.ResNet50(weights=None)
    for name, network, layer, steps in (("EfficientNet-Lite0", lite, "stage4_block3_add", 20),
                                        ("ResNet50", resnet, "conv4_block3_out", 10)):
        measured, estimated = checked(network, layer, 4, steps, peak)
        print(f"{name} {layer}, 4 images x {steps} steps: {measured:.2f} s measured, {estimated:.2f} s "
              f"estimated ({(estimated - measured) / measured:+.0%})")
    for name, network in (("EfficientNet-Lite0", lite), ("ResNet50", resnet)):
        whole = whole_network(describe(network.name, network, {}))
        cpu = {nodes: whole.seconds(peak, nodes, compile_seconds) for nodes in (1, 2, 4, 8, 16, 32, 64)}
        gpu = {cards: whole.seconds(gpu_peak, cards, compile_seconds) for cards in (1, 2, 4, 8)}
        print(f"{name}, every conv channel ({whole.images:,} pictures, {whole.layers} layers, "
              f"{whole.flops / 1e15:.1f} PFLOP at {WHOLE_STEPS} steps):")
        print("  CPU nodes like this one: " + ", ".join(f"{n}: {estimate.duration(s)}" for n, s in cpu.items()))
        print(f"  GPUs at an assumed matmul peak of {gpu_peak / 1e12:.0f} TFLOP/s each (unmeasured): "
              + ", ".join(f"{n}: {estimate.duration(s)}" for n, s in gpu.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=Path(".gallery-cache"))
    parser.add_argument("--filters", type=int, default=64)
    parser.add_argument("--chunk", type=int, default=16)
    parser.add_argument("--gpu-peak", type=float, default=50e12,
                        help="float32 matmul FLOP/s per GPU for the estimates (devices.matmul_rate there)")
    parser.add_argument("--compile-seconds", type=float, default=None,
                        help="per layer and worker, for the whole-network estimates (default: estimated "
                             "from each layer's depth, gallery.estimate.compile_seconds)")
    args = parser.parse_args()
    executors(args.cache, args.filters, args.chunk)
    atlases(args.gpu_peak, args.compile_seconds)


if __name__ == "__main__":
    main()
