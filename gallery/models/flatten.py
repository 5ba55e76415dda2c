"""Every network as one flat functional graph: nested models inlined, Sequential models rebuilt.

A transfer-learning model calls a whole backbone as one layer (`x = base(inputs)`), and a Sequential
model saved as a file has no functional graph of its own; truncating at an inner layer, reading its
activations or differentiating a class score with respect to it then fails (no layer by that name,
or a gradient of None). So at load every nested model is inlined: its layers are called (as copies,
with their weights) on the outer model's tensors, one graph from input to output, and each inner
layer is named by its path, `backbone>block_13_expand` (Keras allows no "/" in a name; users write
and read `backbone/block_13_expand`: `path` and `keras_name` convert). A network with nothing nested is
returned as it is, unless a name is one TensorFlow refuses as a name scope when the model runs (a space,
a letter outside ASCII, a quote) or holds the ">" gallery nests by: such a layer is renamed inside the graph
(`scoped`, its name's UTF-8 in hex) and read back under its own name, so users still see and write that.

The graph is walked with Keras's own interpreter of functional graphs (`_run_through_graph`, what
`Functional.call` runs): it hands each operation of the graph, in order, to a function of ours, which
calls a copy of the layer (renamed by its path when nested) or inlines a nested model.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import keras

SEPARATOR = ">"  # inside Keras names; "/" where people read them
SCOPE = re.compile(r"[A-Za-z0-9.][A-Za-z0-9_.-]*")  # a name TensorFlow takes as a name scope, less SEPARATOR
RENAMED = "u."  # how a renamed layer's name starts: u. and its name's UTF-8 in hex


def scoped(name: str) -> str:
    """A layer's name as the graph holds it: as it is where TensorFlow takes it as a name scope, else
    renamed (a name that starts with RENAMED is renamed too, so that reading a name back is exact)."""
    if SCOPE.fullmatch(name) and not name.startswith(RENAMED):
        return name
    return RENAMED + name.encode("utf-8").hex()


def unscoped(name: str) -> str:
    """The name `scoped` renamed, back; any other name as it is."""
    if name.startswith(RENAMED):
        try:
            return bytes.fromhex(name.removeprefix(RENAMED)).decode("utf-8")
        except ValueError:  # a name of a model not flattened (its outputs, named in an error)
            return name
    return name


def path(keras_name: str) -> str:
    return "/".join(unscoped(part) for part in keras_name.split(SEPARATOR))


def keras_name(layer_path: str) -> str:
    return SEPARATOR.join(scoped(part) for part in layer_path.split("/"))


def _graph(model: Any, input_shape: tuple[int, ...] | None) -> Any:
    """The functional graph of a model: its own, or a Sequential's (built at `input_shape` when it has none)."""
    if isinstance(model, keras.Sequential):
        if not model.built or getattr(model, "_functional", None) is None:
            if input_shape is None:
                raise ValueError(f"the Sequential model '{model.name}' has no input shape: give input_shape")
            model.build((None, *input_shape))
        return model._functional
    return model


def _rebuilt(model: Any) -> bool:
    """`model` must be rebuilt to be one graph TensorFlow runs: it is Sequential, nests a model, or has a
    layer whose name the graph must hold renamed."""
    return isinstance(model, keras.Sequential) or any(isinstance(layer, keras.Model) or scoped(layer.name) != layer.name
                                                      for layer in model.layers)


def _copy(layer: Any, name: str) -> Any:
    """`layer` under another name, with its weights (built on its first call)."""
    return layer.__class__.from_config({**layer.get_config(), "name": name})


def _inline(model: Any, inputs: list[Any], prefix: str, copies: dict[int, Any]) -> Any:
    """`model`'s graph called on `inputs`, its layers renamed `prefix>name` (top level: `prefix` empty)."""
    graph = _graph(model, tuple(inputs[0].shape[1:]))
    pending: list[tuple[Any, Any]] = []

    def operation(op: Any) -> Callable[..., Any]:
        if not isinstance(op, keras.layers.Layer):
            return op  # an operation without weights (keras.ops in the graph)
        name = f"{prefix}{SEPARATOR}{scoped(op.name)}" if prefix else scoped(op.name)
        if isinstance(op, keras.Model):
            return lambda *args, **kwargs: _inline(op, list(args), name, copies)
        if id(op) not in copies:  # a copy, even of a top-level layer: a layer called in two graphs has two
            # outputs, and `layer.output` (what truncating at it reads) would be the old graph's
            copies[id(op)] = _copy(op, name)
            pending.append((op, copies[id(op)]))
        return copies[id(op)]

    outputs = graph._run_through_graph(inputs, operation_fn=operation)
    for original, copy in pending:
        copy.set_weights(original.get_weights())
    return outputs


def flatten(network: Any, input_shape: tuple[int, ...] | None = None, output: str | int | None = None) -> Any:
    """`network` as one flat functional model: at `input_shape` (height, width, channels) where given,
    explaining only `output` (a layer name or an index) of several. Unchanged when it is flat already."""
    if not _rebuilt(network) and input_shape is None and output is None:
        return network
    graph = _graph(network, input_shape)
    source = graph.inputs[0]
    shape = input_shape or tuple(source.shape[1:])
    history = getattr(source, "_keras_history", None)
    inputs = keras.Input(shape, dtype=source.dtype, name=scoped(history[0].name) if history else "input")
    outputs = _inline(network, [inputs], "", {})
    outputs = list(outputs) if isinstance(outputs, list | tuple) else [outputs]
    if output is not None:
        names = [path(tensor._keras_history[0].name) for tensor in outputs]
        if output not in names and not (isinstance(output, int) and 0 <= output < len(outputs)):
            raise ValueError(f"no output {output!r}")
        index = output if isinstance(output, int) else names.index(output)
        outputs = [outputs[index]]
    return keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0], name=scoped(network.name))


def rewire(network: Any, inputs: list[Any]) -> Any:
    """`network`'s graph called on other input tensors, as copies of its layers under their own names."""
    return _inline(network, inputs, "", {})


def output_names(network: Any) -> list[str]:
    """The names of the layers that make a network's outputs (one not flattened), as `output:` accepts them."""
    return [tensor._keras_history[0].name for tensor in network.outputs]
