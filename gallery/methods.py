"""The attribution methods a config can name: id, the name readers see, the paper, and the class
that computes it.

This registry is the one list of methods: the config schema, the site's column heads and
explanations, and the renderer all read it. It holds no TensorFlow: each method's class is named
by its import path and loaded only when a build computes it (gallery.renderers.attribution).
A new method is one class in gallery/renderers/attribution/ plus one line here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class MethodInfo:
    id: str  # stable: in configs, file names, URLs and atlas.json
    label: str  # the paper's name, shown to readers
    reference: str
    summary: str  # what the map shows, in a sentence or two
    implementation: str  # "module:Class"
    wraps: str | None = None  # a wrapper method (SmoothGrad): the method it wraps


_PACKAGE = "gallery.renderers.attribution"
METHODS: dict[str, MethodInfo] = {m.id: m for m in (
    MethodInfo("saliency", "Saliency", "Simonyan, Vedaldi & Zisserman 2014, arXiv:1312.6034",
               "The gradient of the class score with respect to each pixel: where a small change of the input "
               "changes the score most.", f"{_PACKAGE}.saliency:Saliency"),
    MethodInfo("smoothgrad", "SmoothGrad", "Smilkov et al. 2017, arXiv:1706.03825",
               "Saliency averaged over noisy copies of the image: the same evidence with less of the gradient's "
               "pixel-level noise.", f"{_PACKAGE}.smoothgrad:SmoothGrad", wraps="saliency"),
    MethodInfo("guided_backprop", "Guided Backprop", "Springenberg et al. 2015, arXiv:1412.6806",
               "The gradient passed back only through positive signals at every ReLU: sharp edges of what "
               "raises the score (it depends little on the class).", f"{_PACKAGE}.guided_backprop:GuidedBackprop"),
    MethodInfo("gradcam", "Grad-CAM", "Selvaraju et al. 2017, arXiv:1610.02391",
               "The target layer's channels weighed by their mean gradient and summed: a coarse map of the "
               "regions that raise the class score.", f"{_PACKAGE}.gradcam:GradCAM"),
    MethodInfo("gradcam_plus_plus", "Grad-CAM++", "Chattopadhay et al. 2018, arXiv:1710.11063",
               "Grad-CAM with each channel weighed by its positive gradients, so several instances of a class "
               "all show.", f"{_PACKAGE}.gradcam_plus_plus:GradCAMPlusPlus"),
    MethodInfo("guided_gradcam", "Guided Grad-CAM", "Selvaraju et al. 2017, arXiv:1610.02391",
               "Guided Backprop times the Grad-CAM map: fine detail, but only inside the class's regions.",
               f"{_PACKAGE}.guided_gradcam:GuidedGradCAM"),
    MethodInfo("scorecam", "Score-CAM", "Wang et al. 2020, arXiv:1910.01279",
               "The target layer's channels weighed by how much the image masked by each channel raises the "
               "class score: no gradients at all.", f"{_PACKAGE}.scorecam:ScoreCAM"),
)}

MethodName = Literal[tuple(METHODS)]  # type: ignore[valid-type]  # the config's list of valid names


def label(method: str) -> str:
    """The name a reader sees for a method id (the id itself for an unknown one)."""
    return METHODS[method].label if method in METHODS else method
