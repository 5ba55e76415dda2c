"""LayerCAM (Jiang et al. 2021): each position of each channel weighed by its own positive gradient,
so fine detail of earlier layers survives where one weight per channel would blur it."""

from __future__ import annotations

import numpy as np

from gallery.renderers.attribution.base import BaseCAM, Probed


class LayerCAM(BaseCAM):
    def weights(self, probed: Probed, image: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """ReLU of the gradient at every position: weights [K, h, w, C]."""
        return np.maximum(probed.gradients, 0)
