"""Models: build, train (once, cached by content) or load each configured network.

`sources.py` has one loader per config `source`, `builtins.py` one record per builtin network;
`describe.py` reads the plain facts (gallery.architecture) that the TF-free stages work from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gallery.architecture import ModelInfo
from gallery.config import LoadedConfig, ModelSpec
from gallery.models.describe import describe, unusable
from gallery.models.loaded import LoadedModel
from gallery.models.sources import SOURCES, model_error


def network(spec: ModelSpec, config: LoadedConfig) -> Any:
    """The Keras network with its layers but not necessarily its trained weights: no training, no download;
    a one-line error at the model's config line for a network the engine cannot visualize."""
    return usable(spec, config, SOURCES[spec.source].architecture(spec, config))


def usable(spec: ModelSpec, config: LoadedConfig, layers: Any) -> Any:
    try:
        problem = unusable(layers)
    except (AttributeError, ValueError) as exc:  # a model Keras has not built: no symbolic input to read
        problem = "source", f"its input cannot be read ({' '.join(str(exc).split())[:200]})"
    if problem:
        raise model_error(spec, config, *problem)
    return layers


def architecture(spec: ModelSpec, config: LoadedConfig) -> ModelInfo:
    """The network's layers and unit names, without training or downloading: enough to check a config."""
    layers = network(spec, config)
    return describe(spec.id, layers, SOURCES[spec.source].labels(spec, config, layers))


def load(spec: ModelSpec, config: LoadedConfig, cache_dir: Path) -> LoadedModel:
    """Build, train or load one model; trained builtins are cached so a second build trains nothing."""
    loaded = SOURCES[spec.source].load(spec, config, cache_dir)
    usable(spec, config, loaded.network)
    return loaded


__all__ = ["LoadedModel", "ModelInfo", "architecture", "describe", "load", "network"]
