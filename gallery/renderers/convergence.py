"""Did an optimization converge? A verdict from the loss curves the engine records at every step.

A picture that stopped too early, or that the regularizers flattened, looks like a real feature
but is not one: the report found block5 filters of VGG16 that keras-vis's defaults left grey.
The verdict makes that visible instead of leaving it to the reader's eye.
"""

from __future__ import annotations

import numpy as np

from gallery.renderers.regularizers import REGULARIZERS

CONVERGED, RISING, REGULARIZER_DOMINATED, FAILED = "converged", "rising", "regularizer-dominated", "failed"
STATUSES = (CONVERGED, RISING, REGULARIZER_DOMINATED, FAILED)
LATE_SHARE = 0.1  # windows of 10% of the steps: the last one ...
RISING_SHARE = 0.05  # ... above every earlier one by more than 5% of the whole gain
NOISE_SIGMAS = 2.0  # ... and more than this many standard errors of that difference
LEVEL_SHARE = 0.05  # steps: auto stops an image whose last half of steps gained less than this share of its gain


def classify(losses: dict[str, list[float]], reported_gain: float, start: float | None = None) -> str:
    """`converged`, `rising`, `regularizer-dominated` or `failed` (a non-finite value anywhere), for one
    image's per-step losses.

    `losses` are the engine's (LOSS_NAMES): "activation" is minus the weighted objective, so minus
    it is what the optimizer raises, whatever the weight's sign. `start`: that raised value where
    the whole optimization began, when these losses are its second stage (default: their first step).
    `reported_gain`: how much the returned image raised the reported value (through the real
    activation, not the leaky one the optimizer climbs) over the start image, signed like the goal.
    - regularizer-dominated: the reported activation is not above the start's, or the returned
      (lowest-total) step's objective is not, or that step's weighted image priors (regularizers.py) are larger
      than the weighted objective's gain: the regularizers outweigh what the objective gained,
      so they shaped the picture.
    - rising: split into windows of 10% of the steps, the last window's mean is a new high, above
      every earlier window's mean by more than 5% of the whole gain and by more than twice the
      standard error of that difference (jitter makes single steps noisy, and a noisy plateau
      must not pass for a climb).
    """
    if not (np.isfinite(reported_gain) and all(np.isfinite(v).all() for v in losses.values())):
        return FAILED  # the network gave NaN or infinity (NaN weights, an overflow): no picture to trust
    progress = -np.asarray(losses["activation"], np.float64)
    penalty = np.sum([np.asarray(losses[prior.name], np.float64) for prior in REGULARIZERS], axis=0)
    best = int(np.argmin(losses["total"]))
    gain = progress[best] - (progress[0] if start is None else start)
    if reported_gain <= 0 or gain <= 0 or penalty[best] > gain:
        return REGULARIZER_DOMINATED
    window = max(1, round(LATE_SHARE * len(progress)))
    if len(progress) < 2 * window + 1:
        return RISING  # too few steps to see it level off
    windows = progress[len(progress) % window:].reshape(-1, window)
    means = windows.mean(axis=1)
    high = int(np.argmax(means[:-1]))
    late = means[-1] - means[high]
    noise = np.sqrt((windows[-1].var() + windows[high].var()) / window)
    return RISING if late > max(RISING_SHARE * (means[-1] - progress[0]), NOISE_SIGMAS * noise) else CONVERGED


def levelled(progress: np.ndarray) -> np.ndarray:
    """Per column of `progress` [steps, images] (the raised objective per step), whether it has levelled
    off: the mean of its last 10% of steps is less than 5% of its whole gain above the mean of the
    10% before its halfway point. `steps: auto` stops an image by this, not by `classify`'s rising
    test: a curve that climbs like log(steps) passes that test at any length (its last tenth gains
    little) yet gains as much again with every doubling, and stopping it at 50 steps cost a quarter
    of the activation on EfficientNet-Lite0. A curve this stops is one `classify` does not call
    rising. A curve with no gain (activation weight 0) or no number (NaN) has nothing to wait for."""
    window = max(1, round(LATE_SHARE * len(progress)))
    half = len(progress) // 2
    last = progress[-window:].mean(axis=0)
    middle = progress[max(0, half - window):half].mean(axis=0)
    gain = last - progress[0]
    return ~np.isfinite(last) | (last - middle <= LEVEL_SHARE * np.maximum(gain, 0.0))
