"""Models: build, train (once, cached by content) or load each configured network.

`sources.py` has one loader per config `source`, `builtins.py` one record per builtin network;
`describe.py` reads the plain facts (gallery.architecture) that the TF-free stages work from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gallery.architecture import ModelInfo
from gallery.config import LoadedConfig, ModelSpec
from gallery.models.describe import describe
from gallery.models.loaded import LoadedModel
from gallery.models.sources import SOURCES


def network(spec: ModelSpec, config: LoadedConfig) -> Any:
    """The Keras network with its layers but not necessarily its trained weights: no training, no download."""
    return SOURCES[spec.source].architecture(spec, config)


def architecture(spec: ModelSpec, config: LoadedConfig) -> ModelInfo:
    """The network's layers and unit names, without training or downloading: enough to check a config."""
    layers = network(spec, config)
    return describe(spec.id, layers, SOURCES[spec.source].labels(spec, layers))


def load(spec: ModelSpec, config: LoadedConfig, cache_dir: Path) -> LoadedModel:
    """Build, train or load one model; trained builtins are cached so a second build trains nothing."""
    return SOURCES[spec.source].load(spec, config, cache_dir)


__all__ = ["LoadedModel", "ModelInfo", "architecture", "describe", "load", "network"]
