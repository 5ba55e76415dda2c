"""Activation maximization engine: gradient ascent on the input, compiled once per (layer, setting).

The whole optimization (all steps) runs inside one `tf.function` over a batch of filters, each
image optimizing its own filter: no Python per step, and a compiled step reaches most of this
CPU's peak where an eager loop reaches less than half. The update is keras-vis's: the gradient is
L2-normalized per image and scaled RMSProp-style; unlike keras-vis, every step projects the image
back into `input_range`, so what is shown is exactly what the network saw.

Regularizer weights only mean something relative to the activation, whose scale differs by layer
and unit. The objective is therefore measured in units of the unit's own response to noise (the
standard deviation of its pre-activation over uniform noise spanning the middle half of the input
range), and the regularizers see the image in units of the input range. keras-vis's default
weights then give images that beat the best real image on almost every unit, instead of
regularizer-dominated mush.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from gallery.config import Setting
from gallery.renderers import regularizers, transforms
from gallery.renderers.objectives import OBJECTIVES, surrogate, truncated

LOSS_NAMES = ("activation", "lp_norm", "tv", "total")
MEMORY_BUDGET_BYTES = 1 << 30
MAX_BATCH = 64
SCALE_SAMPLES = 16
NOISE_WIDTH = 0.5  # of the input range: noise for measuring a unit's response scale
RMS_DECAY = 0.95
EPSILON = 1e-7


@dataclass(frozen=True)
class Rendered:
    image: np.ndarray  # uint8 [H, W, C], the optimized input mapped from input_range to 0-255
    activation: float  # objective of the returned image, without jitter
    losses: dict[str, list[float]]  # per step: weighted named losses, as keras-vis's verbose table
    seconds: float


class ActivationMaximizer:
    """Optimizers for one network layer; compiled functions are cached and reused across filters."""

    def __init__(self, network: Any, layer: str, objective: str):
        self.model = truncated(network, layer)
        self.objective = OBJECTIVES[objective]
        self.surrogate = surrogate(network, layer)
        self.input_shape = tuple(int(d) for d in network.inputs[0].shape[1:])
        self._compiled: dict[tuple[Any, ...], Any] = {}

    @property
    def batch_size(self) -> int:
        """Images per call: as many as fit a memory budget (activations and their gradients)."""
        floats = sum(int(np.prod([d or 1 for d in layer.output.shape[1:]])) for layer in self.model.layers)
        return int(np.clip(MEMORY_BUDGET_BYTES // (floats * 4 * 3), 1, MAX_BATCH))

    def reference(self, images: np.ndarray) -> np.ndarray:
        """Per filter, the highest objective value over real images: what a visualization should beat."""
        features = self.model.predict(images, batch_size=256, verbose=0)[1]
        if features.ndim == 4:
            features = features.mean(axis=(1, 2))
        return features.max(axis=0)

    def render(self, filters: list[int], setting: Setting, input_range: tuple[float, float],
               starts: list[np.ndarray] | None = None) -> Iterator[Rendered]:
        """Results in the order of `filters`, yielded batch by batch so callers can store and report.

        `starts`: uint8 images to start from (a first pass's results), instead of noise.
        """
        for first in range(0, len(filters), self.batch_size):
            chunk = slice(first, first + self.batch_size)
            yield from self._render_batch(filters[chunk], setting, input_range, starts[chunk] if starts else None)

    def _render_batch(self, filters: list[int], setting: Setting, input_range: tuple[float, float],
                      start_pixels: list[np.ndarray] | None) -> list[Rendered]:
        low, high = input_range
        if start_pixels is None:
            starts = np.stack([self._start_image(setting.seed, f, low, high) for f in filters])
        else:
            pixels = np.stack(start_pixels).astype(np.float32).reshape(len(filters), *self.input_shape)
            starts = (low + pixels / 255.0 * (high - low)).astype(np.float32)
        seeds = np.array([[setting.seed, f] for f in filters], dtype=np.int64)
        optimize = self._function(setting, input_range)
        began = time.perf_counter()
        best, activation, losses = optimize(
            tf.constant(starts), tf.constant(filters, tf.int32), tf.constant(seeds), tf.constant(setting.steps)
        )
        seconds = (time.perf_counter() - began) / len(filters)
        pixels = np.round((best.numpy() - low) / (high - low) * 255.0).clip(0, 255).astype(np.uint8)
        losses = losses.numpy()  # [steps, batch, len(LOSS_NAMES)]
        return [
            Rendered(
                pixels[i], float(activation[i]),
                {name: [float(v) for v in losses[:, i, k]] for k, name in enumerate(LOSS_NAMES)},
                seconds,
            )
            for i in range(len(filters))
        ]

    def unit_scale(self, input_range: tuple[float, float]) -> np.ndarray:
        """Per unit, the spread of its pre-activation over noise images: the objective's unit."""
        low, high = input_range
        noise = np.random.default_rng(0).random((SCALE_SAMPLES, *self.input_shape)) - 0.5
        images = ((low + high) / 2 + noise * NOISE_WIDTH * (high - low)).astype(np.float32)
        features = self.model.predict(images, verbose=0)[0]
        spread = features.reshape(-1, features.shape[-1]).std(axis=0)
        return np.maximum(spread, 1e-6).astype(np.float32)

    def _start_image(self, seed: int, filter_index: int, low: float, high: float) -> np.ndarray:
        """keras-vis's start: uniform noise of width 5% of the range around its middle."""
        noise = np.random.default_rng([seed, filter_index]).random(self.input_shape) - 0.5
        return ((low + high) / 2 + noise * 0.05 * (high - low)).astype(np.float32)

    def _function(self, setting: Setting, input_range: tuple[float, float]) -> Any:
        key = (tuple(setting.model_dump(exclude={"seed", "steps", "note"}).items()), input_range)
        if key not in self._compiled:
            self._compiled[key] = self._compile(setting, input_range)
        return self._compiled[key]

    def _compile(self, setting: Setting, input_range: tuple[float, float]) -> Any:
        low, high = input_range
        height, width, _ = self.input_shape
        jitter = int(round(setting.jitter * min(height, width))) if setting.jitter < 1 else int(setting.jitter)
        step_size = setting.learning_rate * (high - low)
        model, objective, climb = self.model, self.objective, self.surrogate
        scale = tf.constant(self.unit_scale(input_range))

        def losses_of(images: tf.Tensor, filters: tf.Tensor, seeds: tf.Tensor) -> tf.Tensor:
            features, _ = model(transforms.jitter(images, jitter, seeds), training=False)
            named = [-setting.activation_weight * objective(climb(features) / scale, filters)]
            in_range_units = (images - low) / (high - low)
            named.append(setting.lp_norm_weight * regularizers.lp_norm(in_range_units, setting.lp_p)
                         if setting.lp_norm_weight else tf.zeros_like(named[0]))
            named.append(setting.tv_weight * regularizers.total_variation(in_range_units, setting.tv_beta)
                         if setting.tv_weight else tf.zeros_like(named[0]))
            named.append(tf.add_n(named))
            return tf.stack(named, axis=1)  # [batch, len(LOSS_NAMES)]

        signature = [
            tf.TensorSpec([None, *self.input_shape], tf.float32),
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([None, 2], tf.int64),
            tf.TensorSpec([], tf.int32),
        ]

        @tf.function(input_signature=signature)
        def optimize(images: tf.Tensor, filters: tf.Tensor, seeds: tf.Tensor, steps: tf.Tensor) -> tuple:
            rms = tf.zeros_like(images)
            best, best_total = images, tf.fill(tf.shape(filters), np.float32(np.inf))
            history = tf.TensorArray(tf.float32, size=steps)
            for step in tf.range(steps):
                step_seeds = seeds * 1_000_003 + tf.cast(step, tf.int64)
                with tf.GradientTape() as tape:
                    tape.watch(images)
                    named = losses_of(images, filters, step_seeds)
                    total = tf.reduce_sum(named[:, -1])
                history = history.write(step, named)
                improved = named[:, -1] < best_total
                best = tf.where(improved[:, None, None, None], images, best)
                best_total = tf.where(improved, named[:, -1], best_total)
                gradient = tape.gradient(total, images)
                norms = tf.sqrt(tf.reduce_sum(tf.square(gradient), axis=[1, 2, 3], keepdims=True))
                gradient = gradient / (norms + EPSILON)
                rms = RMS_DECAY * rms + (1 - RMS_DECAY) * tf.square(gradient)
                images = tf.clip_by_value(images - step_size * gradient / tf.sqrt(rms + EPSILON), low, high)
            final = objective(model(best, training=False)[1], filters)
            return best, final, history.stack()

        return optimize
