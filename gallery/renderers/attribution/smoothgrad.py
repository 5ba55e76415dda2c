"""SmoothGrad (Smilkov et al. 2017) as a wrapper: any gradient method averaged over noisy copies of
the image, as captum's NoiseTunnel turns any attribution method into its smoothed version
(`smoothgrad` wraps Saliency, `smoothgrad_integrated_gradients` Integrated Gradients)."""

from __future__ import annotations

import numpy as np

from gallery.methods import MethodOptions
from gallery.renderers.attribution.base import Explainer, GradientMethod, Job, Raw


class SmoothGrad(GradientMethod):
    """The wrapped method's gradient averaged over the job's `samples` noisy copies, the same copies
    for every class: Gaussian noise of standard deviation `sigma` times the width of the input range
    (Smilkov et al. suggest 10-20%), drawn from the job's `seed`."""

    def __init__(self, explainer: Explainer, inner: GradientMethod):
        super().__init__(explainer)
        self.inner = inner

    def batch_gradients(self, images: np.ndarray, classes: np.ndarray, options: MethodOptions) -> np.ndarray:
        return self.inner.batch_gradients(images, classes, options)

    def reduce(self, per_channel: np.ndarray) -> Raw:
        return self.inner.reduce(per_channel)

    def gradients(self, job: Job) -> np.ndarray:
        low, high = self.explainer.input_range
        image, classes, options = job.image, job.classes, job.options
        noise = np.random.default_rng(options.seed).normal(0, options.sigma * (high - low),
                                                           (options.samples, *image.shape))
        noisy = np.tile(image + noise, (len(classes), 1, 1, 1)).astype(image.dtype)
        gradients = self.inner.batch_gradients(noisy, np.repeat(classes, options.samples), options)
        return gradients.reshape(len(classes), options.samples, *image.shape).mean(axis=1)
