"""Activation maximization speed: our engine against tf-keras-vis 0.8.7 on the same job, in one run.

    pip install tf-keras-vis==0.8.7     # the baseline, for this script only (not a dependency)
    python benchmarks/activation_max.py [--filters 16] [--size 128] [--steps 64] [--rounds 4]

The job: VGG16 (random weights) cut at block3_conv3, one image per filter, `--size` square RGB
inputs in 0-255, `--steps` gradient steps, 4 px jitter, TV (beta 1) and Lp (p = 6) regularizers,
both weighted 10. Both start from noise 5% of the range wide around its middle, and both run one
untimed 1-step call first, so neither pays its one-time costs (tracing, kernel selection) in the
timed runs. The steps are split into `--rounds` runs that alternate between the two engines, so a
burst of other work on a shared machine slows both alike; the fastest round of each is printed too.

It prints both wall times, their ratio per image-step, the float32 matmul peak of this machine
measured in the same run, and the conv FLOP/s our engine reaches against it, counting the work
it does (each image's own channel of the target layer, forward and input gradient). It then times
the `neuron` objective, which renders the centre unit at its receptive field's size, against the
`channel` objective at the full input size.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from gallery.config import Setting  # noqa: E402
from gallery.renderers.activation_max import ActivationMaximizer  # noqa: E402
from gallery.renderers.devices import fastest  # noqa: E402

LAYER = "block3_conv3"
INPUT_RANGE = (0.0, 255.0)
JITTER = 4
WEIGHT = 10.0
P = 6


def matmul_peak() -> float:
    """float32 FLOP/s of a large compiled matmul: what this CPU's BLAS reaches at best."""
    rates = []
    for n in (2048, 4096):
        a, b = tf.random.normal([n, n]), tf.random.normal([n, n])
        product = tf.function(lambda x, y: tf.reduce_sum(tf.matmul(x, y)))
        product(a, b).numpy()
        rates.append(2 * n**3 / fastest(lambda: product(a, b).numpy(), 3))
    return max(rates)


def vgg16(size: int) -> keras.Model:
    return keras.applications.VGG16(weights=None, include_top=False, input_shape=(size, size, 3))


def conv_flops(network: keras.Model, layer: str, own_channel: bool = False) -> float:
    """Multiply-adds x 2 of every convolution up to `layer`, for one image's forward pass;
    `own_channel`: `layer` itself for one output channel only, as our engine computes it."""
    total = 0.0
    for each in network.layers:
        if isinstance(each, keras.layers.Conv2D):
            _, height, width, out_channels = each.output.shape
            kernel_h, kernel_w = each.kernel_size
            flops = 2.0 * height * width * kernel_h * kernel_w * each.input.shape[-1] * out_channels
            total += flops / out_channels if own_channel and each.name == layer else flops
        if each.name == layer:
            return total
    raise KeyError(layer)


