"""Dataset examples: the natural images that most activate a unit, shown beside its visualization.

OpenAI Microscope puts them next to every feature visualization: the picture says what the unit
could respond to, the examples say what it does respond to in data, and the activation ratio (the
picture's value over the best image's) says whether the optimization found something stronger
than anything natural.

Values are what the engine reports for a picture: the same truncated network and the same
reported output (`truncated(...)`'s second output: the layer after its activation, linear for a
softmax or sigmoid), reduced the same way. The data set is read in one pass and only a running
top-k per filter is kept, so memory is O(filters * k) whatever the number of images, and the
layer's maps are reduced on the device instead of being copied out whole.

For the `neuron` objective a unit sees only its receptive field, so what is shown is the crop of
the image that the strongest position reads (receptive_field.py); showing the whole image would
credit the unit with content it never saw. Where the layers below are not local, the whole image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from gallery.pixels import to_uint8
from gallery.renderers import receptive_field
from gallery.renderers.objectives import truncated

# How an image's value for a unit is measured: a conv channel's spatial mean, a dense unit, or a
# channel's strongest single position (the setting objective `neuron`).
MEASURES = ("channel", "unit", "neuron")
GRAY = 128  # grid gaps, empty cells, and the part of a receptive field that lies outside the image


@dataclass(frozen=True)
class Examples:
    """The k images that most activate one filter (least, with `negate`), best first."""

    filter: int
    indices: np.ndarray  # int64 [k]: positions in the `images` given to `top_examples`
    values: np.ndarray  # float32 [k]: their values, descending (ascending with negate)
    crops: np.ndarray  # uint8 [k, h, w, C]: what to show (see `top_examples`)
    boxes: np.ndarray  # int64 [k, 4]: (top, left, bottom, right) of the crop in its image, bottom/right exclusive


def top_examples(network: Any, layer: str, filters: list[int], images: np.ndarray, input_range: tuple[float, float],
                 measure: str = "channel", k: int = 9, negate: bool = False,
                 batch_size: int = 256) -> list[Examples]:
    """Per filter (in the order of `filters`), the `min(k, len(images))` images with the highest value.

    `images`: the model's input, float [N, H, W, C] in `input_range`. Values, as the engine reports
    them: on a layer with spatial maps, `neuron` is a channel's highest single position and
    `channel` (or `unit`) its spatial mean; on a vector layer, the unit itself, whatever the measure.
    `negate`: the lowest values instead, the images that minimize the unit. Ties go to the lower
    image index, and within an image to the first position in row-major order.

    Crops: the whole image, except for `neuron` on a local layer stack: the receptive field of the
    best position, every crop on one canvas of the field's size with the unit at the same place,
    the part outside the image mid-gray; `boxes` holds the part inside the image.
    """
    if measure not in MEASURES:
        raise ValueError(f"measure {measure!r} is not one of {', '.join(MEASURES)}")
    images = np.asarray(images, np.float32)
    model = truncated(network, layer)
    reported = keras.Model(model.inputs, model.outputs[1])  # the pre-activation output is never computed
    score = _scorer(reported, filters, measure == "neuron", negate, images.shape[1:])
    count = min(k, len(images))
    values = np.zeros((len(filters), 0), np.float32)
    indices = np.zeros((len(filters), 0), np.int64)
    positions = np.zeros((len(filters), 0), np.int64)
    for first in range(0, len(images), batch_size):
        batch_values, batch_positions = (t.numpy().T for t in score(tf.constant(images[first:first + batch_size])))
        values = np.concatenate([values, batch_values], axis=1)
        indices = np.concatenate([indices, np.broadcast_to(np.arange(first, first + batch_values.shape[1]),
                                                           batch_values.shape)], axis=1)
        positions = np.concatenate([positions, batch_positions.astype(np.int64)], axis=1)
        order = np.lexsort((indices, values if negate else -values), axis=-1)[:, :count]
        values, indices, positions = (np.take_along_axis(a, order, axis=1) for a in (values, indices, positions))
    fields = _fields(reported, images.shape[1:3]) if measure == "neuron" and len(reported.output.shape) == 4 else None
    return [_examples(f, values[i], indices[i], positions[i], images, input_range, fields)
            for i, f in enumerate(filters)]


def _scorer(model: keras.Model, filters: list[int], neuron: bool, negate: bool, shape: tuple[int, ...]) -> Any:
    """A compiled (images [B, ...]) -> (values [B, F], flat position of the value [B, F])."""
    chosen = tf.constant(filters, tf.int32)

    @tf.function(input_signature=[tf.TensorSpec([None, *shape], tf.float32)])
    def score(images: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        features = tf.gather(model(images, training=False), chosen, axis=-1)
        nowhere = tf.zeros([tf.shape(features)[0], len(filters)], tf.int32)
        if len(features.shape) == 2:
            return features, nowhere
        if len(features.shape) != 4:
            raise ValueError(f"a layer output of shape {features.shape} has no channels or units to rank")
        if not neuron:
            return tf.reduce_mean(features, axis=[1, 2]), nowhere
        flat = tf.reshape(features, [tf.shape(features)[0], -1, len(filters)])  # [B, H*W, F]
        best = tf.reduce_min(flat, axis=1) if negate else tf.reduce_max(flat, axis=1)
        places = tf.range(tf.shape(flat)[1])[None, :, None]
        # The first position holding the best value: tf.argmax does not promise which one on ties.
        position = tf.reduce_min(tf.where(flat == best[:, None, :], places, tf.shape(flat)[1]), axis=1)
        return best, position

    return score


@dataclass(frozen=True)
class Fields:
    """Per output row and column, the input interval it reads (inclusive, may overhang the image)."""

    rows: list[tuple[int, int]]
    cols: list[tuple[int, int]]
    width: int  # output columns: a flat position p is (p // width, p % width)


def _fields(model: keras.Model, size: tuple[int, int]) -> Fields | None:
    """The input each output position reads on an input of `size`; None when the stack is not local."""
    graph = receptive_field.Graph(model, model.outputs[0])
    if graph.size() is None:
        return None
    lengths = [graph.lengths(size[axis], axis) for axis in (0, 1)]
    if None in lengths:
        return None
    out = [lengths[axis][id(graph.output)] for axis in (0, 1)]  # type: ignore[index]
    reads = [[graph.reads(unit, size[axis], axis) for unit in range(out[axis])] for axis in (0, 1)]
    if any(r is None for axis in reads for r in axis):
        return None
    return Fields(reads[0], reads[1], out[1])  # type: ignore[arg-type]


def _examples(filter: int, values: np.ndarray, indices: np.ndarray, positions: np.ndarray, images: np.ndarray,
              input_range: tuple[float, float], fields: Fields | None) -> Examples:
    pixels = to_uint8(images[indices], input_range)
    _, height, width, channels = images.shape
    if fields is None:
        boxes = np.tile(np.array([0, 0, height, width], np.int64), (len(indices), 1))
        return Examples(filter, indices, values, pixels, boxes)
    reads = [(fields.rows[p // fields.width], fields.cols[p % fields.width]) for p in positions]
    canvas = (max((r[1] - r[0] + 1 for r, _ in reads), default=0), max((c[1] - c[0] + 1 for _, c in reads), default=0))
    crops = np.full((len(indices), *canvas, channels), GRAY, np.uint8)
    boxes = np.zeros((len(indices), 4), np.int64)
    for i, ((first_row, last_row), (first_col, last_col)) in enumerate(reads):
        top, left = max(first_row, 0), max(first_col, 0)
        bottom, right = min(last_row + 1, height), min(last_col + 1, width)
        boxes[i] = top, left, bottom, right
        crops[i, top - first_row:bottom - first_row, left - first_col:right - first_col] = pixels[i, top:bottom,
                                                                                                   left:right]
    return Examples(filter, indices, values, crops, boxes)


def examples_grid(examples: Examples, size: int, columns: int = 3, gap: int = 2) -> np.ndarray:
    """The crops as one uint8 image [rows*size + (rows-1)*gap, columns*size + (columns-1)*gap, C].

    Row-major, best first: a 3x3 grid for k=9 with the best at top left, `rows = ceil(k / columns)`.
    Each crop is scaled to fit a `size` x `size` cell, keeping its aspect ratio and centred
    (nearest-neighbour when enlarged, so small digits and fields stay crisp; Lanczos when reduced).
    Gaps, the cell around a non-square crop, and cells past the k-th are mid-gray (128).
    """
    count, _, _, channels = examples.crops.shape
    rows = max(math.ceil(count / columns), 1)
    grid = np.full((rows * size + (rows - 1) * gap, columns * size + (columns - 1) * gap, channels), GRAY, np.uint8)
    for i, crop in enumerate(examples.crops):
        cell = _fit(crop, size)
        top = (i // columns) * (size + gap) + (size - cell.shape[0]) // 2
        left = (i % columns) * (size + gap) + (size - cell.shape[1]) // 2
        grid[top:top + cell.shape[0], left:left + cell.shape[1]] = cell
    return grid


def _fit(crop: np.ndarray, size: int) -> np.ndarray:
    """`crop` scaled so that its longer side is `size`."""
    height, width, channels = crop.shape
    scale = size / max(height, width)
    shape = (max(round(height * scale), 1), max(round(width * scale), 1))
    if shape == (height, width):
        return crop
    method = Image.Resampling.NEAREST if scale > 1 else Image.Resampling.LANCZOS
    picture = Image.fromarray(crop[..., 0] if channels == 1 else crop)
    return np.asarray(picture.resize((shape[1], shape[0]), method), np.uint8).reshape(*shape, channels)
