"""Feature maps: what each conv and pooling layer makes of one image, one tile per channel.

All layers come from one forward pass of a multi-output model built on the network's own graph,
so asking for every layer of a deep network costs one prediction, not one per layer. Each channel
is standardised on its own, as in the seed report (minus its mean, over its standard deviation,
times 64, plus 128, clipped to 0-255 and truncated to uint8), then drawn through a matplotlib
colormap.

A constant channel has no standard deviation; it is drawn at 128, the colormap's middle. A dead
channel (exactly zero everywhere on this image, as a ReLU that never opens) is constant too, but
drawn flat in `dead_color(colormap)`, the pure colour farthest from every colour of the colormap
(magenta for viridis), so it cannot pass for a channel that fires evenly; `LayerMaps.dead` names
those channels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import matplotlib
import numpy as np

from gallery.models.describe import layer_info

BACKGROUND = 255  # gaps and the empty end of the last row: white, like the page
GAP = 1
# Candidates for dead tiles; white is left out because it is the background.
DEAD_CANDIDATES = np.array([[0, 0, 0], [255, 0, 255], [0, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255],
                            [255, 255, 0]], np.uint8)


@dataclass(frozen=True)
class LayerMaps:
    layer: str
    type: str
    channels: int
    dead: np.ndarray  # bool [C]: exactly zero everywhere on this image
    dead_share: float  # dead channels / channels
    per_row: int
    grid: np.ndarray  # uint8 [rows * (h + 1) - 1, cols * (w + 1) - 1, 3]: every channel, `per_row` a row
    tiles: np.ndarray  # uint8 [C, h, w, 3]: each channel alone, for the enlarged view

    @property
    def rows(self) -> int:
        return -(-self.channels // self.per_row)

    @property
    def cols(self) -> int:
        return min(self.channels, self.per_row)


def spatial_layers(network: Any) -> list[str]:
    """Every conv and pooling layer with a spatial (rank-4) output, input to output."""
    return [layer.name for layer in network.layers if layer_info(layer).spatial]


def standardize(features: np.ndarray) -> np.ndarray:
    """The report's display scaling of each channel of `features` [h, w, C]; constant channels give 128."""
    features = features.astype(np.float64)
    spread = np.ptp(features, axis=(0, 1)) > 0  # not std > 0: the std of a constant is rounding noise
    std = np.where(spread, features.std(axis=(0, 1)), 1.0)
    scaled = (features - features.mean(axis=(0, 1))) / std * 64 + 128
    return np.where(spread, np.clip(scaled, 0, 255), 128).astype(np.uint8)


def colorize(values: np.ndarray, colormap: str) -> np.ndarray:
    """uint8 values through a matplotlib colormap: uint8 RGB, value v taking the colormap at v / 255."""
    return matplotlib.colormaps[colormap](values / 255.0, bytes=True)[..., :3]


def dead_color(colormap: str) -> np.ndarray:
    """The candidate colour farthest from every colour of the colormap (magenta for viridis)."""
    table = colorize(np.arange(256), colormap).astype(np.float64)
    distance = np.linalg.norm(table[None] - DEAD_CANDIDATES[:, None].astype(np.float64), axis=-1).min(axis=1)
    return DEAD_CANDIDATES[int(distance.argmax())]


def tile_grid(tiles: np.ndarray, per_row: int) -> np.ndarray:
    """`tiles` [N, h, w, 3] in rows of `per_row`, left to right, with `GAP` px of background between."""
    count, height, width, depth = tiles.shape
    rows, cols = -(-count // per_row), min(count, per_row)
    grid = np.full((rows * (height + GAP) - GAP, cols * (width + GAP) - GAP, depth), BACKGROUND, np.uint8)
    for index, tile in enumerate(tiles):
        top, left = (index // per_row) * (height + GAP), (index % per_row) * (width + GAP)
        grid[top:top + height, left:left + width] = tile
    return grid


def layer_maps(name: str, type_name: str, features: np.ndarray, per_row: int, colormap: str) -> LayerMaps:
    """One layer's activations [h, w, C] on one image, drawn."""
    dead = ~features.any(axis=(0, 1))
    tiles = colorize(np.moveaxis(standardize(features), -1, 0), colormap)
    tiles[dead] = dead_color(colormap)
    return LayerMaps(name, type_name, int(features.shape[-1]), dead, float(dead.mean()), per_row,
                     tile_grid(tiles, per_row), tiles)


def feature_maps(network: Any, image: np.ndarray, layers: list[str] | None = None, *, per_row: int = 16,
                 colormap: str = "viridis") -> list[LayerMaps]:
    """The activations of `layers` (default: `spatial_layers`) on `image` [H, W, C], in the network's
    input units, from one forward pass; in the order of `layers`."""
    names = spatial_layers(network) if layers is None else layers
    flat = [name for name in names if len(network.get_layer(name).output.shape) != 4]
    if flat:
        raise ValueError(f"no spatial (rank-4) output, so no feature maps: {', '.join(flat)}")
    probe = keras.Model(network.inputs[0], {name: network.get_layer(name).output for name in names})
    outputs = probe(image[None].astype(network.inputs[0].dtype), training=False)
    return [layer_maps(name, network.get_layer(name).__class__.__name__, np.asarray(outputs[name])[0],
                       per_row, colormap) for name in names]
