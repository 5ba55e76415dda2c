"""The attribution methods a config can name: id, the name readers see, the paper, and the class
that computes it.

This registry is the one list of methods: the config schema, the site's column heads and
explanations, and the renderer all read it. It holds no TensorFlow: each method's class is named
by its import path and loaded only when a build computes it (gallery.renderers.attribution).
A new method is one class in gallery/renderers/attribution/ plus one line here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from gallery.errors import unknown

Baseline = Literal["black", "blurred"]


@dataclass(frozen=True)
class MethodInfo:
    id: str  # stable: in configs, file names, URLs and atlas.json
    label: str  # the paper's name, shown to readers
    reference: str
    summary: str  # what the map shows, in a sentence or two
    implementation: str  # "module:Class"
    wraps: str | None = None  # a wrapper method (SmoothGrad): the method it wraps
    default: bool = True  # in `methods` when a config names none (False: too slow to run unasked)


@dataclass(frozen=True)
class MethodOptions:
    """The keys of the methods that have any, as the config gives them (the defaults are the papers')."""

    samples: int = 32  # SmoothGrad's noisy copies
    sigma: float = 0.15  # SmoothGrad's noise, as a share of the input range
    seed: int = 0  # SmoothGrad's noise
    ig_steps: int = 64  # Integrated Gradients' path steps
    baseline: Baseline = "black"  # what Integrated Gradients starts from and occlusion pastes in
    occlusion_window: int | None = None  # px; None: 1/8 of the image's larger side
    occlusion_stride: int | None = None  # px; None: half the window


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
    MethodInfo("integrated_gradients", "Integrated Gradients", "Sundararajan, Taly & Yan 2017, arXiv:1703.01365",
               "The gradient averaged along the straight path from a baseline (black or blurred) to the image, "
               "times their difference: its pixels add up to how much the image raises the score over the "
               "baseline.", f"{_PACKAGE}.integrated_gradients:IntegratedGradients"),
    MethodInfo("smoothgrad_integrated_gradients", "SmoothGrad × Integrated Gradients",
               "Smilkov et al. 2017, arXiv:1706.03825; Sundararajan et al. 2017",
               "Integrated Gradients averaged over noisy copies of the image: SmoothGrad's wrapper applied to "
               "another gradient method (samples x ig_steps passes per class: named, not run by default).",
               f"{_PACKAGE}.smoothgrad:SmoothGrad", wraps="integrated_gradients", default=False),
    MethodInfo("occlusion", "Occlusion", "Zeiler & Fergus 2014, arXiv:1311.2901",
               "How much the class score drops when a patch of the image is replaced by the baseline, slid "
               "over the image: what the network does without each region.", f"{_PACKAGE}.occlusion:Occlusion"),
    MethodInfo("layercam", "LayerCAM", "Jiang et al. 2021, IEEE TIP 30:5875",
               "Each position of each channel weighed by its own positive gradient: finer maps than Grad-CAM, "
               "from earlier layers too.", f"{_PACKAGE}.layercam:LayerCAM"),
    MethodInfo("xgradcam", "XGrad-CAM", "Fu et al. 2020, arXiv:2008.02312",
               "Grad-CAM with each channel's gradient averaged in proportion to the channel's activation, "
               "the weighting their sensitivity and conservation axioms call for.", f"{_PACKAGE}.xgradcam:XGradCAM"),
    MethodInfo("eigencam", "Eigen-CAM", "Muhammad & Yeasin 2020, arXiv:2008.00299",
               "The target layer's activations projected on their first principal component: no gradient and "
               "no class, the layer's dominant pattern (the same map for every class).",
               f"{_PACKAGE}.eigencam:EigenCAM"),
)}

DEFAULT_METHODS = [name for name, info in METHODS.items() if info.default]

MethodName = Literal[tuple(METHODS)]  # type: ignore[valid-type]  # the config's list of valid names


def _folded(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower().replace("+", "plus"))


NAMED = {_folded(key): info.id for info in METHODS.values() for key in (info.id, info.label)}


def method_id(name: str) -> str | None:
    """The id of the method `name` names, by its id or by the name readers see, in any case and with any
    spaces, - and _ ("Grad-CAM++", "gradcam++", "GradCAM_plus_plus"); None for no method."""
    return NAMED.get(_folded(name))


def method_named(name: str) -> str:
    """The id of the method `name` names (`method_id`); ValueError with the closest id or paper name."""
    found = method_id(name)
    if found is None:
        raise ValueError(unknown("attribution method", name, [*METHODS, *(info.label for info in METHODS.values())]))
    return found


def label(method: str) -> str:
    """The name a reader sees for a method id (the id itself for an unknown one)."""
    return METHODS[method].label if method in METHODS else method
