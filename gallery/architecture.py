"""What the later stages need to know about a network, as plain records: no TensorFlow.

The models stage reads these facts off a Keras network once (`gallery.models.describe`); the plan
checks a config against them, and the site, figures and reports lay out pages from them, so none
of those stages touches Keras.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def has_map(shape: tuple[int | None, ...]) -> bool:
    """An output shape (with the batch axis) that is a map to show: rank 4 and more than 1x1 (a 1x1
    output, MobileNetV3's logits or a squeeze-excite gate, is one value per channel)."""
    return len(shape) == 4 and tuple(shape[1:3]) != (1, 1)


@dataclass(frozen=True)
class LayerInfo:
    name: str
    type: str
    output_shape: tuple[int | None, ...]  # with the batch axis, as Keras reports it
    params: int
    units: int | None  # channels of a conv map or units of a dense layer: what can be visualized
    squashing: bool = False  # a softmax/sigmoid output, visualized (and scored) as linear
    spatial: bool = False  # a conv or pooling layer with a rank-4 output: in `feature_maps: {layers: all}`
    flops: int = 0  # of its forward pass on one image (2 per multiply-add of a conv or dense layer; others 0)

    @property
    def rank(self) -> int:
        return len(self.output_shape)

    @property
    def has_map(self) -> bool:
        return has_map(self.output_shape)

    @property
    def shape_text(self) -> str:
        return "(" + ", ".join("None" if d is None else str(d) for d in self.output_shape) + ")"


@dataclass(frozen=True)
class ModelInfo:
    """One network: its layers in network order and, once loaded, what its pages say about it."""

    id: str
    layers: tuple[LayerInfo, ...]
    input_shape: tuple[int, ...]  # height, width, channels
    params: int
    labels: dict[str, tuple[str, ...]] = field(default_factory=dict)  # layer -> a name per unit (classes)
    attribution_layer: str | None = None  # the default CAM layer: the last with a spatial output
    weights_hash: str = ""
    description: str = ""
    data_source: str | None = None
    reference_image: str = "test image"  # what pages call the images a picture is measured against
    test_accuracy: float | None = None
    history: dict[str, list[float]] = field(default_factory=dict)
    # Per conv layer that reads the input directly, its kernels as they weigh the input's channels,
    # [rows, columns, channels, filters]: a first layer's pages show them.
    input_kernels: dict[str, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    def layer(self, name: str) -> LayerInfo | None:
        return next((layer for layer in self.layers if layer.name == name), None)

    @property
    def output(self) -> LayerInfo:
        return self.layers[-1]

    @property
    def classes(self) -> int:
        """One class per output unit; a single unit is a binary classifier: class 1 the unit, class 0 its
        opposite (attribution.class_count)."""
        units = int(self.output.output_shape[-1] or 0)
        return 2 if units == 1 else units

    def class_names(self) -> tuple[str, ...]:
        """A name per class: the output's labels; a single unit's two labels name its two classes
        (negative first, as Keras's binary labels), and its one label the unit's side only."""
        names = self.labels.get(self.output.name, ())
        if self.output.output_shape[-1] == 1 and len(names) == 1:
            return (f"not {names[0]}", names[0])
        return names

    def caption(self, layer: str, index: int) -> str:
        """`282 tiger cat` where the unit has a name (`digit 3`, where the name says the index), else the index."""
        names = self.labels.get(layer, ())
        if layer == self.output.name and len(names) == 2 and self.output.output_shape[-1] == 1:
            names = names[1:]  # a single unit given its two classes' names: the unit is the second
        return _named(index, names)

    def class_caption(self, index: int) -> str:
        """A class as pages name it: `1 dog`, or the index where the classes have no names."""
        return _named(index, self.class_names())

    def order(self, layer: str) -> int:
        """The layer's position in the network: pages list layers input to output."""
        return [one.name for one in self.layers].index(layer)


def _named(index: int, names: tuple[str, ...]) -> str:
    if index >= len(names):
        return str(index)
    return names[index] if str(index) in names[index].split() else f"{index} {names[index]}"
