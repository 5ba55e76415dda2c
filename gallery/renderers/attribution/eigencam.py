"""Eigen-CAM (Muhammad & Yeasin 2020): the target layer's activations projected on their first
principal component (the first right-singular vector, as in the paper, without centring). It uses
no gradient and no class: every class of an image gets the layer's dominant pattern."""

from __future__ import annotations

import numpy as np

from gallery.renderers.attribution.base import BaseCAM, Probed


class EigenCAM(BaseCAM):
    def weights(self, probed: Probed, image: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """The first right-singular vector of the activations [h*w, C], signed so the map sums to a
        positive value (an SVD's sign is arbitrary), the same for every class: weights [K, C]."""
        activations = probed.activations.reshape(-1, probed.activations.shape[-1]).astype(np.float64)
        component = np.zeros(activations.shape[-1])
        if activations.any():
            component = np.linalg.svd(activations, full_matrices=False)[2][0]
            component = -component if (activations @ component).sum() < 0 else component
        return np.tile(component, (len(classes), 1)).astype(probed.activations.dtype)
