"""Time batched SmoothGrad and Score-CAM against the per-sample eager loops a user would write by hand
(a Python loop with one tf.GradientTape per noise sample, one forward pass per masked image), on
MobileNetV2 with random weights at 224x224; check both give the same maps; print times and ratios.

    python benchmarks/attribution.py [--samples 32] [--batch-size N] [--no-eager]

Both sides run the same model (pre-softmax scores, same noise, same channels: Score-CAM skips
constant channels on both sides), so the ratio measures batching and compilation only. Ours is
timed twice: the first call includes tracing its tf.functions, the second is what every later
image costs. Then every default method once more, warm, as seconds, images/s and a ratio to
Grad-CAM in the same run (Integrated Gradients: ig_steps passes; Occlusion: one pass per patch),
and, where tf-keras-vis is installed (`pip install tf-keras-vis==0.8.7`, for this script only), its
Gradcam, GradcamPlusPlus, Layercam, Scorecam and Saliency (plain and with smooth_samples) on the same
model, image and class, warm, with the ratio of their time to ours. On 2 CPU cores the whole run
takes about 9 minutes, most of it the eager Score-CAM loop (`--no-eager` leaves the loops out).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

INPUT_RANGE = (-1.0, 1.0)  # MobileNetV2's own input units
SIGMA = 0.15


def timed(function: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    began = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - began


def eager_smoothgrad(scores: Any, image: np.ndarray, target: int, noise: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    total = np.zeros_like(image)
    for sample in noise:
        batch = tf.constant((image + sample)[None])
        with tf.GradientTape() as tape:
            tape.watch(batch)
            score = scores(batch, training=False)[0, target]
        total += tape.gradient(score, batch).numpy()[0]
    return total / len(noise)


def eager_scorecam(network: Any, scores: Any, layer: str, image: np.ndarray, target: int) -> np.ndarray:
    import keras
    import tensorflow as tf

    activations = np.asarray(keras.Model(network.inputs[0], network.get_layer(layer).output)(image[None]))[0]
    baseline = float(scores(np.zeros_like(image)[None], training=False)[0, target])
    cam = np.zeros(activations.shape[:2], np.float32)
    for channel in range(activations.shape[-1]):
        if np.ptp(activations[..., channel]) == 0:
            continue
        mask = tf.image.resize(activations[None, ..., channel, None], image.shape[:2], "bilinear").numpy()[0]
        mask = (mask - mask.min()) / (mask.max() - mask.min())
        gain = float(scores((image * mask)[None], training=False)[0, target]) - baseline
        cam += gain * activations[..., channel]
    return tf.image.resize(cam[None, ..., None], image.shape[:2], "bilinear").numpy()[0, ..., 0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--batch-size", type=int, help="images per pass (default: what the memory budget holds)")
    parser.add_argument("--no-eager", action="store_true", help="leave out the hand-written eager loops")
    args = parser.parse_args()

    import keras

    from gallery.methods import DEFAULT_METHODS, METHODS, MethodOptions
    from gallery.renderers.attribution import Explainer, class_scores, top_k_classes

    keras.utils.set_random_seed(0)
    network = keras.applications.MobileNetV2(weights=None)
    image = np.random.default_rng(0).uniform(*INPUT_RANGE, (224, 224, 3)).astype(np.float32)
    (target,), _ = top_k_classes(network, image, 1)
    target = int(target)
    explainer = Explainer(network, input_range=INPUT_RANGE, batch_size=args.batch_size)
    scores = class_scores(network)
    layer = explainer.probe.layer
    activations = explainer.probe(image, [target]).activations
    live = int((np.ptp(activations, axis=(0, 1)) > 0).sum())
    noise = np.random.default_rng(0).normal(0, SIGMA * (INPUT_RANGE[1] - INPUT_RANGE[0]), (args.samples, *image.shape))

    def ours(method: str) -> Any:
        return explainer.explain(image, [target], [method],
                                 options=MethodOptions(samples=args.samples, sigma=SIGMA))[method, target]

    print(f"MobileNetV2 (random weights), 224x224, class {target}, {os.cpu_count()} CPUs, batch {explainer.batch_size}")
    rows = []
    loops = (("smoothgrad", lambda: eager_smoothgrad(scores, image, target, noise)),
             ("scorecam", lambda: eager_scorecam(network, scores, layer, image, target)))
    for method, eager in () if args.no_eager else loops:
        _, first = timed(ours, method)
        result, warm = timed(ours, method)
        reference, by_hand = timed(eager)
        ours_map = result.per_channel if method == "smoothgrad" else result.raw
        difference = np.abs(ours_map - reference).max() / np.abs(reference).max()
        rows.append((method, first, warm, by_hand, difference))
    print(f"Score-CAM on '{layer}': {live} of {activations.shape[-1]} channels not constant, one masked pass each")
    if rows:
        print(f"{'':<16}{'ours, 1st call':>15}{'ours':>10}{'eager loop':>12}{'eager/ours':>12}{'eager/1st':>11}"
              f"{'max rel. diff':>15}")
    for method, first, warm, by_hand, difference in rows:
        name = f"{method} n={args.samples}" if method == "smoothgrad" else method
        print(f"{name:<16}{first:>13.2f} s{warm:>8.2f} s{by_hand:>10.2f} s{by_hand / warm:>11.1f}x"
              f"{by_hand / first:>10.1f}x{difference:>15.1e}")

    # Every default method on the same image and class, warm, against Grad-CAM in this run.
    times = {}
    for method in DEFAULT_METHODS:
        timed(ours, method)
        times[method] = timed(ours, method)[1]
    theirs = baseline(network, image, target, layer, args.samples)
    print(f"\n{'method (warm)':<24}{'seconds':>9}{'images/s':>10}{'x Grad-CAM':>12}"
          + (f"{'tf-keras-vis':>14}{'theirs/ours':>13}" if theirs else ""))
    for method, seconds in times.items():
        line = f"{METHODS[method].label:<24}{seconds:>9.2f}{1 / seconds:>10.2f}{seconds / times['gradcam']:>11.1f}x"
        if method in theirs:
            line += f"{theirs[method]:>12.2f} s{theirs[method] / seconds:>12.1f}x"
        print(line)
    if not theirs:
        print("(tf-keras-vis is not installed: pip install tf-keras-vis==0.8.7 for its column)")


def baseline(network: Any, image: np.ndarray, target: int, layer: str, samples: int) -> dict[str, float]:
    """tf-keras-vis 0.8.7's warm seconds per method on the same job (its second call: the first traces),
    by our method ids; {} when it is not installed."""
    try:
        from tf_keras_vis.gradcam import Gradcam
        from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
        from tf_keras_vis.layercam import Layercam
        from tf_keras_vis.saliency import Saliency
        from tf_keras_vis.scorecam import Scorecam
        from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
        from tf_keras_vis.utils.scores import CategoricalScore
    except ImportError:
        return {}
    score, seed = CategoricalScore(target), image[None]

    def cam(kind: Any) -> Callable[[], Any]:
        visualizer = kind(network, model_modifier=ReplaceToLinear())  # its own linear copy, made untimed
        return lambda: visualizer(score, seed, penultimate_layer=layer)

    saliency = Saliency(network, model_modifier=ReplaceToLinear())
    calls = {"gradcam": cam(Gradcam), "gradcam_plus_plus": cam(GradcamPlusPlus), "layercam": cam(Layercam),
             "scorecam": cam(Scorecam), "saliency": lambda: saliency(score, seed),
             "smoothgrad": lambda: saliency(score, seed, smooth_samples=samples, smooth_noise=SIGMA)}
    found = {}
    for method, call in calls.items():
        call()
        found[method] = timed(call)[1]
    return found


if __name__ == "__main__":
    main()
