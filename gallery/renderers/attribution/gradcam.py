"""Grad-CAM (Selvaraju et al. 2017): each channel of the target layer weighed by its mean gradient."""

from __future__ import annotations

import numpy as np

from gallery.renderers.attribution.base import BaseCAM, Probed


class GradCAM(BaseCAM):
    def weights(self, probed: Probed, image: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """The mean gradient over positions: Selvaraju et al.'s alpha."""
        return probed.gradients.mean(axis=(1, 2))
