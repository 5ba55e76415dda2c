"""Integrated Gradients (Sundararajan, Taly & Yan 2017): the gradient averaged along the straight path
from a baseline to the image, times the image minus the baseline.

Its attributions sum to score(image) - score(baseline) (completeness), up to the error of the path
integral's midpoint rule with `ig_steps` points. The map is the signed sum over input channels
(positive: the pixel raised the score relative to the baseline).
"""

from __future__ import annotations

import numpy as np

from gallery.methods import MethodOptions
from gallery.renderers.attribution.base import GradientMethod, Raw
from gallery.renderers.attribution.baselines import baseline


class IntegratedGradients(GradientMethod):
    def batch_gradients(self, images: np.ndarray, classes: np.ndarray, options: MethodOptions) -> np.ndarray:
        """Per (image, class): (image - baseline) * the mean gradient at the path's `ig_steps` midpoints."""
        steps = options.ig_steps
        starts = np.stack([baseline(image, options.baseline, self.explainer.input_range) for image in images])
        alphas = (np.arange(steps) + 0.5) / steps
        path = (starts[:, None] + alphas[None, :, None, None, None] * (images - starts)[:, None]).astype(images.dtype)
        gradients = self.explainer.gradients(path.reshape(-1, *images.shape[1:]), np.repeat(classes, steps))
        return (images - starts) * gradients.reshape(len(images), steps, *images.shape[1:]).mean(axis=1)

    def reduce(self, per_channel: np.ndarray) -> Raw:
        return per_channel.sum(axis=-1), per_channel
