"""Deletion and insertion (Petsiuk, Das & Saenko 2018, RISE): is a map faithful to the network?

Deletion replaces the image's pixels, most important first by the map, with the blurred image in
`STEPS` equal steps and records the class probability after each; a faithful map makes it fall
fast (low area under the curve). Insertion starts from the blurred image and puts the pixels back
in the same order; a faithful map makes the probability rise fast (high area). The same two
curves for a random order are the bar a map must beat: a map whose insertion area does not beat
random's says no more about the network than chance.

The reference is a far heavier blur than the `blurred` baseline (a quarter of the image's side
against a sixteenth): it keeps the colours and their layout but no shape the network can name (on
scikit-image's 18 photos EfficientNet-Lite0 gives no class over 8% on it, where one photo's lighter
blur is still 46% of a class). A reference that still shows the class makes every order's curve
start high, and the random order's speckle of sharp pixels, itself a texture, wins on texture
classes; on 9 photos Grad-CAM beats random on 20 of 27 (image, class) pairs at a sixteenth and 22
at a quarter (occlusion 23 and 24). The cost is on small digits: a coarse map puts blobs of an MNIST
digit back into flat gray, so Grad-CAM's insertion lead over random on digit 7 narrows (0.89 against
0.71 at a sixteenth, 0.66 against 0.65 at a quarter), while the pixel-level methods keep theirs.

Areas are the trapezoid rule over the fraction of pixels moved, in [0, 1]. Every curve of an image
is one batch of forward passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gallery.renderers.attribution.baselines import blurred

STEPS = 16  # pixels moved in this many equal steps: 17 points per curve
REFERENCE_SHARE = 1 / 4  # the reference blur's standard deviation as a share of the image's larger side
RANDOM_SEED = 0


@dataclass(frozen=True)
class Curves:
    """A map's deletion and insertion curves (probability after 0..STEPS steps) and their areas."""

    deletion: np.ndarray
    insertion: np.ndarray

    @property
    def deletion_auc(self) -> float:
        return area(self.deletion)

    @property
    def insertion_auc(self) -> float:
        return area(self.insertion)


def area(curve: np.ndarray) -> float:
    """The trapezoid area under a curve sampled at equal steps of [0, 1]."""
    return float((curve[:-1] + curve[1:]).sum() / (2 * (len(curve) - 1)))


def orders(maps: np.ndarray) -> np.ndarray:
    """Per map [N, H, W], its pixels from most to least important (ties: in raster order)."""
    flat = maps.reshape(len(maps), -1)
    return np.argsort(-flat, axis=1, kind="stable")


def random_order(height: int, width: int, seed: int = RANDOM_SEED) -> np.ndarray:
    return np.random.default_rng(seed).permutation(height * width)


def sequences(image: np.ndarray, reference: np.ndarray, order: np.ndarray,
              steps: int = STEPS) -> tuple[np.ndarray, np.ndarray]:
    """The deletion and insertion inputs [steps + 1, H, W, C] for one pixel order."""
    height, width = image.shape[:2]
    count = height * width
    rank = np.empty(count, np.int64)
    rank[order] = np.arange(count)
    moved = [rank.reshape(height, width) < round(count * step / steps) for step in range(steps + 1)]
    masks = np.stack(moved)[..., None]  # [steps + 1, H, W, 1]: True where the pixel has moved
    return np.where(masks, reference, image), np.where(masks, image, reference)


def _probabilities_along(probabilities: Any, image: np.ndarray, reference: np.ndarray, order: np.ndarray,
                         steps: int) -> np.ndarray:
    """The class probabilities [2, steps + 1, classes] along deletion and insertion in one pixel order."""
    deleted, inserted = sequences(image, reference, order, steps)
    return np.asarray(probabilities(np.concatenate([deleted, inserted]))).reshape(2, steps + 1, -1)


def curves(probabilities: Any, image: np.ndarray, maps: np.ndarray, targets: np.ndarray, classes: np.ndarray,
           steps: int = STEPS) -> tuple[list[Curves], list[Curves]]:
    """Per map [N, H, W], the curves of class targets[n] in that map's pixel order; and per class of
    `classes`, its curves in one random pixel order (seeded): the bar a map must beat. All against
    one heavily blurred copy of the image (REFERENCE_SHARE).

    `probabilities`: images [B, H, W, C] -> class probabilities [B, classes].
    """
    reference = blurred(image, REFERENCE_SHARE)
    found = [_probabilities_along(probabilities, image, reference, order, steps) for order in orders(maps)]
    chance = _probabilities_along(probabilities, image, reference, random_order(*image.shape[:2]), steps)
    return ([Curves(one[0, :, target], one[1, :, target]) for one, target in zip(found, targets)],
            [Curves(chance[0, :, target], chance[1, :, target]) for target in classes])
