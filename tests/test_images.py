"""Input images: read once, fed to each model as it was trained."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import MnistAtlas

from gallery import config, models


def test_model_input_maps_pixels_onto_the_input_range(mnist_atlas: MnistAtlas) -> None:
    loaded = config.load(mnist_atlas.config)
    model = models.LoadedModel(loaded.config.models[0], models.network(loaded.config.models[0], loaded),
                               "", (0.0, 1.0), "")
    pixels = np.zeros((56, 56, 3), np.uint8)
    pixels[:28] = 255
    seen = model.input_of(pixels)
    assert seen.shape == (28, 28, 1) and seen[0, 0, 0] == pytest.approx(1.0) and seen[-1, 0, 0] == pytest.approx(0.0)
