"""XGrad-CAM (Fu et al. 2020): each channel weighed by its gradient averaged with the channel's own
activations as weights, the choice that makes the map satisfy their sensitivity and conservation axioms."""

from __future__ import annotations

import numpy as np

from gallery.renderers.attribution.base import BaseCAM, Probed

EPSILON = 1e-7  # the guard against an all-zero channel


class XGradCAM(BaseCAM):
    def weights(self, probed: Probed, image: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """sum over positions of g * A / sum(A): weights [K, C]."""
        activations = probed.activations
        share = activations / (activations.sum(axis=(0, 1)) + EPSILON)
        return (probed.gradients * share).sum(axis=(1, 2))
