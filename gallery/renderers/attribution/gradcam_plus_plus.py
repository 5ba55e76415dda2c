"""Grad-CAM++ (Chattopadhay et al. 2018): each channel weighed by its alpha-weighted positive gradients."""

from __future__ import annotations

import numpy as np

from gallery.renderers.attribution.base import BaseCAM, Probed

EPSILON = 1e-7  # the guard against 0 / 0


class GradCAMPlusPlus(BaseCAM):
    def weights(self, probed: Probed, image: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """Positive gradients weighed by alpha = g^2 / (2 g^2 + sum(A) g^3), the closed form that
        Chattopadhay et al. get for an exponential of the score; alpha is 0 where g is."""
        g = probed.gradients
        g2 = g * g
        alpha = g2 / (2 * g2 + probed.activations.sum(axis=(0, 1)) * g2 * g + EPSILON)
        return (np.where(g != 0, alpha, 0) * np.maximum(g, 0)).sum(axis=(1, 2))
