"""Guided Grad-CAM (Selvaraju et al. 2017): guided backprop times the Grad-CAM heatmap, as captum's
GuidedGradCam holds both."""

from __future__ import annotations

from gallery.renderers.attribution.base import Job, Method, Raw, by_channel, normalize


class GuidedGradCAM(Method):
    def compute(self, job: Job) -> Raw:
        guided = job.raw("guided_backprop")[1]
        assert guided is not None
        return by_channel(guided * normalize(job.raw("gradcam")[0])[..., None])
