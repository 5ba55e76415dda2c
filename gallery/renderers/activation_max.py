"""Activation maximization engine: gradient ascent on the input, compiled once per (layer, setting).

The whole optimization (all steps) runs inside one `tf.function` over a batch of filters, each
image optimizing its own filter: no Python per step, so the convolutions run back to back and the
graph computes only the input's gradient, never the weights'; the target layer itself computes
only each image's own channel (objectives.own_units). The parts are Lucid's: a
parameterization (param.py) makes the image, random transforms (transforms.py) perturb it, the
objective (objectives.py) and the regularizers (regularizers.py) score it, an update rule
(optimizers.py) steps it; every step keeps the image inside `input_range`, so what is shown is
exactly what the network saw.

Regularizer weights only mean something relative to the activation, whose scale differs by layer
and unit. The objective is therefore measured in units of the unit's own response to noise (the
standard deviation of its pre-activation over uniform noise spanning the middle half of the input
range), and the regularizers see the image in units of the input range. keras-vis's default
weights then give images that beat the best real image on almost every unit, instead of
regularizer-dominated mush. Each result gets a convergence verdict (convergence.py); with
`retry: auto` the unconverged ones are re-rendered with the report's two-stage recipe.

With `diversity: N` each filter is optimized as N images in the same batch, from different
seeds, penalized for similar Gram matrices (objectives.diversity), and returned as one strip.
Lucid's examples take the Gram matrices at the visualized layer itself, but computing that layer
whole is what `own_units` saves; they are taken from what `below` computes instead, at no extra
forward cost: the target's input (the layer feeding it) where the target computes only each
image's own channel, otherwise the target's whole pre-activation output.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from gallery.config import Setting
from gallery.pixels import from_uint8, to_uint8
from gallery.renderers import convergence, objectives, receptive_field, transforms
from gallery.renderers.devices import activation_floats, device, images_fitting
from gallery.renderers.objectives import (
    OBJECTIVES,
    neuron,
    own_channel,
    own_units,
    reported,
    surrogate,
    truncated,
)
from gallery.renderers.optimizers import OPTIMIZERS
from gallery.renderers.param import PARAMS, Fourier, Pixel
from gallery.renderers.regularizers import REGULARIZERS

# Per step: the objective, each image prior, the diversity penalty (0 for one image per filter), their sum.
LOSS_NAMES = ("activation", *(prior.name for prior in REGULARIZERS), "diversity", "total")
TOTAL = LOSS_NAMES.index("total")
SCALE_SAMPLES = 16
NOISE_WIDTH = 0.5  # of the input range: noise for measuring a unit's response scale
RETRY_JITTER = 0.05  # the report's first fix: jitter 5% of the image, TV off; then TV back on
# Setting keys that do not change the compiled function.
NOT_COMPILED = {"seed", "steps", "max_steps", "note", "start_from", "retry", "preset"}
# steps: auto: every CHECK_EVERY steps from AUTO_FIRST_CHECK on, an image whose objective has levelled
# off (convergence.levelled) stops; the batch stops when all have.
CHECK_EVERY = 10
AUTO_FIRST_CHECK = 50


@dataclass(frozen=True)
class Rendered:
    """One filter's result.

    With `diversity: N` above 1 the filter is drawn as N images: `image` holds them side by side
    as one strip, N times as wide with no gap, and `activation`, `losses` and `status` are their
    means (the status judged on the mean curves), so a strip is stored, charted and judged as one
    picture.
    """

    image: np.ndarray  # uint8 [H, W * N, C], the optimized input mapped from input_range to 0-255
    activation: float  # objective of the returned image, without jitter
    losses: dict[str, list[float]]  # per step: weighted named losses, as keras-vis's verbose table
    seconds: float
    status: str  # convergence.STATUSES: converged, rising, regularizer-dominated or failed
    steps: int  # the steps taken (fewer than the setting's max_steps where steps: auto stopped it)
    retried_because: str | None = None  # with `retry: auto`: the first pass's status, when it was re-rendered
    device: str = "CPU"  # what rendered it (devices.device)


@dataclass(frozen=True)
class Pass:
    """One optimization of one filter (the mean of its `diversity` images), before its verdict."""

    image: np.ndarray
    activation: float  # reported objective of the returned image
    reported: list[float]  # per step: the reported objective (real activation, not the climbed one)
    losses: dict[str, list[float]]
    seconds: float

    def result(self, origin: Pass, setting: Setting) -> Rendered:
        """This pass as a result, judged from `origin` (itself, or the first stage of a retry)."""
        status = convergence.classify(self.losses, setting.direction * (self.activation - origin.reported[0]),
                                      start=-origin.losses["activation"][0])
        return Rendered(self.image, self.activation, self.losses, self.seconds, status, len(self.reported),
                        device=device())


@dataclass(frozen=True)
class OptimizedNetwork:
    """What a setting optimizes: the network below the target at some input shape, and how each
    image's own channel map (or unit) becomes one number."""

    model: keras.Model  # input -> what `select` reads
    shape: tuple[int, int, int]
    reduce: Callable[[tf.Tensor], tf.Tensor]


