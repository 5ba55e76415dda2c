"""Vanilla saliency (Simonyan et al. 2014): the gradient of the class score with respect to the input."""

from __future__ import annotations

import numpy as np

from gallery.methods import MethodOptions
from gallery.renderers.attribution.base import GradientMethod


class Saliency(GradientMethod):
    def batch_gradients(self, images: np.ndarray, classes: np.ndarray, options: MethodOptions) -> np.ndarray:
        return self.explainer.gradients(images, classes)
