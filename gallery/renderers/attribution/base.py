"""The attribution pipeline every method plugs into, as pytorch-grad-cam's BaseCAM owns its own.

A `Method` turns one image and K classes into raw maps [K, H, W] (and, for gradient methods, the
signed gradient per input channel [K, H, W, C]). Two families share most of the work:

- `GradientMethod`: differentiate the class score with respect to the input; a variant only says
  how to get `batch_gradients` for a batch of (image, class) pairs, so a wrapper (SmoothGrad)
  can apply to any of them. Their map is the largest absolute gradient over the input channels,
  Simonyan's choice (`reduce`: Integrated Gradients sums them, signed).
- `BaseCAM`: weigh the channels of one spatial layer and sum them; a variant only says how a
  channel is weighed (`weights`: one weight per channel, or per position and channel as LayerCAM).
  `LayerProbe` gets the layer's activations and the class gradients in one pass, shared by every
  CAM of the same image (`Job.probed`).
- Occlusion is a `Method` of its own: forward passes only.

A map's faithfulness (deletion and insertion, `faithfulness.py`) is measured on its raw map.

Scores are pre-softmax (pre-sigmoid), read without changing the network (see
`objectives.truncated`): a softmax probability can rise by lowering the other classes, and a
saturated one has no gradient left. Every map is upsampled to the input size (bilinear), ReLU'd and
divided by its maximum; a map with no positive value stays all-zero and says so
(`Attribution.empty`), so a page can say "no positive evidence" instead of a blank heatmap.

Passes are batched: for K classes the image is repeated K times and each copy differentiates its
own class, so one forward and one backward pass serve every class. Each kind of pass is one
`tf.function`, traced once per `Explainer` and reused across images.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import matplotlib
import numpy as np
import tensorflow as tf

from gallery.methods import METHODS, MethodOptions
from gallery.models.describe import attribution_layer, is_squashing, scoring_layer
from gallery.pixels import shown, to_uint8
from gallery.renderers.devices import activation_floats, images_fitting
from gallery.renderers.objectives import truncated

CLASSES_SPEC = tf.TensorSpec([None], tf.int32)

Raw = tuple[np.ndarray, np.ndarray | None]  # maps [K, H, W] and, for gradient methods, per channel [K, H, W, C]


@dataclass(frozen=True)
class Attribution:
    method: str
    target: int  # class index
    raw: np.ndarray  # float [H, W]: the method's map at input size, before ReLU and normalisation
    heatmap: np.ndarray  # float [H, W] in [0, 1]: ReLU'd and divided by its maximum
    gray: np.ndarray  # uint8 [H, W]: the heatmap, PNG-ready
    overlay: np.ndarray  # uint8 [H, W, 3]: the heatmap through the colormap, blended over the image
    empty: bool  # no positive evidence: heatmap, gray are all zero
    per_channel: np.ndarray | None = None  # float [H, W, C], gradient methods: signed, per input channel

    @property
    def channel_share(self) -> np.ndarray | None:
        """Each input channel's share of the absolute attribution (gradient methods): which colour mattered."""
        if self.per_channel is None:
            return None
        totals = np.abs(self.per_channel).sum(axis=(0, 1))
        return totals / totals.sum() if totals.any() else totals


@dataclass(frozen=True)
class Probed:
    """One image seen from a layer, for K classes."""

    activations: np.ndarray  # [h, w, C]
    gradients: np.ndarray  # [K, h, w, C]: of each class score with respect to the activations


def class_count(network: Any) -> int:
    """The classes a network's output tells apart: one per unit, and two for a single unit (a binary
    classifier: class 1 is the unit, class 0 its opposite, as Keras's binary labels count them)."""
    units = int(network.outputs[0].shape[-1])
    return 2 if units == 1 else units