class ActivationMaximizer:
    """Optimizers for one network layer; compiled functions are cached and reused across filters."""

    def __init__(self, network: Any, layer: str, kind: str):
        """`kind`: what a filter index names in `layer`, a conv `channel` or a dense `unit`."""
        self.model = truncated(network, layer)
        self.kind = kind
        self.surrogate = surrogate(network, layer)
        self.reported = reported(network, layer)
        target = network.get_layer(layer)
        own = own_units(target)
        # `select`: (what `below` computes, filters) -> each image's own pre-activation map or unit.
        self.below = keras.Model(self.model.inputs, target.input if own else self.model.outputs[0])
        self.select = own or own_channel
        self.input_shape = tuple(int(d) for d in network.inputs[0].shape[1:])
        self._compiled: dict[tuple[Any, ...], Any] = {}
        self._networks: dict[str, OptimizedNetwork] = {}
        self._scales: dict[tuple[float, float], np.ndarray] = {}
        # Per objective, the images a batch held after an out-of-memory halving: no batch is larger from then on.
        self.fitting_images: dict[str, int] = {}

    def network(self, objective: str) -> OptimizedNetwork:
        """The setting's `objective`: `channel` (or a dense layer's unit) on the full input; `neuron` on
        its receptive field when the layers below are local (see receptive_field.py), else the centre
        unit on the full input."""
        if objective not in self._networks:
            self._networks[objective] = self._make_network(objective)
        return self._networks[objective]

    def _make_network(self, objective: str) -> OptimizedNetwork:
        if self.kind == "unit" or objective == "channel":
            return OptimizedNetwork(self.below, self.input_shape, OBJECTIVES[self.kind])
        window = receptive_field.window(self.model, self.model.outputs[0])
        if window is None:
            _, rows, cols, _ = self.model.outputs[0].shape
            return OptimizedNetwork(self.below, self.input_shape, neuron(rows // 2, cols // 2))
        shape = (*window.shape, self.input_shape[-1])
        inputs = keras.Input(shape)
        # `call`, not `__call__`: the same graph on a smaller input, past the model's own input check.
        return OptimizedNetwork(keras.Model(inputs, self.below.call([inputs])), shape, neuron(*window.unit))

    def batch_size(self, net: OptimizedNetwork, copies: int = 1, kind: str | None = None) -> int:
        """Filters per call: as many images as fit a memory budget (activations and their gradients),
        in whole groups of each filter's `copies` (at least one group, however large).

        Activations of a local layer stack scale with the input's area, so a `neuron` network on a
        small input takes larger batches. With copies, each image also holds a Gram matrix.
        """
        area = net.shape[0] * net.shape[1] / (self.input_shape[0] * self.input_shape[1])
        features = net.model.outputs[0].shape
        gram = features[-1] ** 2 if copies > 1 and len(features) > 2 else 0
        return max(1, images_fitting(activation_floats(self.model) * area + gram, kind) // copies)

    def chunk_size(self, setting: Setting, kind: str | None = None) -> int:
        """Filters per compiled call under `setting` on a device of `kind` (None: this process's): a
        distributed executor sends chunks of this size, so each chunk is a batch the local engine on
        that device would run, and gives the same pixels."""
        size = self.batch_size(self.network(setting.objective), setting.diversity, kind)
        fits = self.fitting_images.get(setting.objective)
        return size if fits is None else max(1, min(size, fits // setting.diversity))

    def render(self, filters: list[int], setting: Setting, input_range: tuple[float, float],
               starts: list[np.ndarray] | None = None) -> Iterator[Rendered]:
        """Results in the order of `filters`, yielded batch by batch so callers can store and report.

        `starts`: uint8 images to start from (a first pass's results), instead of noise; one of
        another size is centre-cropped or padded to this setting's input, and a strip (a
        diversity result) is split into its panels (`_start_params`).
        """
        first = 0
        while first < len(filters):
            size = self.chunk_size(setting)
            chunk = filters[first:first + size]
            try:
                results = self._chunk(chunk, setting, input_range,
                                      starts[first:first + size] if starts is not None else None)
            except tf.errors.ResourceExhaustedError:
                if len(chunk) == 1:
                    raise
                # out of device memory: half as many images, from now on
                self.fitting_images[setting.objective] = max(1, len(chunk) * setting.diversity // 2)
                continue
            first += len(chunk)
            yield from results

    def _chunk(self, filters: list[int], setting: Setting, input_range: tuple[float, float],
               starts: list[np.ndarray] | None) -> list[Rendered]:
        """One batch: from noise (or `starts`), optimized, judged, and re-rendered under `retry: auto`."""
        net = self.network(setting.objective)
        param = PARAMS[setting.param](net.shape, input_range)
        if starts is None:
            params = np.stack([param.start(seed, f) for seed, f in copy_seeds(setting, filters)])
            params = params.reshape(len(filters), setting.diversity, *param.param_shape)
        else:
            params = self._start_params(param, starts, net.shape, input_range, setting.diversity)
        passes = self._run(net, param, filters, setting, input_range, params)
        results = [one.result(one, setting) for one in passes]
        if setting.retry == "auto":
            results = self._retry(net, param, filters, setting, input_range, params, results)
        return results

    def _start_params(self, param: Pixel | Fourier, pixels: list[np.ndarray], shape: tuple[int, int, int],
                      input_range: tuple[float, float], copies: int) -> np.ndarray:
        """[filters, copies, *param_shape] from one uint8 start image per filter.

        A start as wide as k panels of this setting's aspect ratio side by side (a diversity
        result) is split into them and copy i starts from panel i mod k; any other start, a
        single image, starts every copy.
        """
        images = []
        for start in pixels:
            panels = np.split(start, strip_panels(start, shape), axis=1)
            images.extend(panels[copy % len(panels)] for copy in range(copies))
        params = param.from_images(self._from_pixels(images, shape, input_range)).numpy()
        return params.reshape(len(pixels), copies, *param.param_shape)

    @staticmethod
    def _from_pixels(pixels: list[np.ndarray], shape: tuple[int, int, int],
                     input_range: tuple[float, float]) -> tf.Tensor:
        images = [np.asarray(p, np.float32).reshape(*p.shape[:2], shape[-1]) for p in pixels]
        fitted = tf.stack([tf.image.resize_with_crop_or_pad(image, *shape[:2]) for image in images])
        return from_uint8(fitted, input_range)

    def _retry(self, net: OptimizedNetwork, param: Pixel | Fourier, filters: list[int], setting: Setting,
               input_range: tuple[float, float], params: np.ndarray, results: list[Rendered]) -> list[Rendered]:
        """The report's two-stage fix for the unconverged results: jitter 5% without TV from the same
        start, then the setting itself from that result. The losses of both stages are kept, and
        the verdict measures the second stage's gain from where the first one started."""
        again = [i for i, result in enumerate(results) if result.status != convergence.CONVERGED]
        if not again:
            return results
        loose = setting.model_copy(update={"jitter": RETRY_JITTER, "tv_weight": 0.0, "retry": "none"})
        firsts = self._run(net, param, [filters[i] for i in again], loose, input_range, params[again])
        seeded = self._start_params(param, [p.image for p in firsts], net.shape, input_range, setting.diversity)
        seconds = self._run(net, param, [filters[i] for i in again], setting, input_range, seeded)
        fixed = list(results)
        for i, first, second in zip(again, firsts, seconds):
            fixed[i] = replace(second.result(first, setting), retried_because=results[i].status,
                               losses={name: first.losses[name] + second.losses[name] for name in LOSS_NAMES},
                               seconds=first.seconds + second.seconds,
                               steps=len(first.reported) + len(second.reported))
        return fixed

    def _run(self, net: OptimizedNetwork, param: Pixel | Fourier, filters: list[int], setting: Setting,
             input_range: tuple[float, float], params: np.ndarray) -> list[Pass]:
        """One optimization of `filters`, each as `diversity` copies from params [filters, copies, ...]:
        per filter, its copies side by side and their mean numbers."""
        copies = setting.diversity
        optimize = self._function(net, param, setting, input_range)
        began = time.perf_counter()
        best, activation, history, reached = optimize(
            tf.constant(params.reshape(-1, *param.param_shape)), tf.constant(np.repeat(filters, copies), tf.int32),
            tf.constant(copy_seeds(setting, filters)), tf.constant(setting.step_budget),
            tf.constant(setting.steps == "auto")
        )
        seconds = (time.perf_counter() - began) / len(filters)
        low, high = input_range
        pixels = to_uint8(np.nan_to_num(best.numpy(), nan=low, posinf=high, neginf=low), input_range)
        height, width, channels = pixels.shape[1:]
        pixels = pixels.reshape(len(filters), copies, height, width, channels).transpose(0, 2, 1, 3, 4)
        pixels = pixels.reshape(len(filters), height, copies * width, channels)
        activation = activation.numpy().reshape(len(filters), copies).mean(axis=1)
        history = history.numpy()  # [steps, filters * copies, len(LOSS_NAMES) + 1 (reported)]
        history = history.reshape(history.shape[0], len(filters), copies, -1).mean(axis=2)
        reached = reached.numpy()[::copies]  # a filter's copies stop together
        return [
            Pass(pixels[i], float(activation[i]), [float(v) for v in history[:reached[i], i, -1]],
                 {name: [float(v) for v in history[:reached[i], i, k]] for k, name in enumerate(LOSS_NAMES)},
                 seconds)
            for i in range(len(filters))
        ]

    def unit_scale(self, input_range: tuple[float, float]) -> np.ndarray:
        """Per unit, the spread of its pre-activation over noise images: the objective's unit."""
        if input_range not in self._scales:
            low, high = input_range
            noise = np.random.default_rng(0).random((SCALE_SAMPLES, *self.input_shape)) - 0.5
            images = ((low + high) / 2 + noise * NOISE_WIDTH * (high - low)).astype(np.float32)
            features = self.model.predict(images, verbose=0)[0]
            spread = features.reshape(-1, features.shape[-1]).std(axis=0)
            self._scales[input_range] = np.maximum(spread, 1e-6).astype(np.float32)
        return self._scales[input_range]

    def _function(self, net: OptimizedNetwork, param: Pixel | Fourier, setting: Setting,
                  input_range: tuple[float, float]) -> Any:
        key = (tuple(setting.model_dump(exclude=NOT_COMPILED).items()), input_range)
        if key not in self._compiled:
            self._compiled[key] = self._compile(net, param, setting, input_range)
        return self._compiled[key]

    @staticmethod
    def _transform(setting: Setting, shape: tuple[int, int, int],
                   input_range: tuple[float, float]) -> transforms.Transform:
        height, width, _ = shape
        jitter = round(setting.jitter * min(height, width)) if setting.jitter < 1 else int(setting.jitter)
        return transforms.robustness(setting.pad, sum(input_range) / 2, jitter, setting.scale, setting.rotate,
                                     (height, width))

    def _compile(self, net: OptimizedNetwork, param: Pixel | Fourier, setting: Setting,
                 input_range: tuple[float, float]) -> Any:
        low, high = input_range
        model, select, reduce, climb, report = net.model, self.select, net.reduce, self.surrogate, self.reported
        copies = setting.diversity
        transform = self._transform(setting, net.shape, input_range)
        optimizer = OPTIMIZERS[setting.optimizer](setting.learning_rate * param.step_unit)
        weight = setting.activation_weight * (-1.0 if setting.negate else 1.0)
        scale = tf.constant(self.unit_scale(input_range))

        def losses_of(images: tf.Tensor, filters: tf.Tensor, seeds: tf.Tensor) -> tf.Tensor:
            """[batch, LOSS_NAMES + the reported objective] for one step."""
            features = model(transform(images, seeds), training=False)
            maps = select(features, filters)
            units = tf.reshape(tf.gather(scale, filters), [-1] + [1] * (len(maps.shape) - 1))
            named = [-weight * reduce(climb(maps) / units)]
            in_range_units = (images - low) / (high - low)
            for prior in REGULARIZERS:
                prior_weight = getattr(setting, prior.weight)
                named.append(prior_weight * prior.penalty(in_range_units, setting)
                             if prior_weight else tf.zeros_like(named[0]))
            named.append(setting.diversity_weight * objectives.diversity(features, copies)
                         if copies > 1 and setting.diversity_weight else tf.zeros_like(named[0]))
            named.append(tf.add_n(named))
            return tf.stack([*named, reduce(report(maps))], axis=1)

        def levelled_images(history: tf.TensorArray) -> tf.Tensor:
            """Per image, whether its filter's mean objective (over its copies) has levelled off."""
            progress = -history.stack()[:, :, 0]
            grouped = tf.reduce_mean(tf.reshape(progress, [tf.shape(progress)[0], -1, copies]), axis=2)
            done = tf.numpy_function(convergence.levelled, [grouped], tf.bool, stateful=False)
            return tf.repeat(tf.reshape(done, [-1]), copies)

        signature = [
            tf.TensorSpec([None, *param.param_shape], tf.float32),
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([None, 2], tf.int64),
            tf.TensorSpec([], tf.int32),
            tf.TensorSpec([], tf.bool),
        ]

        @tf.function(input_signature=signature)
        def optimize(params: tf.Tensor, filters: tf.Tensor, seeds: tf.Tensor, steps: tf.Tensor,
                     auto: tf.Tensor) -> tuple:
            """`auto`: stop each image once its objective has levelled off. A stopped image leaves the
            batch (`rows`: the images still optimized), so the steps after cost only what still rises."""
            count = tf.shape(filters)[0]
            state = optimizer.init(params)
            best = param.images(params)
            best_total = tf.fill([count], np.float32(np.inf))
            history = tf.TensorArray(tf.float32, size=0, dynamic_size=True)
            reached = tf.fill([count], steps)
            rows = tf.range(count)
            for step in tf.range(steps):
                tf.autograph.experimental.set_loop_options(shape_invariants=[
                    (params, tf.TensorShape([None, *param.param_shape])), (rows, tf.TensorShape([None])),
                    *[(one, tf.TensorShape([None, *param.param_shape])) for one in tf.nest.flatten(state)]])
                if tf.size(rows) == 0:
                    break
                step_seeds = tf.gather(seeds, rows) * 1_000_003 + tf.cast(step, tf.int64)
                with tf.GradientTape() as tape:
                    tape.watch(params)
                    images = param.images(params)
                    named = losses_of(images, tf.gather(filters, rows), step_seeds)
                    totals = named[:, TOTAL]
                    total = tf.reduce_sum(totals)
                history = history.write(step, tf.tensor_scatter_nd_update(  # keeps a loss of -0.0 as it is
                    tf.zeros([count, tf.shape(named)[1]]), rows[:, None], named))
                # A filter's copies are optimized together, so they are kept from the same step.
                group_totals = tf.repeat(tf.reduce_sum(tf.reshape(totals, [-1, copies]), axis=1), copies)
                improved = group_totals < tf.gather(best_total, rows)
                best = tf.tensor_scatter_nd_update(
                    best, rows[:, None], tf.where(improved[:, None, None, None], images, tf.gather(best, rows)))
                best_total = tf.tensor_scatter_nd_update(
                    best_total, rows[:, None], tf.where(improved, group_totals, tf.gather(best_total, rows)))
                delta, state = optimizer.update(tape.gradient(total, params), state, step)
                params = param.project(params - delta)
                if auto and (step + 1) % CHECK_EVERY == 0 and step + 1 >= AUTO_FIRST_CHECK:
                    stopping = tf.gather(levelled_images(history), rows)  # of the images still optimized
                    reached = tf.tensor_scatter_nd_update(
                        reached, rows[:, None], tf.where(stopping, step + 1, tf.gather(reached, rows)))
                    going = ~stopping
                    rows, params = tf.boolean_mask(rows, going), tf.boolean_mask(params, going)
                    state = tf.nest.map_structure(lambda one: tf.boolean_mask(one, going), state)
            final = reduce(report(select(model(best, training=False), filters)))
            return best, final, history.stack(), reached

        return optimize


def copy_seeds(setting: Setting, filters: list[int]) -> np.ndarray:
    """Per image, the [seed, filter] of its start and its transforms: [filters * copies, 2], a filter's
    copies adjacent. Copy k of `diversity` N uses seed * N + k: the copies start apart, two seeds
    never share a copy, and one image per filter keeps the seed itself."""
    copies = setting.diversity
    return np.array([[setting.seed * copies + copy, f] for f in filters for copy in range(copies)], dtype=np.int64)


def strip_panels(image: np.ndarray, shape: tuple[int, ...]) -> int:
    """How many panels of `shape`'s aspect ratio `image` holds side by side (1 for a single image)."""
    height, width = image.shape[:2]
    panels = round(width * shape[0] / (height * shape[1]))
    return panels if panels > 1 and width % panels == 0 else 1
