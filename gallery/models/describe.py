"""Facts about a Keras network as plain records (gallery.architecture), read once for the TF-free stages."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from gallery.architecture import LayerInfo, ModelInfo, has_map
from gallery.models.flatten import path

# Layers with a spatial output that `feature_maps: {layers: all}` draws (global pooling with keepdims too).
SPATIAL_TYPES = (
    keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D, keras.layers.Conv2DTranspose,
    keras.layers.MaxPooling2D, keras.layers.AveragePooling2D,
    keras.layers.GlobalMaxPooling2D, keras.layers.GlobalAveragePooling2D,
)


def is_squashing(layer: Any) -> bool:
    """Softmax and sigmoid outputs, which are reported (and visualized) as linear scores: a layer's own
    activation, an Activation layer, or a Softmax layer of its own."""
    return isinstance(layer, keras.layers.Softmax) or \
        getattr(getattr(layer, "activation", None), "__name__", "") in ("softmax", "sigmoid")


# Layers whose output is their input at inference: a Grad-CAM of one is a Grad-CAM of the layer before it.
IDENTITIES = (keras.layers.InputLayer, keras.layers.Dropout, keras.layers.SpatialDropout1D,
              keras.layers.SpatialDropout2D, keras.layers.SpatialDropout3D, keras.layers.GaussianNoise,
              keras.layers.GaussianDropout, keras.layers.AlphaDropout, keras.layers.ActivityRegularization,
              keras.layers.Identity)


def scoring_layer(network: Any) -> Any:
    """The layer whose output is the network's scores or probabilities: the last one, past any layers
    that only pass it on at inference (Dropout, Identity, a Reshape or Flatten that keeps its size)."""
    for layer in reversed(network.layers):
        passes_on = isinstance(layer, IDENTITIES) or (
            isinstance(layer, (keras.layers.Reshape, keras.layers.Flatten))
            and tuple(layer.input.shape) == tuple(layer.output.shape))
        if not passes_on or isinstance(layer, keras.layers.InputLayer):
            return layer
    return network.layers[-1]


def takes_raw_pixels(network: Any) -> bool:
    """The network scales its own input down (a first Rescaling layer such as Keras's tutorials'
    Rescaling(1./255), past any resizing, cropping and augmentation): it takes pixels in [0, 255]."""
    for layer in network.layers:
        if isinstance(layer, (*IDENTITIES, keras.layers.Resizing, keras.layers.CenterCrop)) or \
                type(layer).__name__.startswith("Random"):  # Keras's augmentation layers: identities at inference
            continue
        return isinstance(layer, keras.layers.Rescaling) and float(np.max(np.abs(layer.scale))) < 1
    return False


def attribution_layer(network: Any) -> str | None:
    """The Keras name of the usual Grad-CAM layer: the last with a spatial (rank-4) output that is not
    an identity at inference (Dropout, noise, activity regularization), last before pooling or flattening.
    A 1x1 output has no map to show (architecture.has_map)."""
    for layer in reversed(network.layers):
        if not isinstance(layer, IDENTITIES) and has_map(tuple(layer.output.shape)):
            return str(layer.name)
    return None


def layer_info(layer: Any) -> LayerInfo:
    shape = tuple(None if d is None else int(d) for d in layer.output.shape)
    visualizable = len(shape) in (2, 4) and not isinstance(layer, keras.layers.InputLayer)
    return LayerInfo(
        name=path(layer.name), type=layer.__class__.__name__, output_shape=shape,
        params=int(layer.count_params()) if layer.built else 0,
        units=shape[-1] if visualizable and shape[-1] is not None else None,
        squashing=is_squashing(layer), spatial=isinstance(layer, SPATIAL_TYPES) and len(shape) == 4,
        flops=forward_flops(layer),
    )


def forward_flops(layer: Any) -> int:
    """2 per multiply-add of a conv or dense layer on one image; 0 for the rest (elementwise work is
    small beside them). From the kernel's shape and the output's: no trace, no profiler."""
    if not layer.built or not isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D,
                                                 keras.layers.Dense)):
        return 0
    # The kernel: rows x columns x (input channels / groups) x filters, rows x columns x input channels x
    # multiplier (depthwise), or inputs x units (dense): one multiply-add per weight per output position.
    positions = int(np.prod([d or 1 for d in layer.output.shape[1:-1]]))
    return 2 * int(np.prod(layer.kernel.shape)) * positions


def unusable(network: Any) -> tuple[str, str] | None:
    """Why the engine cannot visualize `network`, in words a user can act on, and the model's key that
    would mend it; None when it can.

    Supported: one image input of rank 4 whose height, width and channels are known (`input_shape:`
    fixes a dynamic one), and one output.
    """
    inputs, outputs = list(network.inputs), list(network.outputs)
    if len(inputs) != 1:
        return "source", f"the model has {len(inputs)} inputs: gallery visualizes models with one image input"
    shape = tuple(inputs[0].shape)
    if len(shape) != 4:
        return "source", (f"its input has shape {shape}: gallery visualizes models whose input is a batch of "
                          "images (batch, height, width, channels), not vectors or sequences")
    if None in shape[1:]:
        return "input_shape", (f"its input's height, width or channels are not fixed {shape}: "
                               "give input_shape: [HEIGHT, WIDTH, CHANNELS]")
    if len(outputs) != 1:
        names = ", ".join(path(tensor._keras_history[0].name) for tensor in outputs)
        return "output", f"the model has {len(outputs)} outputs ({names}): name the one to explain with output:"
    return None


def input_kernels(network: Any) -> dict[str, np.ndarray]:
    """Per Conv2D that reads the network's input directly (through per-pixel affine steps only:
    rescaling, normalization, a channel flip), its kernels as they weigh the input's own channels,
    [rows, columns, input channels, filters]: what a reader expects to see of a first layer."""
    found = {}
    shape = tuple(int(d) for d in network.inputs[0].shape[1:])
    for layer in network.layers:
        if not isinstance(layer, keras.layers.Conv2D) or layer.groups != 1 or len(layer._inbound_nodes) != 1 \
                or not _reads_the_input(layer):
            continue  # a layer applied twice has no one input to trace
        mixing = _pointwise_affine(keras.Model(network.inputs[0], layer.input), shape)
        if mixing is not None:
            kernel = keras.ops.convert_to_numpy(layer.kernel).astype(np.float64)
            found[path(layer.name)] = np.einsum("hwjo,jc->hwco", kernel, mixing)
    return found


def _reads_the_input(layer: Any, limit: int = 64) -> bool:
    """No weighted layer between the network's input and `layer` (a few preprocessing steps at most)."""
    pending, steps = [layer.input], 0
    while pending:
        operation, node_index, _ = pending.pop()._keras_history
        steps += 1
        if steps > limit or hasattr(operation, "kernel"):
            return False
        pending.extend(operation._inbound_nodes[node_index].input_tensors)
    return True


