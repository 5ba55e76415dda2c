"""gallery: a YAML file in, a browsable static atlas of what a convolutional network learned out.

From Python (docs/api.md), with the engine, keys, defaults and cache of a config:

    >>> import gallery
    >>> net = gallery.load_model("mnist_cnn", epochs=12, batch_size=128)
    >>> gallery.visualize(net, "preds", tv_weight=100, lp_norm_weight=5, lp_p=1, jitter=2)
    >>> gallery.attribute(net, "digit7.png", classes=1)
    >>> gallery.Atlas("configs/mnist.yaml").build(out="site")

The functions and result classes are loaded on first use: `import gallery` (and the parts of it
that read or write a built site) starts without TensorFlow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gallery.errors import GalleryError
from gallery.methods import METHODS

__version__ = "0.1.0"

if TYPE_CHECKING:
    from gallery.api import (
        Atlas,
        Attributions,
        DatasetExamples,
        FeatureMaps,
        Model,
        Sanity,
        Visualization,
        attribute,
        dataset_examples,
        feature_maps,
        load_model,
        sanity_check,
        setting,
        visualize,
    )

__all__ = ["Atlas", "Attributions", "DatasetExamples", "FeatureMaps", "GalleryError", "METHODS", "Model", "Sanity",
           "Visualization", "__version__", "attribute", "dataset_examples", "feature_maps", "load_model",
           "sanity_check", "setting", "visualize"]
EAGER = {"GalleryError", "METHODS", "__version__"}


def __getattr__(name: str) -> Any:
    """The API's names, imported (with TensorFlow) when first used."""
    if name in __all__ and name not in EAGER:
        from gallery.startup import quiet_tensorflow

        quiet_tensorflow()  # before the API imports it: no start-up lines in a notebook
        from gallery import api

        return getattr(api, name)
    raise AttributeError(f"module 'gallery' has no attribute {name!r}")
