"""Occlusion (Zeiler & Fergus 2014): slide a patch of the baseline over the image and record how much
the class score drops; each pixel gets the mean drop of the patches that covered it.

No gradients: it measures what the network does without a region, at the cost of one forward pass
per patch position (batched). Window and stride default to 1/8 and 1/16 of the image's larger side.
"""

from __future__ import annotations

import numpy as np

from gallery.renderers.attribution.base import Job, Method, Raw, as_input, batched
from gallery.renderers.attribution.baselines import baseline


def windows(height: int, width: int, window: int, stride: int) -> list[tuple[int, int]]:
    """Top-left corners of patches of `window` px every `stride` px, the last flush with each edge."""
    def starts(size: int) -> list[int]:
        last = max(size - window, 0)
        return sorted({*range(0, last + 1, stride), last})
    return [(top, left) for top in starts(height) for left in starts(width)]


class Occlusion(Method):
    def scores(self, images: np.ndarray) -> np.ndarray:
        """Pre-softmax class scores [N, classes], `batch_size` images per pass."""
        scores = self.explainer.probe.scores
        return batched(lambda chunk: scores(chunk, training=False), self.explainer.batch_size,
                       as_input(self.explainer.network, images))

    def compute(self, job: Job) -> Raw:
        options, image = job.options, job.image
        height, width = image.shape[:2]
        window = options.occlusion_window or max(2, max(height, width) // 8)
        stride = options.occlusion_stride or max(1, window // 2)
        corners = windows(height, width, window, stride)
        reference = baseline(image, options.baseline, self.explainer.input_range)
        occluded = np.repeat(image[None], len(corners), axis=0)
        for copy, (top, left) in zip(occluded, corners):
            copy[top:top + window, left:left + window] = reference[top:top + window, left:left + window]
        full = self.scores(image[None])[0][job.classes]
        drops = full[None] - self.scores(occluded)[:, job.classes]  # [P, K]
        total = np.zeros((len(job.classes), height, width))
        covered = np.zeros((height, width))
        for drop, (top, left) in zip(drops, corners):
            total[:, top:top + window, left:left + window] += drop[:, None, None]
            covered[top:top + window, left:left + window] += 1
        return (total / covered).astype(np.float32), None
