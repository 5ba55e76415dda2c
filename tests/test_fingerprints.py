"""Cache identities: what changes a key and what does not, and the keys themselves, pinned.

The pinned values are those of caches built before the restructure: a change to an identity that
does not change pixels must keep them, and one that changes pixels must bump ENGINE_VERSION or
VIEWS_VERSION (which changes them all).
"""

from __future__ import annotations

import numpy as np

from gallery import fingerprints
from gallery.config import Setting
from gallery.plan import AttributionJob, FeatureJob, RenderJob, SanityJob, Target

WEIGHTS, IMAGE = "w" * 16, "d" * 16
JOB = RenderJob("m", "conv", 3, "default", Setting(), "channel", False, "conv")


def test_keys_of_the_cache_layout_are_stable() -> None:
    assert fingerprints.render_key(JOB, WEIGHTS, (0.0, 1.0)) == "28e51473954c34e9021b2bb2"
    assert fingerprints.render_key(JOB, WEIGHTS, (0.0, 1.0), start="s" * 24) == "735755eb23cf98b523c5a80e"
    features = FeatureJob("m", "img", ("a", "b"), 16, "viridis")
    attribution = AttributionJob("m", "img", (1,), None, ("gradcam",), "conv", "jet", 0.4)
    sanity = SanityJob("m", "img", None, "conv", "jet", 0.4)
    assert fingerprints.view_key(features, WEIGHTS, IMAGE, (0.0, 1.0)) == "1c892b6ee00a8f34f8caa02b"
    # Attribution's key has held the methods' options (Integrated Gradients, occlusion) since its bundles
    # record deletion and insertion; VIEWS_VERSION 4 (faithfulness against a heavier blur) renders every
    # view of an older cache again.
    assert fingerprints.view_key(attribution, WEIGHTS, IMAGE, (0.0, 1.0)) == "3b1b7f0899cc33de96f3a476"
    assert fingerprints.view_key(sanity, WEIGHTS, IMAGE, (0.0, 1.0)) == "687d193b6805a0c7266842c6"
    target = Target("m", "conv", "channel", 4, (0, 1), ("default",), False, "conv")
    assert fingerprints.examples_key(target, WEIGHTS, "i" * 16, "channel", False) == "ead3a5f06f6baf7ca949be52"


def test_names_and_notes_stay_out_of_a_key_pixels_do_not() -> None:
    key = fingerprints.render_key(JOB, WEIGHTS, (0.0, 1.0))
    renamed = RenderJob("other_model_id", "conv", 3, "renamed", Setting(note="a note"), "channel", False, "conv")
    assert fingerprints.render_key(renamed, WEIGHTS, (0.0, 1.0)) == key
    for changed in (RenderJob("m", "conv", 4, "default", Setting(), "channel", False, "conv"),
                    RenderJob("m", "conv", 3, "default", Setting(tv_weight=11), "channel", False, "conv"),
                    RenderJob("m", "conv2", 3, "default", Setting(), "channel", False, "conv")):
        assert fingerprints.render_key(changed, WEIGHTS, (0.0, 1.0)) != key
    assert fingerprints.render_key(JOB, "x" * 16, (0.0, 1.0)) != key
    assert fingerprints.render_key(JOB, WEIGHTS, (0.0, 255.0)) != key
    features = FeatureJob("m", "img", ("a",), 16, "viridis")
    assert (fingerprints.view_key(features, WEIGHTS, IMAGE, (0.0, 1.0))
            == fingerprints.view_key(FeatureJob("n", "other", ("a",), 16, "viridis"), WEIGHTS, IMAGE, (0.0, 1.0)))


def test_digest_is_of_content_and_shape() -> None:
    pixels = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    assert fingerprints.digest(pixels) == fingerprints.digest(pixels.copy())
    assert fingerprints.digest(pixels) != fingerprints.digest(pixels.reshape(3, 2, 4))
    transposed = np.ascontiguousarray(pixels.transpose(1, 0, 2))
    assert fingerprints.digest(pixels.transpose(1, 0, 2)) == fingerprints.digest(transposed)
    assert fingerprints.weights_digest([pixels, pixels]) != fingerprints.weights_digest([pixels])


def test_the_methods_options_are_part_of_an_attribution_key() -> None:
    from gallery.methods import MethodOptions

    plain = AttributionJob("m", "img", (1,), None, ("integrated_gradients",), "conv", "jet", 0.4)
    keys = {fingerprints.view_key(AttributionJob(*[getattr(plain, f) for f in ("model", "image", "classes", "top",
                                                                              "methods", "target_layer", "colormap",
                                                                              "alpha")], options=options),
                                  WEIGHTS, IMAGE, (0.0, 1.0))
            for options in (MethodOptions(), MethodOptions(ig_steps=32), MethodOptions(baseline="blurred"))}
    assert len(keys) == 3


def test_max_steps_is_part_of_a_key_only_under_steps_auto() -> None:
    def key(**setting: object) -> str:
        return fingerprints.render_key(RenderJob("m", "conv", 3, "default", Setting(**setting), "channel", False,
                                                 "conv"), WEIGHTS, (0.0, 1.0))

    fixed = RenderJob("m", "conv", 3, "default", Setting().model_copy(update={"max_steps": 50}), "channel", False,
                      "conv")
    assert fingerprints.render_key(fixed, WEIGHTS, (0.0, 1.0)) == key() == "28e51473954c34e9021b2bb2"  # untouched
    assert key(steps="auto") != key(steps="auto", max_steps=50)
    assert key(steps="auto", max_steps=200) != key(steps=200)
