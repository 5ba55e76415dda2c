"""Attribution: which pixels of one image a class score depends on, by seven methods.

Gradient methods differentiate the class score with respect to the input: vanilla saliency
(Simonyan et al. 2013), SmoothGrad (the gradient averaged over noisy copies of the image, Smilkov
et al. 2017) and guided backprop (Springenberg et al. 2015). Their map is the largest absolute
gradient over the input channels, Simonyan's choice; `Attribution.per_channel` keeps the signed
gradient of each channel.

CAM methods weigh the channels of one spatial layer and sum them, as pytorch-grad-cam does:
`LayerProbe` gets the layer's activations and the class gradients in one pass, and each `BaseCAM`
variant only says how a channel is weighed: Grad-CAM by its mean gradient (Selvaraju et al. 2017),
Grad-CAM++ by its alpha-weighted positive gradients (Chattopadhay et al. 2018), Score-CAM by how
much the class score of the image masked by the channel beats the all-zero input (Wang et al. 2020,
without their softmax over channels, which would turn a channel that lowers the score into a small
positive weight). Guided Grad-CAM is guided backprop times the Grad-CAM heatmap.

Scores are pre-softmax (pre-sigmoid), read without changing the network (see
`objectives.truncated`): a softmax probability can rise by lowering the other classes, and a
saturated one has no gradient left.

Every map is upsampled to the input size (bilinear), ReLU'd and divided by its maximum; a map with
no positive value stays all-zero and says so (`Attribution.empty`), so a page can say "no positive
evidence" instead of showing a blank heatmap.

Passes are shared and batched: for K classes the image is repeated K times and each copy
differentiates its own class, so one forward and one backward pass serve every class (and Grad-CAM,
Grad-CAM++ and Score-CAM share the layer pass); SmoothGrad's noisy copies and Score-CAM's masked
copies go through the network `batch_size` at a time. Each kind of pass is one `tf.function`,
traced once per `Explainer` and reused across images.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import matplotlib
import numpy as np
import tensorflow as tf

from gallery.renderers.objectives import is_squashing, truncated

METHODS = ("saliency", "smoothgrad", "guided_backprop", "gradcam", "gradcam_plus_plus", "guided_gradcam", "scorecam")
EPSILON = 1e-7  # Grad-CAM++'s guard against 0 / 0
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


def class_scores(network: Any) -> keras.Model:
    """`network` with the pre-softmax (pre-sigmoid) scores of its last layer as output; `network` is unchanged."""
    return keras.Model(network.inputs[0], truncated(network, network.layers[-1].name).outputs[1])


def default_target_layer(network: Any) -> str:
    """The last layer with a spatial (rank-4) output: the usual Grad-CAM layer, last before pooling or flattening."""
    for layer in reversed(network.layers):
        if not isinstance(layer, keras.layers.InputLayer) and len(layer.output.shape) == 4:
            return layer.name
    raise ValueError(f"model '{network.name}' has no layer with a spatial (rank-4) output")


def top_k_classes(network: Any, image: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """The `k` most probable classes, best first, and their probabilities: the network's own output
    where it ends in softmax or sigmoid (a sigmoid unit's probability is its own), else a softmax of it."""
    output = np.asarray(network(_as_input(network, image)[None], training=False), np.float64)[0]
    if not is_squashing(network.layers[-1]):
        output = np.exp(output - output.max())
        output /= output.sum()
    order = np.argsort(-output, kind="stable")[:k]
    return order, output[order]


def _as_input(network: Any, images: np.ndarray) -> np.ndarray:
    return np.asarray(images, network.inputs[0].dtype)


def _input_spec(network: Any, batched: bool = True) -> tf.TensorSpec:
    shape = list(network.inputs[0].shape[1:])
    return tf.TensorSpec([None, *shape] if batched else shape, network.inputs[0].dtype)


def _chosen(scores: tf.Tensor, classes: tf.Tensor) -> tf.Tensor:
    """Each image's own class score: `scores` [B, classes], `classes` [B]."""
    return tf.gather(scores, classes, axis=1, batch_dims=1)


def _batched(function: Callable[..., tf.Tensor], batch_size: int, *arrays: np.ndarray) -> np.ndarray:
    """`function` over `arrays`, `batch_size` rows at a time, results concatenated."""
    return np.concatenate([
        function(*(array[start:start + batch_size] for array in arrays)).numpy()
        for start in range(0, len(arrays[0]), batch_size)
    ])


def upsample(maps: Any, size: Any) -> tf.Tensor:
    """Maps [N, h, w] to [N, *size], bilinear with half-pixel centres (as cv2 and PyTorch), in their own dtype."""
    return tf.cast(tf.image.resize(maps[..., None], size, "bilinear")[..., 0], maps.dtype)


def normalize(raw: np.ndarray) -> np.ndarray:
    """ReLU, then each map [..., H, W] over its maximum; an all-zero map stays all-zero."""
    positive = np.maximum(raw, 0)
    peak = positive.max(axis=(-2, -1), keepdims=True)
    return np.divide(positive, peak, out=np.zeros_like(positive), where=peak > 0)


def displayable(image: np.ndarray, input_range: tuple[float, float]) -> np.ndarray:
    """The image [H, W, C] in the network's input units as uint8 RGB (grayscale repeated)."""
    low, high = input_range
    pixels = np.clip(np.round((np.asarray(image, np.float64) - low) / (high - low) * 255), 0, 255).astype(np.uint8)
    return np.repeat(pixels, 3, axis=-1) if pixels.shape[-1] == 1 else pixels


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

        @tf.function(input_signature=[_input_spec(network), CLASSES_SPEC])
        def gradients(images: tf.Tensor, classes: tf.Tensor) -> tf.Tensor:
            with tf.GradientTape() as tape:
                tape.watch(images)
                chosen = _chosen(model(images, training=False), classes)
            return tape.gradient(chosen, images)

        self._gradients = gradients

    def __call__(self, images: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """d score[classes[i]] / d images[i] for each i: [N, H, W, C]."""
        return _batched(self._gradients, self.batch_size, _as_input(self.network, images),
                        np.asarray(classes, np.int32))


class LayerProbe:
    """One spatial layer of a network: its activations on an image and the gradients of K class scores
    with respect to them, from one forward and one backward pass over K copies of the image."""

    def __init__(self, network: Any, layer: str | None = None):
        self.network = network
        self.layer = layer or default_target_layer(network)
        self.scores = class_scores(network)
        model = keras.Model(network.inputs[0], [network.get_layer(self.layer).output, self.scores.outputs[0]])

        @tf.function(input_signature=[_input_spec(network), CLASSES_SPEC])
        def probe(images: tf.Tensor, classes: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            with tf.GradientTape() as tape:
                activations, scores = model(images, training=False)
                chosen = _chosen(scores, classes)
            return activations, tape.gradient(chosen, activations)

        self._probe = probe

    def __call__(self, image: np.ndarray, classes: Sequence[int]) -> Probed:
        copies = np.repeat(_as_input(self.network, image)[None], len(classes), axis=0)
        activations, gradients = self._probe(copies, np.asarray(classes, np.int32))
        return Probed(activations.numpy()[0], gradients.numpy())


class BaseCAM:
    """Class activation maps: the probe layer's channels, weighed per class and summed.

    Variants only override `weights`; `probed` lets variants share one layer pass.
    """

    def __init__(self, probe: LayerProbe):
        self.probe = probe

    def weights(self, probed: Probed, image: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """Channel weights [K, C]."""
        raise NotImplementedError

    def __call__(self, image: np.ndarray, classes: Sequence[int], probed: Probed | None = None) -> np.ndarray:
        """Raw maps [K, H, W]: upsampled to the input size, before ReLU and normalisation."""
        classes = np.asarray(classes, np.int32)
        if probed is None:
            probed = self.probe(image, classes)
        cams = np.einsum("hwc,kc->khw", probed.activations, self.weights(probed, image, classes))
        return upsample(cams, image.shape[:2]).numpy()


class GradCAM(BaseCAM):
    def weights(self, probed: Probed, image: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """The mean gradient over positions: Selvaraju et al.'s alpha."""
        return probed.gradients.mean(axis=(1, 2))


class GradCAMPlusPlus(BaseCAM):
    def weights(self, probed: Probed, image: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """Positive gradients weighed by alpha = g^2 / (2 g^2 + sum(A) g^3), the closed form that
        Chattopadhay et al. get for an exponential of the score; alpha is 0 where g is."""
        g = probed.gradients
        g2 = g * g
        alpha = g2 / (2 * g2 + probed.activations.sum(axis=(0, 1)) * g2 * g + EPSILON)
        return (np.where(g != 0, alpha, 0) * np.maximum(g, 0)).sum(axis=(1, 2))


class ScoreCAM(BaseCAM):
    """Weights from masked forward passes, `batch_size` channels per compiled call.

    Each channel, upsampled and min-max normalised, multiplies the image; its weight is the class
    score of that input minus the score of the all-zero input (the image with every pixel masked:
    black for inputs in 0-1 or 0-255). A constant channel would give an all-zero mask and so a weight of
    exactly 0: those channels are not run (in a ReLU network, many of the last layer's are dead).
    """

    def __init__(self, probe: LayerProbe, batch_size: int = 32):
        super().__init__(probe)
        self.batch_size = batch_size
        network, scores = probe.network, probe.scores
        layer_spec = tf.TensorSpec([None, *network.get_layer(probe.layer).output.shape[1:3]], network.inputs[0].dtype)

        @tf.function(input_signature=[_input_spec(network, batched=False), layer_spec])
        def masked_scores(image: tf.Tensor, maps: tf.Tensor) -> tf.Tensor:
            masks = upsample(maps, tf.shape(image)[:2])[..., None]
            low = tf.reduce_min(masks, axis=[1, 2, 3], keepdims=True)
            high = tf.reduce_max(masks, axis=[1, 2, 3], keepdims=True)
            return scores(image[None] * ((masks - low) / (high - low)), training=False)

        self._masked_scores = masked_scores

    def weights(self, probed: Probed, image: np.ndarray, classes: np.ndarray) -> np.ndarray:
        image = _as_input(self.probe.network, image)
        baseline = np.asarray(self.probe.scores(np.zeros_like(image)[None], training=False))[0]
        activations = probed.activations
        live = np.flatnonzero(np.ptp(activations, axis=(0, 1)) > 0)
        weights = np.zeros((len(classes), activations.shape[-1]), activations.dtype)
        if live.size:
            maps = np.moveaxis(activations[..., live], -1, 0)
            scores = _batched(lambda chunk: self._masked_scores(image, chunk), self.batch_size, maps)
            weights[:, live] = (scores - baseline)[:, classes].T
        return weights


def guided(activation: Callable[[tf.Tensor], tf.Tensor]) -> Callable[[tf.Tensor], tf.Tensor]:
    """`activation` whose backward pass lets a gradient through only where it is positive and the
    activation itself passes gradient: Springenberg et al.'s guided ReLU, for any ReLU variant."""

    @tf.custom_gradient
    def forward(x: tf.Tensor) -> tuple[tf.Tensor, Callable[[tf.Tensor], tf.Tensor]]:
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = activation(x)
        return y, lambda upstream: tape.gradient(y, x, output_gradients=tf.nn.relu(upstream))

    return forward


def _is_relu(activation: Any) -> bool:
    return getattr(activation, "__name__", "") == "relu"


def guided_copy(network: Any) -> keras.Model:
    """A copy of `network`, same weights and layer names, whose ReLUs are guided (see `guided`).

    Replaced: layers built with `activation="relu"` (Conv2D, Dense, Activation, ...) and ReLU layers,
    with their max_value, negative_slope and threshold (so ReLU6 too), also inside nested models.
    Not replaced, so their gradients pass unguided: other activations (swish, GELU, hard-swish,
    LeakyReLU layers, ...) and ReLUs called inside a custom layer's own `call`.
    """

    def clone(layer: Any) -> Any:
        config = layer.get_config()
        if isinstance(layer, keras.layers.ReLU):
            relu = functools.partial(keras.activations.relu, negative_slope=config["negative_slope"],
                                     max_value=config["max_value"], threshold=config["threshold"])
            return keras.layers.Activation(guided(relu), name=layer.name)
        copy = layer.__class__.from_config(config)
        if _is_relu(getattr(layer, "activation", None)):
            copy.activation = guided(keras.activations.relu)
        return copy

    copy = keras.models.clone_model(network, clone_function=clone, recursive=True)
    copy.set_weights(network.get_weights())
    return copy


def _reseeded(config: dict[str, Any], seed: int) -> dict[str, Any]:
    """A layer config whose random initializers all draw from `seed`."""
    reseeded = dict(config)
    for key, value in config.items():
        if key.endswith("_initializer") and value is not None:
            initializer = keras.initializers.get(value)
            settings = initializer.get_config()
            if "seed" in settings:
                reseeded[key] = initializer.__class__.from_config({**settings, "seed": seed})
    return reseeded


def randomized_copy(network: Any, top_layers: int, seed: int = 0) -> keras.Model:
    """A copy of `network` whose last `top_layers` layers with weights are re-initialised, every
    other weight kept: Adebayo et al. 2018's cascading model randomisation, the sanity check that
    an explanation depends on what the network learned. `network` is unchanged.

    Re-initialised layers draw from their own initializers, seeded with `seed` plus their position,
    so the copy is the same on every call and no global random state is touched.
    """
    weighted = [layer.name for layer in network.layers if layer.weights]
    seeds = {name: seed + position for position, name in enumerate(weighted)}
    fresh = set(weighted[max(len(weighted) - top_layers, 0):])

    def clone(layer: Any) -> Any:
        config = layer.get_config()
        return layer.__class__.from_config(_reseeded(config, seeds[layer.name]) if layer.name in fresh else config)

    copy = keras.models.clone_model(network, clone_function=clone)
    for layer in copy.layers:
        if layer.weights and layer.name not in fresh:
            layer.set_weights(network.get_layer(layer.name).get_weights())
    return copy


def _by_channel(gradients: np.ndarray) -> Raw:
    """A gradient method's map: the largest absolute value over input channels."""
    return np.abs(gradients).max(axis=-1), gradients


class Explainer:
    """Every method for one network: compiled passes are traced once and reused across images.

    `input_range`: the pixel range of the network's input, for the overlay and for SmoothGrad's noise.
    """

    def __init__(self, network: Any, target_layer: str | None = None,
                 input_range: tuple[float, float] = (0.0, 1.0), batch_size: int = 32):
        self.network, self.input_range, self.batch_size = network, input_range, batch_size
        self.probe = LayerProbe(network, target_layer)
        self.gradients = InputGradients(network, batch_size)
        self.cams: dict[str, BaseCAM] = {
            "gradcam": GradCAM(self.probe),
            "gradcam_plus_plus": GradCAMPlusPlus(self.probe),
            "scorecam": ScoreCAM(self.probe, batch_size),
        }

    @functools.cached_property
    def guided_gradients(self) -> InputGradients:
        """Built on first use: a second copy of the network, with guided ReLUs."""
        return InputGradients(guided_copy(self.network), self.batch_size)

    def explain(self, image: np.ndarray, classes: Sequence[int], methods: Sequence[str] = METHODS, *,
                samples: int = 32, sigma: float = 0.15, seed: int = 0, colormap: str = "jet",
                alpha: float = 0.4) -> dict[tuple[str, int], Attribution]:
        """Every (method, class) for one image [H, W, C] in the network's input units.

        SmoothGrad: `samples` noisy copies, Gaussian noise with standard deviation `sigma` times the
        width of the input range (Smilkov et al. suggest 10-20%), drawn from `seed`. Overlay: the
        heatmap through `colormap`, blended over the image with weight `alpha`.
        """
        unknown = sorted(set(methods) - set(METHODS))
        if unknown:
            raise ValueError(f"unknown attribution methods {unknown}; known: {', '.join(METHODS)}")
        job = _Job(self, _as_input(self.network, image), np.asarray(classes, np.int32), samples, sigma, seed)
        display = displayable(image, self.input_range)
        results = {}
        for method in methods:
            maps, per_channel = job.raw(method)
            for k, target in enumerate(job.classes):
                results[method, int(target)] = attribution(
                    method, int(target), maps[k], None if per_channel is None else per_channel[k], display,
                    colormap, alpha)
        return results


class _Job:
    """One image and its classes: each method computed at most once, the layer pass shared by the CAMs
    and guided Grad-CAM built from guided backprop and Grad-CAM."""

    def __init__(self, explainer: Explainer, image: np.ndarray, classes: np.ndarray, samples: int, sigma: float,
                 seed: int):
        self.explainer, self.image, self.classes = explainer, image, classes
        self.samples, self.sigma, self.seed = samples, sigma, seed
        self._done: dict[str, Raw] = {}

    @functools.cached_property
    def probed(self) -> Probed:
        return self.explainer.probe(self.image, self.classes)

    def raw(self, method: str) -> Raw:
        if method not in self._done:
            self._done[method] = self._compute(method)
        return self._done[method]

    def _compute(self, method: str) -> Raw:
        explainer = self.explainer
        if method in explainer.cams:
            return explainer.cams[method](self.image, self.classes, self.probed), None
        if method == "guided_gradcam":
            return _by_channel(self.raw("guided_backprop")[1] * normalize(self.raw("gradcam")[0])[..., None])
        if method == "smoothgrad":
            return _by_channel(self._smoothgrad())
        gradients = explainer.guided_gradients if method == "guided_backprop" else explainer.gradients
        return _by_channel(gradients(np.repeat(self.image[None], len(self.classes), axis=0), self.classes))

    def _smoothgrad(self) -> np.ndarray:
        """The gradient averaged over the same `samples` noisy copies for every class: [K, H, W, C]."""
        low, high = self.explainer.input_range
        noise = np.random.default_rng(self.seed).normal(0, self.sigma * (high - low), (self.samples, *self.image.shape))
        noisy = np.tile(self.image + noise, (len(self.classes), 1, 1, 1))
        gradients = self.explainer.gradients(noisy, np.repeat(self.classes, self.samples))
        return gradients.reshape(len(self.classes), self.samples, *self.image.shape).mean(axis=1)


SANITY_METHODS = ("saliency", "gradcam")
SANITY_THRESHOLD = 0.5  # Spearman rank correlation below which a map counts as changed


@dataclass(frozen=True)
class SanityCheck:
    """Adebayo et al. 2018's cascading model randomisation for one image and class: each method's map
    on the trained network and on copies whose top layers are re-initialised, and how much of the
    trained map's ranking each copy keeps. A method whose map survives randomisation explains the
    image, not what the network learned."""

    target: int
    randomized: tuple[int, ...]  # per column, the top weighted layers re-initialised; 0 is the trained network
    maps: dict[tuple[str, int], Attribution]  # (method, column's randomized count) -> map
    correlations: dict[tuple[str, int], float | None]  # Spearman with the trained map; None when either is empty

    def passed(self, method: str) -> bool:
        """The fully randomised column's map is empty or ranks pixels unlike the trained one."""
        last = self.correlations[method, self.randomized[-1]]
        return last is None or last < SANITY_THRESHOLD


def sanity_check(network: Any, image: np.ndarray, target: int, target_layer: str | None,
                 input_range: tuple[float, float], methods: Sequence[str] = SANITY_METHODS,
                 colormap: str = "jet", alpha: float = 0.4) -> SanityCheck:
    """Maps of `target` on `image` as the top 1, 2, ... layers with weights are re-initialised, up to all of them.

    The cascade stops at four randomised columns (the top one, two and three layers, then all): past
    the top few layers a map has nothing left to lose, and each copy costs a retrace.
    """
    from scipy.stats import spearmanr

    weighted = sum(1 for layer in network.layers if layer.weights)
    cascade = (0, *sorted({min(k, weighted) for k in (1, 2, 3)} | {weighted}))
    maps: dict[tuple[str, int], Attribution] = {}
    for count in cascade:
        copy = network if count == 0 else randomized_copy(network, count)
        explained = Explainer(copy, target_layer, input_range).explain(image, [target], methods, colormap=colormap,
                                                                      alpha=alpha)
        maps.update({(method, count): explained[method, target] for method in methods})
    correlations: dict[tuple[str, int], float | None] = {}
    for (method, count), result in maps.items():
        trained = maps[method, 0]
        rho = np.nan if result.empty or trained.empty else spearmanr(trained.heatmap.ravel(), result.heatmap.ravel())[0]
        correlations[method, count] = None if np.isnan(rho) else float(rho)
    return SanityCheck(target, cascade, maps, correlations)
