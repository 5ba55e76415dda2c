"""Receptive fields from a Keras graph: how much input one unit sees, and the smallest input that holds it.

Every layer is read as a per-axis geometry (kernel, stride, dilation, padding). Layers known to
act per position (activations, normalization, dropout, element-wise merges, the channel
arithmetic of preprocessing) keep the geometry; a layer known to be local (convolution, pooling,
zero padding, cropping) changes it; anything else (dense on a flattened map, global pooling,
resizing, a nested model, a layer this module does not know) makes the unit see the whole input,
and the engine keeps the full input size. Unknown means global: a wrong "local" would silently
render a different function.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import keras
from keras.src.ops import numpy as numpy_ops

SEARCH_STRIDES = 4  # input sizes tried above the receptive field, in strides of the layer


@dataclass(frozen=True)
class Axis:
    """One axis of a local layer: output o reads input [o*stride - before, ... + (kernel-1)*dilation]."""

    kernel: int = 1
    stride: int = 1
    dilation: int = 1
    padding: str | tuple[int, int] = "valid"  # "same", "valid", or explicit (before, after)

    @property
    def span(self) -> int:
        return (self.kernel - 1) * self.dilation + 1

    def out_size(self, size: int) -> int:
        if self.padding == "same":
            return math.ceil(size / self.stride)
        before, after = (0, 0) if self.padding == "valid" else self.padding
        return (size + before + after - self.span) // self.stride + 1

    def before(self, size: int) -> int:
        """Padding before the first input value, as TensorFlow places it (the odd one goes after)."""
        if self.padding == "same":
            return max((self.out_size(size) - 1) * self.stride + self.span - size, 0) // 2
        return 0 if self.padding == "valid" else self.padding[0]

    def reads(self, first: int, last: int, size: int) -> tuple[int, int]:
        """The input interval that outputs first..last read, on an input of `size` (may overhang it)."""
        start = first * self.stride - self.before(size)
        return start, last * self.stride - self.before(size) + self.span - 1


POINTWISE = Axis()
POINTWISE_LAYERS = (
    keras.layers.InputLayer, keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU,
    keras.layers.PReLU, keras.layers.ELU, keras.layers.BatchNormalization, keras.layers.Dropout,
    keras.layers.SpatialDropout2D, keras.layers.GaussianNoise, keras.layers.Add, keras.layers.Subtract,
    keras.layers.Multiply, keras.layers.Average, keras.layers.Maximum, keras.layers.Minimum,
    keras.layers.Concatenate, keras.layers.Rescaling, keras.layers.Normalization, keras.layers.Identity,
)
# keras.ops calls recorded in a functional graph (as in the applications' preprocess_input);
# they count as per position only while they keep the spatial shape (channel slices, not crops).
ELEMENTWISE_OPS = (
    numpy_ops.Add, numpy_ops.Subtract, numpy_ops.Multiply, numpy_ops.Divide, numpy_ops.TrueDivide,
    numpy_ops.GetItem, numpy_ops.Stack, numpy_ops.Concatenate,
)


def _axes(op: Any) -> tuple[Axis, Axis] | None:
    """The operation's geometry on rows and columns, or None when a unit after it sees everything."""
    if getattr(op, "data_format", "channels_last") != "channels_last" or isinstance(op, keras.layers.Conv2DTranspose):
        return None
    if isinstance(op, keras.layers.ZeroPadding2D):
        (top, bottom), (left, right) = op.padding
        return Axis(padding=(top, bottom)), Axis(padding=(left, right))
    if isinstance(op, keras.layers.Cropping2D):
        (top, bottom), (left, right) = op.cropping
        return Axis(padding=(-top, -bottom)), Axis(padding=(-left, -right))
    if isinstance(op, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
        return Axis(op.pool_size[0], op.strides[0], 1, op.padding), Axis(op.pool_size[1], op.strides[1], 1, op.padding)
    if hasattr(op, "kernel_size") and len(op.kernel_size) == 2 and op.padding in ("same", "valid"):  # convolutions
        (rows, cols), (row_stride, col_stride) = op.kernel_size, op.strides
        row_dilation, col_dilation = getattr(op, "dilation_rate", (1, 1))
        return Axis(rows, row_stride, row_dilation, op.padding), Axis(cols, col_stride, col_dilation, op.padding)
    if isinstance(op, POINTWISE_LAYERS) or isinstance(op, ELEMENTWISE_OPS) and _keeps_spatial_shape(op):
        return POINTWISE, POINTWISE
    return None


def _keeps_spatial_shape(op: Any) -> bool:
    shapes = [tuple(t.shape[1:3]) for node in op._inbound_nodes for t in (*node.input_tensors, *node.output_tensors)]
    return all(len(t) == 2 for t in shapes) and len(set(shapes)) == 1


class Graph:
    """The part of a functional model that feeds one output, as tensors in input-first order."""

    def __init__(self, model: keras.Model, output: Any):
        self.input = model.inputs[0]
        self.order: list[Any] = []  # every tensor after all the tensors it is computed from
        self.inputs: dict[int, list[Any]] = {}
        self.axes: dict[int, tuple[Axis, Axis] | None] = {}
        self._visit(output)
        self.output = output

    def _visit(self, tensor: Any) -> None:
        if id(tensor) in self.inputs:
            return
        op, node_index, _ = tensor._keras_history
        node = op._inbound_nodes[node_index]
        self.inputs[id(tensor)] = [] if node.is_input else list(node.input_tensors)
        self.axes[id(tensor)] = (POINTWISE, POINTWISE) if node.is_input else _axes(op)
        for source in self.inputs[id(tensor)]:
            self._visit(source)
        self.order.append(tensor)

    @property
    def local(self) -> bool:
        return all(axes is not None for axes in self.axes.values())

    def _axis(self, tensor: Any, axis: int) -> Axis:
        axes = self.axes[id(tensor)]
        if axes is None:
            raise ValueError(f"{tensor.name} comes from a layer after which a unit sees the whole input")
        return axes[axis]

    def size(self) -> tuple[int, int] | None:
        """Receptive field (rows, columns) of one output unit; None when it is the whole input."""
        if not self.local:
            return None
        return self._field(0)[0], self._field(1)[0]

    def _field(self, axis: int) -> tuple[int, int]:
        """(size, jump) of the output's receptive field along `axis`: the classic recurrence
        size += (span - 1) * jump, jump *= stride, taking the widest branch at merges."""
        fields: dict[int, tuple[int, int]] = {}
        for tensor in self.order:
            sources = self.inputs[id(tensor)]
            if not sources:
                fields[id(tensor)] = (1, 1)
                continue
            size = max(fields[id(s)][0] for s in sources)
            jump = max(fields[id(s)][1] for s in sources)
            geometry = self._axis(tensor, axis)
            fields[id(tensor)] = (size + (geometry.span - 1) * jump, jump * geometry.stride)
        return fields[id(self.output)]

    def lengths(self, size: int, axis: int) -> dict[int, int] | None:
        """Every tensor's length along `axis` for an input of length `size`; None if it does not fit."""
        lengths: dict[int, int] = {}
        for tensor in self.order:
            sources = self.inputs[id(tensor)]
            if not sources:
                lengths[id(tensor)] = size
                continue
            seen = {lengths[id(s)] for s in sources}
            if len(seen) != 1:
                return None  # merged branches disagree at this size
            lengths[id(tensor)] = self._axis(tensor, axis).out_size(seen.pop())
            if lengths[id(tensor)] < 1:
                return None
        return lengths

    def paddings(self, size: int, axis: int) -> list[int] | None:
        """Every layer's padding before the first value: the same list on two input lengths means
        the branches of the graph line up the same way on both."""
        lengths = self.lengths(size, axis)
        if lengths is None:
            return None
        return [self._axis(t, axis).before(lengths[id(self.inputs[id(t)][0])])
                for t in self.order if self.inputs[id(t)]]

    def reads(self, unit: int, size: int, axis: int) -> tuple[int, int] | None:
        """The input interval that output `unit` reads along `axis`, on an input of length `size`."""
        lengths = self.lengths(size, axis)
        if lengths is None or not 0 <= unit < lengths[id(self.output)]:
            return None
        needed = {id(self.output): (unit, unit)}
        for tensor in reversed(self.order):
            sources = self.inputs[id(tensor)]
            if id(tensor) not in needed or not sources:
                continue
            first, last = self._axis(tensor, axis).reads(*needed[id(tensor)], lengths[id(sources[0])])
            for source in sources:
                old = needed.get(id(source), (first, last))
                needed[id(source)] = (min(old[0], first), max(old[1], last))
        return needed[id(self.input)]

    def window(self, axis: int, field: int, full: int) -> tuple[int, int] | None:
        """(input length, unit): the shortest input, laid out like the full one, that holds all the
        input some unit reads; that unit reads the most of it. None when only the full input does."""
        padding = self.paddings(full, axis)
        for size in range(field, min(field + SEARCH_STRIDES * self._field(axis)[1], full)):
            lengths = self.lengths(size, axis)
            if lengths is None or self.paddings(size, axis) != padding:
                continue
            reads = [(unit, self.reads(unit, size, axis)) for unit in range(lengths[id(self.output)])]
            inside = [(unit, r) for unit, r in reads if r is not None and r[0] >= 0 and r[1] <= size - 1]
            if inside:
                unit, _ = min(inside, key=lambda item: item[1][0] - item[1][1])
                return size, unit
        return None


@dataclass(frozen=True)
class Window:
    """A smaller input for one unit: `shape` (rows, columns) and the output `unit` that reads all of it."""

    shape: tuple[int, int]
    unit: tuple[int, int]


def window(model: keras.Model, output: Any) -> Window | None:
    """The smallest input on which one unit of `output` computes what the centre unit computes on
    the full input; None when the layer stack is not local or the field is not smaller than the input."""
    graph = Graph(model, output)
    field = graph.size()
    if field is None:
        return None
    full = tuple(int(d) for d in model.inputs[0].shape[1:3])
    found = [graph.window(axis, field[axis], full[axis]) for axis in (0, 1)]
    if None in found:
        return None
    (rows, row), (cols, col) = found  # type: ignore[misc]
    return Window((rows, cols), (row, col))