def class_scores(network: Any) -> keras.Model:
    """`network` with the pre-softmax (pre-sigmoid) scores of its last layer as output, one per class
    (a single unit's score z as [-z, z], so its opposite class has a map too); `network` is unchanged."""
    scores = truncated(network, scoring_layer(network).name).outputs[1]
    if scores.shape[-1] == 1:
        scores = keras.layers.Concatenate(name="opposite_and_unit")([-scores, scores])
    return keras.Model(network.inputs[0], scores)


def default_target_layer(network: Any) -> str:
    """The model's default CAM layer (models.describe.attribution_layer); an error where it has none."""
    layer = attribution_layer(network)
    if layer is None:
        raise ValueError(f"model '{network.name}' has no layer with a spatial (rank-4) output")
    return layer


def probabilities(network: Any, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Class probabilities [N, classes]: the network's own output where it ends in softmax or sigmoid,
    else a softmax of it; a single unit's p (its sigmoid, where its output is a score) as [1 - p, p]."""
    output = batched(lambda chunk: network(chunk, training=False), batch_size,
                     as_input(network, images)).astype(np.float64)
    squashed = is_squashing(scoring_layer(network))
    if output.shape[-1] == 1:
        unit = output if squashed else 1 / (1 + np.exp(-output))
        return np.concatenate([1 - unit, unit], axis=-1)
    if not squashed:
        output = np.exp(output - output.max(axis=-1, keepdims=True))
        output /= output.sum(axis=-1, keepdims=True)
    return output


def top_k_classes(network: Any, image: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """The `k` most probable classes, best first, and their probabilities (see `probabilities`)."""
    output = probabilities(network, image[None])[0]
    order = np.argsort(-output, kind="stable")[:k]
    return order, output[order]


def as_input(network: Any, images: np.ndarray) -> np.ndarray:
    return np.asarray(images, network.inputs[0].dtype)


def input_spec(network: Any, batched: bool = True) -> tf.TensorSpec:
    shape = list(network.inputs[0].shape[1:])
    return tf.TensorSpec([None, *shape] if batched else shape, network.inputs[0].dtype)


def chosen(scores: tf.Tensor, classes: tf.Tensor) -> tf.Tensor:
    """Each image's own class score: `scores` [B, classes], `classes` [B]."""
    return tf.gather(scores, classes, axis=1, batch_dims=1)


def batched(function: Callable[..., tf.Tensor], batch_size: int, *arrays: np.ndarray) -> np.ndarray:
    """`function` over `arrays`, `batch_size` rows at a time, results concatenated; on out-of-memory,
    half as many rows at a time from there on (down to one)."""
    results, start = [], 0
    while start < len(arrays[0]):
        try:
            results.append(function(*(array[start:start + batch_size] for array in arrays)).numpy())
        except tf.errors.ResourceExhaustedError:
            if batch_size == 1:
                raise
            batch_size //= 2
            continue
        start += len(results[-1])
    return np.concatenate(results)


def upsample(maps: Any, size: Any) -> tf.Tensor:
    """Maps [N, h, w] to [N, *size], bilinear with half-pixel centres (as cv2 and PyTorch), in their own dtype."""
    return tf.cast(tf.image.resize(maps[..., None], size, "bilinear")[..., 0], maps.dtype)


def normalize(raw: np.ndarray) -> np.ndarray:
    """ReLU, then each map [..., H, W] over its maximum; an all-zero map stays all-zero."""
    positive = np.maximum(raw, 0)
    peak = positive.max(axis=(-2, -1), keepdims=True)
    return np.divide(positive, peak, out=np.zeros_like(positive), where=peak > 0)


def displayable(image: np.ndarray, input_range: tuple[float, float]) -> np.ndarray:
    """The image [H, W, C] in the network's input units as uint8 RGB: one channel (or two: luminance and
    alpha) as gray, three as they are, more as their first three (see pixels.shown)."""
    return shown(to_uint8(np.asarray(image, np.float64), input_range))


def attribution(method: str, target: int, raw: np.ndarray, per_channel: np.ndarray | None, display: np.ndarray,
                colormap: str = "jet", alpha: float = 0.4) -> Attribution:
    """A raw map [H, W] made presentable: normalised, as PNG-ready gray and as an overlay on `display`."""
    heatmap = normalize(raw)
    colours = matplotlib.colormaps[colormap](heatmap, bytes=True)[..., :3]
    overlay = np.round((1 - alpha) * display + alpha * colours).astype(np.uint8)
    return Attribution(method, target, raw, heatmap, np.round(heatmap * 255).astype(np.uint8), overlay,
                       not heatmap.any(), per_channel)


class InputGradients:
    """Gradients of class scores with respect to the input, `batch_size` images per compiled call."""

    def __init__(self, network: Any, batch_size: int = 32):
        self.network, self.batch_size = network, batch_size
        model = class_scores(network)

        @tf.function(input_signature=[input_spec(network), CLASSES_SPEC])
        def gradients(images: tf.Tensor, classes: tf.Tensor) -> tf.Tensor:
            with tf.GradientTape() as tape:
                tape.watch(images)
                scores = chosen(model(images, training=False), classes)
            return tape.gradient(scores, images)

        self._gradients = gradients

    def __call__(self, images: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """d score[classes[i]] / d images[i] for each i: [N, H, W, C]."""
        return batched(self._gradients, self.batch_size, as_input(self.network, images),
                       np.asarray(classes, np.int32))


class LayerProbe:
    """One spatial layer of a network: its activations on an image and the gradients of K class scores
    with respect to them, from one forward and one backward pass over K copies of the image."""

    def __init__(self, network: Any, layer: str | None = None):
        self.network = network
        self.layer = layer or default_target_layer(network)
        self.scores = class_scores(network)
        model = keras.Model(network.inputs[0], [network.get_layer(self.layer).output, self.scores.outputs[0]])

        @tf.function(input_signature=[input_spec(network), CLASSES_SPEC])
        def probe(images: tf.Tensor, classes: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            with tf.GradientTape() as tape:
                activations, scores = model(images, training=False)
                picked = chosen(scores, classes)
            return activations, tape.gradient(picked, activations)

        self._probe = probe

    def __call__(self, image: np.ndarray, classes: Sequence[int]) -> Probed:
        copies = np.repeat(as_input(self.network, image)[None], len(classes), axis=0)
        activations, gradients = self._probe(copies, np.asarray(classes, np.int32))
        return Probed(activations.numpy()[0], gradients.numpy())


class Job:
    """One image and its classes: each method computed at most once, the layer pass shared by the CAMs,
    and one method's result available to another (Guided Grad-CAM combines two)."""

    def __init__(self, explainer: Explainer, image: np.ndarray, classes: np.ndarray, options: MethodOptions):
        self.explainer, self.image, self.classes, self.options = explainer, image, classes, options
        self._done: dict[str, Raw] = {}

    @functools.cached_property
    def probed(self) -> Probed:
        return self.explainer.probe(self.image, self.classes)

    def raw(self, method: str) -> Raw:
        if method not in self._done:
            self._done[method] = self.explainer.method(method).compute(self)
        return self._done[method]


class Method:
    """One attribution method of one `Explainer`: raw maps for a job's image and classes."""

    def __init__(self, explainer: Explainer):
        self.explainer = explainer

    def compute(self, job: Job) -> Raw:
        raise NotImplementedError


def by_channel(gradients: np.ndarray) -> Raw:
    """A gradient method's map: the largest absolute value over input channels."""
    return np.abs(gradients).max(axis=-1), gradients


class GradientMethod(Method):
    """A map from gradients with respect to the input; variants override `batch_gradients`."""

    def batch_gradients(self, images: np.ndarray, classes: np.ndarray, options: MethodOptions) -> np.ndarray:
        """d score[classes[i]] / d images[i] for a batch (or the method's own per-channel attribution): [N, H, W, C]."""
        raise NotImplementedError

    def gradients(self, job: Job) -> np.ndarray:
        """Per class of the job, its gradient on the job's image: [K, H, W, C]."""
        return self.batch_gradients(np.repeat(job.image[None], len(job.classes), axis=0), job.classes, job.options)

    def reduce(self, per_channel: np.ndarray) -> Raw:
        """Maps [K, H, W] from per-channel attributions [K, H, W, C], and those kept beside them."""
        return by_channel(per_channel)

    def compute(self, job: Job) -> Raw:
        return self.reduce(self.gradients(job))


class BaseCAM(Method):
    """Class activation maps: the probe layer's channels, weighed per class and summed.

    Variants only override `weights`; every CAM of one image shares the job's layer pass.
    """

    def weights(self, probed: Probed, image: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """Channel weights [K, C], or per position and channel [K, h, w, C]."""
        raise NotImplementedError

    def maps(self, image: np.ndarray, classes: Sequence[int], probed: Probed | None = None) -> np.ndarray:
        """Raw maps [K, H, W]: upsampled to the input size, before ReLU and normalisation."""
        classes = np.asarray(classes, np.int32)
        if probed is None:
            probed = self.explainer.probe(image, classes)
        weights = self.weights(probed, image, classes)
        cams = np.einsum("hwc,kc->khw" if weights.ndim == 2 else "hwc,khwc->khw", probed.activations, weights)
        return upsample(cams, image.shape[:2]).numpy()

    def compute(self, job: Job) -> Raw:
        return self.maps(job.image, job.classes, job.probed), None


class Explainer:
    """Every method for one network: compiled passes are traced once and reused across images.

    `input_range`: the pixel range of the network's input, for the overlay and for SmoothGrad's noise.
    Methods come from the registry (gallery.methods) and are built on first use.
    """

    def __init__(self, network: Any, target_layer: str | None = None,
                 input_range: tuple[float, float] = (0.0, 1.0), batch_size: int | None = None):
        """`batch_size`: images per compiled pass (Score-CAM's masked images, occlusion's patches, every
        gradient batch); default: as many as the device's memory budget holds (devices.images_fitting)."""
        batch_size = batch_size or images_fitting(activation_floats(network))
        self.network, self.input_range, self.batch_size = network, input_range, batch_size
        self.probe = LayerProbe(network, target_layer)
        self.gradients = InputGradients(network, batch_size)
        self._methods: dict[str, Method] = {}

    def method(self, name: str) -> Method:
        """The registered method `name`, built once; a wrapper gets the method it wraps."""
        if name not in self._methods:
            info = METHODS[name]
            module, _, attribute = info.implementation.partition(":")
            kind = getattr(importlib.import_module(module), attribute)
            self._methods[name] = kind(self, self.method(info.wraps)) if info.wraps else kind(self)
        return self._methods[name]

    def explain(self, image: np.ndarray, classes: Sequence[int], methods: Sequence[str] = tuple(METHODS), *,
                options: MethodOptions = MethodOptions(), colormap: str = "jet",
                alpha: float = 0.4) -> dict[tuple[str, int], Attribution]:
        """Every (method, class) for one image [H, W, C] in the network's input units.

        `options`: the methods' keys (SmoothGrad's noise, Integrated Gradients' steps, the baseline,
        occlusion's window). Overlay: the heatmap through `colormap`, blended over the image with
        weight `alpha`.
        """
        unknown = sorted(set(methods) - set(METHODS))
        if unknown:
            raise ValueError(f"unknown attribution methods {unknown}; known: {', '.join(METHODS)}")
        job = Job(self, as_input(self.network, image), np.asarray(classes, np.int32), options)
        display = displayable(image, self.input_range)
        results = {}
        for method in methods:
            maps, per_channel = job.raw(method)
            for k, target in enumerate(job.classes):
                results[method, int(target)] = attribution(
                    method, int(target), maps[k], None if per_channel is None else per_channel[k], display,
                    colormap, alpha)
        return results
