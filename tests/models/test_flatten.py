"""Every network as one graph TensorFlow runs, whatever its layers are called."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import write_config

from gallery import build
from gallery.models.flatten import flatten, keras_name, path, scoped, unscoped

# Names Keras 3 takes and saves, but TensorFlow refuses as a name scope when the model runs, or that
# hold the ">" gallery nests by, or that look like a renamed one.
ODD = ["conv é", "façade_ü_卷积", "stage1>conv", "u.00", "u.zz", "g<a>p&\"", "_leading", "out'put"]


@pytest.mark.parametrize("name", [*ODD, "conv2d_1", "block.1-a", "ü"])
def test_a_name_the_graph_holds_reads_back_as_it_was(name: str) -> None:
    assert unscoped(scoped(name)) == name and path(keras_name(name)) == name
    assert scoped(name) == name or scoped(name).startswith("u.") and scoped(name).isascii()


def test_a_name_tensorflow_takes_stays_as_it_is() -> None:
    assert [scoped(name) for name in ("conv2d_1", "block.1-a", "Conv_1")] == ["conv2d_1", "block.1-a", "Conv_1"]
    assert keras_name("backbone/block_1") == "backbone>block_1" and path("backbone>block_1") == "backbone/block_1"


def model(names: list[str]) -> keras.Model:
    """Convolutions named `names`, then a softmax head named after the last name; seeded weights."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12, 12, 3), name=names[0] + " in")
    x = inputs
    for name in names:
        x = keras.layers.Conv2D(2, 3, padding="same", activation="relu", name=name)(x)
    x = keras.layers.GlobalAveragePooling2D(name=names[-1] + " pool")(x)
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name=names[-1] + " out")(x),
                       name=names[0] + " model")


def test_a_model_with_names_tensorflow_refuses_runs_and_keeps_them() -> None:
    odd = model(ODD)
    plain = model([f"conv{index}" for index in range(len(ODD))])
    plain.set_weights(odd.get_weights())
    flat = flatten(odd)
    batch = np.random.default_rng(0).random((2, 12, 12, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(flat(batch)), np.asarray(plain(batch)), rtol=1e-6)
    assert [path(layer.name) for layer in flat.layers][1:len(ODD) + 1] == ODD
    inner = keras.Model(flat.inputs, flat.get_layer(keras_name("stage1>conv")).output)
    reference = keras.Model(plain.inputs, plain.get_layer("conv2").output)
    np.testing.assert_allclose(np.asarray(inner(batch)), np.asarray(reference(batch)), rtol=1e-6)


def test_a_nested_backbone_with_such_names_is_read_by_its_path() -> None:
    backbone = model(["conv é", "stage1>conv"])
    backbone = keras.Model(backbone.inputs, backbone.get_layer("stage1>conv").output, name="back bone")
    inputs = keras.Input((12, 12, 3))
    outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(backbone(inputs)))
    flat = flatten(keras.Model(inputs, outputs))
    names = [path(layer.name) for layer in flat.layers]
    assert "back bone/conv é" in names and "back bone/stage1>conv" in names
    assert flat.get_layer(keras_name("back bone/stage1>conv")).output.shape[-1] == 2


def test_a_build_of_such_a_model_shows_its_own_names(tmp_path: Path) -> None:
    model(["conv é", "stage1>conv"]).save(tmp_path / "odd.keras")
    config = write_config(tmp_path, "    source: file\n    path: odd.keras", '"stage1>conv"', "all")
    summary = build.run(config, tmp_path / "site", tmp_path / "cache")
    assert summary.rendered == 2
    atlas = json.loads((tmp_path / "site" / "atlas.json").read_text())
    assert [layer["name"] for layer in atlas["models"][0]["layers"]][1:3] == ["conv é", "stage1>conv"]
    assert "u.7374" not in (tmp_path / "site" / "atlas.json").read_text()  # no name as the graph holds it
