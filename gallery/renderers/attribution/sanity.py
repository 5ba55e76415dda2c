"""Adebayo et al. 2018's sanity check: does an explanation change when the network forgets what it learned?"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
from scipy.stats import spearmanr

from gallery.renderers.attribution.base import Attribution, Explainer

SANITY_METHODS = ("saliency", "gradcam")
SANITY_THRESHOLD = 0.5  # Spearman rank correlation below which a map counts as changed


def _reseeded(config: dict[str, Any], seed: int) -> dict[str, Any]:
    """A layer config whose random initializers all draw from `seed`."""
    reseeded = dict(config)
    for key, value in config.items():
        if key.endswith("_initializer") and value is not None:
            initializer = keras.initializers.get(value)
            settings = initializer.get_config()
            if "seed" in settings:
                reseeded[key] = initializer.__class__.from_config({**settings, "seed": seed})
    return reseeded


def randomized_copy(network: Any, top_layers: int, seed: int = 0) -> keras.Model:
    """A copy of `network` whose last `top_layers` layers with weights are re-initialised, every
    other weight kept: Adebayo et al. 2018's cascading model randomisation. `network` is unchanged.

    Re-initialised layers draw from their own initializers, seeded with `seed` plus their position,
    so the copy is the same on every call and no global random state is touched.
    """
    weighted = [layer.name for layer in network.layers if layer.weights]
    seeds = {name: seed + position for position, name in enumerate(weighted)}
    fresh = set(weighted[max(len(weighted) - top_layers, 0):])

    def clone(layer: Any) -> Any:
        config = layer.get_config()
        return layer.__class__.from_config(_reseeded(config, seeds[layer.name]) if layer.name in fresh else config)

    copy = keras.models.clone_model(network, clone_function=clone)
    for layer in copy.layers:
        if layer.weights and layer.name not in fresh:
            layer.set_weights(network.get_layer(layer.name).get_weights())
    return copy


@dataclass(frozen=True)
class SanityCheck:
    """Each method's map on the trained network and on copies whose top layers are re-initialised, and
    how much of the trained map's ranking each copy keeps. A method whose map survives
    randomisation explains the image, not what the network learned."""

    target: int
    randomized: tuple[int, ...]  # per column, the top weighted layers re-initialised; 0 is the trained network
    maps: dict[tuple[str, int], Attribution]  # (method, column's randomized count) -> map
    correlations: dict[tuple[str, int], float | None]  # Spearman with the trained map; None when either is flat

    def passed(self, method: str) -> bool | None:
        """The fully randomised column's map is empty or ranks pixels unlike the trained one; None (no
        verdict) where the trained map itself is flat: it has no ranking to keep or to lose."""
        if _flat(self.maps[method, 0]):
            return None
        last = self.correlations[method, self.randomized[-1]]
        return last is None or last < SANITY_THRESHOLD


def _flat(attribution: Attribution) -> bool:
    """Empty or one value everywhere (a blank image's map): no ranking of pixels, no correlation."""
    return attribution.empty or float(np.ptp(attribution.heatmap)) == 0.0


def sanity_check(network: Any, image: np.ndarray, target: int, target_layer: str | None,
                 input_range: tuple[float, float], methods: Sequence[str] = SANITY_METHODS,
                 colormap: str = "jet", alpha: float = 0.4) -> SanityCheck:
    """Maps of `target` on `image` as the top 1, 2, ... layers with weights are re-initialised, up to all of them.

    The cascade stops at four randomised columns (the top one, two and three layers, then all): past
    the top few layers a map has nothing left to lose, and each copy costs a retrace.
    """
    weighted = sum(1 for layer in network.layers if layer.weights)
    cascade = (0, *sorted({min(k, weighted) for k in (1, 2, 3)} | {weighted}))
    maps: dict[tuple[str, int], Attribution] = {}
    for count in cascade:
        copy = network if count == 0 else randomized_copy(network, count)
        explained = Explainer(copy, target_layer, input_range).explain(image, [target], methods, colormap=colormap,
                                                                      alpha=alpha)
        maps.update({(method, count): explained[method, target] for method in methods})
    correlations: dict[tuple[str, int], float | None] = {}
    for (method, count), result in maps.items():
        trained = maps[method, 0]
        if _flat(result) or _flat(trained):
            correlations[method, count] = None
            continue
        rho = spearmanr(trained.heatmap.ravel(), result.heatmap.ravel())[0]
        correlations[method, count] = None if np.isnan(rho) else float(rho)
    return SanityCheck(target, cascade, maps, correlations)
