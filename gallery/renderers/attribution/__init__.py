"""Attribution: which pixels of one image a class score depends on.

`base.py` owns the pipeline (the `Explainer`, the shared passes, the two method families); each
method is one small file overriding one hook, registered in gallery.methods; `sanity.py` is the
model-randomisation check. The names below are the package's public surface.
"""

from gallery.renderers.attribution.base import (
    Attribution,
    BaseCAM,
    Explainer,
    GradientMethod,
    LayerProbe,
    Method,
    class_count,
    class_scores,
    default_target_layer,
    displayable,
    probabilities,
    top_k_classes,
)
from gallery.renderers.attribution.guided_backprop import guided_copy
from gallery.renderers.attribution.sanity import (
    SANITY_METHODS,
    SanityCheck,
    randomized_copy,
    sanity_check,
)

__all__ = ["Attribution", "BaseCAM", "Explainer", "GradientMethod", "LayerProbe", "Method", "SANITY_METHODS",
           "SanityCheck", "class_count", "class_scores", "default_target_layer", "displayable", "guided_copy",
           "randomized_copy", "probabilities", "sanity_check", "top_k_classes"]
