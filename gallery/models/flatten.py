"""Every network as one flat functional graph: nested models inlined, Sequential models rebuilt.

A transfer-learning model calls a whole backbone as one layer (`x = base(inputs)`), and a Sequential
model saved as a file has no functional graph of its own; truncating at an inner layer, reading its
activations or differentiating a class score with respect to it then fails (no layer by that name,
or a gradient of None). So at load every nested model is inlined: its layers are called (as copies,
with their weights) on the outer model's tensors, one graph from input to output, and each inner
layer is named by its path, `backbone>block_13_expand` (Keras allows no "/" in a name; users write
and read `backbone/block_13_expand`: `path` and `keras_name` convert). A network with nothing nested is
returned as it is.

The graph is walked with Keras's own interpreter of functional graphs (`_run_through_graph`, what
`Functional.call` runs): it hands each operation of the graph, in order, to a function of ours, which
calls a copy of the layer (renamed by its path when nested) or inlines a nested model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

SEPARATOR = ">"  # inside Keras names; "/" where people read them


def path(keras_name: str) -> str:
    return keras_name.replace(SEPARATOR, "/")


def keras_name(layer_path: str) -> str:
    return layer_path.replace("/", SEPARATOR)


def _graph(model: Any, input_shape: tuple[int, ...] | None) -> Any:
    """The functional graph of a model: its own, or a Sequential's (built at `input_shape` when it has none)."""
    if isinstance(model, keras.Sequential):
        if not model.built or getattr(model, "_functional", None) is None:
            if input_shape is None:
                raise ValueError(f"the Sequential model '{model.name}' has no input shape: give input_shape")
            model.build((None, *input_shape))
        return model._functional
    return model


def _nested(model: Any) -> bool:
    return isinstance(model, keras.Sequential) or any(isinstance(layer, keras.Model) for layer in model.layers)


def _copy(layer: Any, name: str) -> Any:
    """`layer` under another name, with its weights (built on its first call)."""
    return layer.__class__.from_config({**layer.get_config(), "name": name})


def _inline(model: Any, inputs: list[Any], prefix: str, copies: dict[int, Any]) -> Any:
    """`model`'s graph called on `inputs`, its layers renamed `prefix>name` (top level: `prefix` empty)."""
    graph = _graph(model, tuple(inputs[0].shape[1:]))
    pending: list[tuple[Any, Any]] = []

    def operation(op: Any) -> Callable[..., Any]:
        if isinstance(op, keras.Model):
            name = f"{prefix}{SEPARATOR}{op.name}" if prefix else op.name
            return lambda *args, **kwargs: _inline(op, list(args), name, copies)
        if not isinstance(op, keras.layers.Layer):
            return op  # an operation without weights (keras.ops in the graph)
        if id(op) not in copies:  # a copy, even of a top-level layer: a layer called in two graphs has two
            # outputs, and `layer.output` (what truncating at it reads) would be the old graph's
            copies[id(op)] = _copy(op, f"{prefix}{SEPARATOR}{op.name}" if prefix else op.name)
            pending.append((op, copies[id(op)]))
        return copies[id(op)]

    outputs = graph._run_through_graph(inputs, operation_fn=operation)
    for original, copy in pending:
        copy.set_weights(original.get_weights())
    return outputs


def flatten(network: Any, input_shape: tuple[int, ...] | None = None, output: str | int | None = None) -> Any:
    """`network` as one flat functional model: at `input_shape` (height, width, channels) where given,
    explaining only `output` (a layer name or an index) of several. Unchanged when it is flat already."""
    if not _nested(network) and input_shape is None and output is None:
        return network
    graph = _graph(network, input_shape)
    source = graph.inputs[0]
    shape = input_shape or tuple(source.shape[1:])
    history = getattr(source, "_keras_history", None)
    inputs = keras.Input(shape, dtype=source.dtype, name=history[0].name if history else "input")
    outputs = _inline(network, [inputs], "", {})
    outputs = list(outputs) if isinstance(outputs, list | tuple) else [outputs]
    if output is not None:
        names = [path(tensor._keras_history[0].name) for tensor in outputs]
        if output not in names and not (isinstance(output, int) and 0 <= output < len(outputs)):
            raise ValueError(f"no output {output!r}")
        index = output if isinstance(output, int) else names.index(output)
        outputs = [outputs[index]]
    return keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0], name=network.name)


def rewire(network: Any, inputs: list[Any]) -> Any:
    """`network`'s graph called on other input tensors, as copies of its layers under their own names."""
    return _inline(network, inputs, "", {})


def output_names(network: Any) -> list[str]:
    """The names of the layers that make a network's outputs, as `output:` accepts them."""
    return [path(tensor._keras_history[0].name) for tensor in network.outputs]