def _pointwise_affine(before: Any, shape: tuple[int, ...]) -> np.ndarray | None:
    """M, [conv input channels, input channels], where before(x) = b + M x at every position; None
    where `before` moves or mixes positions (a crop, a pooling) or is not affine (a ReLU). Measured on
    the zero image, one image per channel and a random one: exact for every affine per-pixel map."""
    height, width, channels = shape
    ones = np.eye(channels)[:, None, None, :] * np.ones((channels, *shape))
    test = np.random.default_rng(0).normal(size=(1, *shape))
    out = keras.ops.convert_to_numpy(before(np.concatenate([np.zeros((1, *shape)), ones, test]).astype(np.float32)))
    out = out.astype(np.float64)
    if out.shape[1:3] != (height, width):
        return None
    offset, columns, measured = out[0], out[1:-1] - out[0], out[-1]
    if not (np.allclose(columns, columns[:, :1, :1], rtol=1e-4, atol=1e-5)
            and np.allclose(offset, offset[:1, :1], rtol=1e-4, atol=1e-5)):
        return None
    mixing = columns[:, 0, 0, :].T
    predicted = offset + np.einsum("jc,hwc->hwj", mixing, test[0])
    return mixing if np.abs(predicted - measured).max() <= 1e-4 * (np.abs(measured).max() + 1e-12) else None


def describe(model_id: str, network: Any, labels: dict[str, tuple[str, ...]] | None = None, **facts: Any) -> ModelInfo:
    """`network`'s layers in order and its shapes; `facts`: the ModelInfo fields a loaded model adds."""
    cam_layer = attribution_layer(network)
    return ModelInfo(model_id, tuple(layer_info(layer) for layer in network.layers),
                     tuple(int(d) for d in network.inputs[0].shape[1:]), int(network.count_params()),
                     labels or {}, None if cam_layer is None else path(cam_layer),
                     input_kernels=input_kernels(network), **facts)
