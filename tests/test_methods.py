"""The attribution methods' registry: every name has its class, and the config's list is the registry's."""

from __future__ import annotations

import keras
import numpy as np

from gallery import config
from gallery.methods import METHODS, MethodOptions
from gallery.renderers.attribution import Explainer, Method


def test_every_registered_method_has_its_class() -> None:
    """The registry names each method's class; each one builds and maps an image to the input's size."""
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(2, 3, activation="relu", name="conv")(inputs)
    network = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x)))
    explainer = Explainer(network)
    image = np.random.default_rng(0).random((8, 8, 1)).astype(np.float32)
    for name, info in METHODS.items():
        assert isinstance(explainer.method(name), Method), name
        assert info.wraps is None or info.wraps in METHODS
        result = explainer.explain(image, [1], [name], options=MethodOptions(samples=2, ig_steps=4))[name, 1]
        assert result.raw.shape == (8, 8) and np.isfinite(result.raw).all()
    assert config.AttributionSpec(model="m", images=["i"]).methods == [m for m in METHODS
                                                                       if m != "smoothgrad_integrated_gradients"]


def test_a_method_is_named_by_its_id_or_by_the_name_readers_see() -> None:
    from gallery.methods import method_id

    for info in METHODS.values():
        assert method_id(info.id) == info.id and method_id(info.label) == info.id
    assert [method_id(name) for name in ("Grad-CAM++", "gradcam++", "smooth grad", "GRAD_CAM", "ig")] == [
        "gradcam_plus_plus", "gradcam_plus_plus", "smoothgrad", "gradcam", None]
    spec = config.AttributionSpec(model="m", images=["i"], methods=["Grad-CAM++", "SmoothGrad", "gradcam_plus_plus"])
    assert spec.methods == ["gradcam_plus_plus", "smoothgrad"]
