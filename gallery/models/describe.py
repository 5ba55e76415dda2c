"""Facts about a Keras network as plain records (gallery.architecture), read once for the TF-free stages."""

from __future__ import annotations

from typing import Any

import keras

from gallery.architecture import LayerInfo, ModelInfo

# Layers with a spatial output that `feature_maps: {layers: all}` draws (global pooling with keepdims too).
SPATIAL_TYPES = (
    keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D, keras.layers.Conv2DTranspose,
    keras.layers.MaxPooling2D, keras.layers.AveragePooling2D,
    keras.layers.GlobalMaxPooling2D, keras.layers.GlobalAveragePooling2D,
)


def is_squashing(layer: Any) -> bool:
    """Softmax and sigmoid outputs, which are reported (and visualized) as linear scores."""
    return getattr(getattr(layer, "activation", None), "__name__", "") in ("softmax", "sigmoid")


def attribution_layer(network: Any) -> str | None:
    """The last layer with a spatial (rank-4) output: the usual Grad-CAM layer, last before pooling or flattening."""
    for layer in reversed(network.layers):
        if not isinstance(layer, keras.layers.InputLayer) and len(layer.output.shape) == 4:
            return str(layer.name)
    return None


def layer_info(layer: Any) -> LayerInfo:
    shape = tuple(None if d is None else int(d) for d in layer.output.shape)
    visualizable = len(shape) in (2, 4) and not isinstance(layer, keras.layers.InputLayer)
    return LayerInfo(
        name=layer.name, type=layer.__class__.__name__, output_shape=shape,
        params=int(layer.count_params()) if layer.built else 0,
        units=shape[-1] if visualizable and shape[-1] is not None else None,
        squashing=is_squashing(layer), spatial=isinstance(layer, SPATIAL_TYPES) and len(shape) == 4,
    )


def describe(model_id: str, network: Any, labels: dict[str, tuple[str, ...]] | None = None, **facts: Any) -> ModelInfo:
    """`network`'s layers in order and its shapes; `facts`: the ModelInfo fields a loaded model adds."""
    return ModelInfo(model_id, tuple(layer_info(layer) for layer in network.layers),
                     tuple(int(d) for d in network.inputs[0].shape[1:]), int(network.count_params()),
                     labels or {}, attribution_layer(network), **facts)