def backward_share(network: keras.Model, images: tf.Tensor, compiled: bool) -> float:
    """Time of a forward + input-gradient pass over a forward pass alone, compiled or eager.

    About 2 means no weight gradients are computed (only the input's are needed), so the conv
    work is twice the forward FLOPs; about 3 or more means they are, as in training.
    """
    cut = keras.Model(network.inputs, network.get_layer(LAYER).output)

    def forward(x: tf.Tensor) -> tf.Tensor:
        return tf.reduce_sum(cut(x, training=False))

    def forward_backward(x: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = forward(x)
        return tape.gradient(total, x)

    passes = [tf.function(f) if compiled else f for f in (forward_backward, forward)]
    for run in passes:
        run(images).numpy()
    both, alone = (fastest(lambda run=run: run(images).numpy(), 5) for run in passes)
    return both / alone


def setting(steps: int, objective: str = "channel") -> Setting:
    return Setting(steps=steps, jitter=JITTER, lp_norm_weight=WEIGHT, lp_p=P, tv_weight=WEIGHT, tv_beta=1.0,
                   objective=objective)


class Ours:
    """Our engine on the job; the first call compiles (untimed, one step)."""

    def __init__(self, network: keras.Model, filters: list[int], objective: str = "channel"):
        self.engine = ActivationMaximizer(network, LAYER, "channel")
        self.filters, self.objective = filters, objective
        self.shape = self.engine.network(objective).shape
        self(1)

    def __call__(self, steps: int) -> float:
        """Mean final activation of a run of `steps` steps from the start images."""
        results = self.engine.render(self.filters, setting(steps, self.objective), INPUT_RANGE)
        return float(np.mean([r.activation for r in results]))


class Theirs:
    """tf-keras-vis's ActivationMaximization on the same job and start images."""

    def __init__(self, network: keras.Model, filters: list[int], starts: np.ndarray):
        from tf_keras_vis.activation_maximization import ActivationMaximization

        self.cut = keras.Model(network.inputs, network.get_layer(LAYER).output)
        self.chosen = tf.one_hot(filters, self.cut.output.shape[-1])
        self.maximize = ActivationMaximization(self.cut, clone=False)
        self.starts = tf.constant(starts)
        self(1)

    def score(self, features: tf.Tensor) -> tf.Tensor:
        return tf.reduce_sum(tf.reduce_mean(features, axis=[1, 2]) * self.chosen, axis=1)

    def __call__(self, steps: int) -> float:
        from tf_keras_vis.activation_maximization.input_modifiers import Jitter
        from tf_keras_vis.activation_maximization.regularizers import Norm, TotalVariation2D

        images = self.maximize(self.score, seed_input=self.starts, input_range=INPUT_RANGE, steps=steps,
                               input_modifiers=[Jitter(jitter=JITTER)],
                               regularizers=[TotalVariation2D(weight=WEIGHT), Norm(weight=WEIGHT, p=P)])
        return float(self.score(self.cut(images, training=False)).numpy().mean())


def interleaved(runners: dict[str, Callable[[int], float]], steps: int,
                rounds: int) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Per runner, the seconds of each of `rounds` alternating runs of steps/rounds steps, and the
    mean activation its last run reached. Other work on the machine then slows both sides alike."""
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    activations = dict.fromkeys(runners, 0.0)
    for round_index in range(rounds):
        for name in list(runners) if round_index % 2 == 0 else list(reversed(runners)):
            began = time.perf_counter()
            activations[name] = runners[name](steps // rounds)
            seconds[name].append(time.perf_counter() - began)
    return seconds, activations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--filters", type=int, default=16)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=4, help="alternating runs of steps/rounds steps each")
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    network = vgg16(args.size)
    filters = list(range(args.filters))
    steps = args.steps // args.rounds * args.rounds
    image_steps = args.filters * steps
    rng = np.random.default_rng(0)
    starts = (127.5 + (rng.random((args.filters, args.size, args.size, 3)) - 0.5) * 0.05 * 255).astype(np.float32)

    print(f"VGG16 (random weights) cut at {LAYER}, {args.filters} filters, {args.size}x{args.size}x3, "
          f"{steps} steps in {args.rounds} alternating rounds, jitter {JITTER} px, TV + L{P} weighted {WEIGHT:g}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, TF {tf.__version__}")
    first_peak = matmul_peak()

    ours, theirs = Ours(network, filters), Theirs(network, filters, starts)
    rounds, activations = interleaved({"ours": ours, "tf-keras-vis": theirs}, steps, args.rounds)
    seconds = {name: sum(times) for name, times in rounds.items()}
    for name, total in seconds.items():
        print(f"{name:13s} {total:7.1f} s  {total / image_steps * 1e3:7.1f} ms per image-step, fastest round "
              f"{min(rounds[name]) / (image_steps / args.rounds) * 1e3:6.1f}  "
              f"(mean channel activation after a {steps // args.rounds}-step run: {activations[name]:.3g})")
    print(f"ratio per image-step: ours is {seconds['tf-keras-vis'] / seconds['ours']:.2f}x faster in total, "
          f"{min(rounds['tf-keras-vis']) / min(rounds['ours']):.2f}x between the fastest rounds (goal: >= 2x)")
    per_step = {"in total": seconds["ours"] / steps, "in the fastest round": min(rounds["ours"]) * args.rounds / steps}

    neuron = Ours(network, filters, "neuron")
    rounds, _ = interleaved({"neuron": neuron, "channel": ours}, steps, 2)
    seconds = {name: sum(times) for name, times in rounds.items()}
    rows, cols, _ = neuron.shape
    whole, own = conv_flops(network, LAYER), conv_flops(network, LAYER, own_channel=True)
    print(f"neuron objective (centre unit of {LAYER}) rendered at its receptive field, {rows}x{cols} instead of "
          f"{args.size}x{args.size}: {seconds['neuron'] / image_steps * 1e3:.1f} against "
          f"{seconds['channel'] / image_steps * 1e3:.1f} ms per image-step for the channel objective, "
          f"{seconds['channel'] / seconds['neuron']:.1f}x faster "
          f"(conv FLOPs {own / conv_flops(vgg16(rows), LAYER, own_channel=True):.1f}x fewer)")

    compiled, eager = (backward_share(network, tf.constant(starts), mode) for mode in (True, False))
    print(f"conv work per image forward: {whole / 1e9:.2f} GFLOP through the whole of {LAYER}, {own / 1e9:.2f} "
          f"GFLOP with {LAYER} computed for each image's own channel only (ours)")
    print(f"a forward + input-gradient pass takes {compiled:.2f}x a forward pass compiled (no weight gradients), "
          f"{eager:.2f}x eager (as tf-keras-vis runs it)")
    last_peak = matmul_peak()
    peak = max(first_peak, last_peak)
    print(f"float32 matmul peak (compiled tf.matmul, best of 2048/4096): {first_peak / 1e9:.1f} GFLOP/s at the start, "
          f"{last_peak / 1e9:.1f} at the end (load average {os.getloadavg()[0]:.1f}); the higher one is the peak")
    for label, time_per_step in per_step.items():
        executed = 2 * own * args.filters / time_per_step
        print(f"ours reaches {executed / 1e9:.1f} GFLOP/s = {executed / peak:.0%} of the matmul peak {label}, counting "
              f"the conv work it does (forward + input gradient = 2x forward); counted as training a whole layer "
              f"(3x forward through all of {LAYER}): {3 * whole * args.filters / time_per_step / 1e9:.1f} GFLOP/s")

if __name__ == "__main__":
    main()
