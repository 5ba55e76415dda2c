"""Score-CAM (Wang et al. 2020): each channel weighed by how much the image masked by it raises the score.

Without their softmax over channels, which would turn a channel that lowers the score into a
small positive weight.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import tensorflow as tf

from gallery.renderers.attribution.base import (
    BaseCAM,
    Probed,
    as_input,
    batched,
    input_spec,
    upsample,
)


class ScoreCAM(BaseCAM):
    """Weights from masked forward passes, `batch_size` channels per compiled call.

    Each channel, upsampled and min-max normalised, multiplies the image; its weight is the class
    score of that input minus the score of the all-zero input (the image with every pixel masked:
    black for inputs in 0-1 or 0-255). A constant channel would give an all-zero mask and so a weight of
    exactly 0: those channels are not run (in a ReLU network, many of the last layer's are dead).
    """

    @functools.cached_property
    def _masked_scores(self) -> Any:
        probe = self.explainer.probe
        network, scores = probe.network, probe.scores
        layer_spec = tf.TensorSpec([None, *network.get_layer(probe.layer).output.shape[1:3]], network.inputs[0].dtype)

        @tf.function(input_signature=[input_spec(network, batched=False), layer_spec])
        def masked_scores(image: tf.Tensor, maps: tf.Tensor) -> tf.Tensor:
            masks = upsample(maps, tf.shape(image)[:2])[..., None]
            low = tf.reduce_min(masks, axis=[1, 2, 3], keepdims=True)
            high = tf.reduce_max(masks, axis=[1, 2, 3], keepdims=True)
            return scores(image[None] * ((masks - low) / (high - low)), training=False)

        return masked_scores

    def weights(self, probed: Probed, image: np.ndarray, classes: np.ndarray) -> np.ndarray:
        probe = self.explainer.probe
        image = as_input(probe.network, image)
        baseline = np.asarray(probe.scores(np.zeros_like(image)[None], training=False))[0]
        activations = probed.activations
        live = np.flatnonzero(np.ptp(activations, axis=(0, 1)) > 0)
        weights = np.zeros((len(classes), activations.shape[-1]), activations.dtype)
        if live.size:
            maps = np.moveaxis(activations[..., live], -1, 0)
            scores = batched(lambda chunk: self._masked_scores(image, chunk), self.explainer.batch_size, maps)
            weights[:, live] = (scores - baseline)[:, classes].T
        return weights
