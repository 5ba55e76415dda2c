"""Attribution methods against closed forms, finite differences and a network trained on a known cue."""

from __future__ import annotations

from pathlib import Path

import keras
import matplotlib
import numpy as np
import pytest
import skimage.data
import tensorflow as tf
from conftest import REPO
from scipy.stats import spearmanr

from gallery import config, models
from gallery.methods import METHODS, MethodOptions
from gallery.renderers.attribution import (
    Explainer,
    class_scores,
    default_target_layer,
    guided_copy,
    randomized_copy,
    top_k_classes,
)
from gallery.renderers.attribution.base import attribution, batched
from gallery.renderers.attribution.sanity import SanityCheck

# Chelsea (451x300) is resized to 256 on its short side (scale 256/300) and centre-cropped to
# 224x224, so original (x, y) lands at (x * 0.853 - 80, y * 0.853 - 16). Her face from the eyes to
# the chin, x 135-340 and y 65-265 in the original, is then this box [x0, y0, x1, y1] in the crop:
CHELSEA_FACE = (35, 40, 210, 210)


TIGER_CAT = 282


def test_gradcam_of_tiger_cat_peaks_on_chelsea_face(tmp_path: Path) -> None:
    loaded = config.load(REPO / "configs" / "imagenet-offline.yaml")
    model = models.load(loaded.config.models[0], loaded, tmp_path)
    image = model.input_of(skimage.data.chelsea())
    assert image.shape == (224, 224, 3) and image.min() >= model.input_range[0] and image.max() <= model.input_range[1]
    result = Explainer(model.network, input_range=model.input_range).explain(image, [TIGER_CAT], ["gradcam"])
    heatmap = result["gradcam", TIGER_CAT].heatmap
    y, x = np.unravel_index(heatmap.argmax(), heatmap.shape)
    x0, y0, x1, y1 = CHELSEA_FACE
    assert x0 <= x <= x1 and y0 <= y <= y1, f"Grad-CAM peak at ({x}, {y}), outside the face box {CHELSEA_FACE}"


HEIGHT, WIDTH, PATCH = 12, 16, 4  # not square: a transposed map cannot even have the right shape


CORNERS = [(0, WIDTH - PATCH), (0, 0), (HEIGHT - PATCH, 0), (HEIGHT - PATCH, WIDTH - PATCH)]  # top-right counts


def build(layers: list[keras.layers.Layer], shape: tuple[int, ...], sequential: bool = False,
          dtype: str = "float32") -> keras.Model:
    if sequential:
        model = keras.Sequential([keras.Input(shape, dtype=dtype), *layers])
        model(np.zeros((1, *shape), dtype))
        return model
    inputs = keras.Input(shape, dtype=dtype)
    x = inputs
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, x)


def cam_classifier(shape: tuple[int, int, int], classes: int = 3, sequential: bool = False) -> keras.Model:
    """conv -> global average pooling -> dense softmax: the architecture CAM was defined on."""
    keras.utils.set_random_seed(1)
    return build([keras.layers.Conv2D(6, 3, strides=2, activation="relu", name="conv"),
                  keras.layers.GlobalAveragePooling2D(name="pool"),
                  keras.layers.Dense(classes, activation="softmax", name="out")], shape, sequential)


def upsampled(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return tf.image.resize(maps[..., None], size, "bilinear").numpy()[..., 0]


def normalized(maps: np.ndarray) -> np.ndarray:
    positive = np.maximum(maps, 0)
    return positive / positive.max()


def test_gradcam_equals_cam_on_global_average_pooling() -> None:
    """Selvaraju et al. 2017, 3.1: with GAP before the classifier, Grad-CAM's weights are the class's
    dense weights divided by the number of positions, so the normalised maps are CAM's."""
    model = cam_classifier((15, 11, 3))
    image = np.random.default_rng(0).random((15, 11, 3)).astype(np.float32)
    results = Explainer(model).explain(image, [0, 1, 2], ["gradcam"])
    features = keras.Model(model.inputs, model.get_layer("conv").output).predict(image[None], verbose=0)[0]
    kernel = model.get_layer("out").get_weights()[0]  # [channels, classes]
    for k in range(3):
        cam = normalized(upsampled((features @ kernel[:, k])[None], (15, 11))[0])
        assert not results["gradcam", k].empty
        np.testing.assert_allclose(results["gradcam", k].heatmap, cam, atol=1e-5)


def test_saliency_is_the_finite_difference_gradient_of_the_pre_softmax_score() -> None:
    """float64 throughout: central differences with step 1e-6 are then exact to about 1e-10."""
    keras.utils.set_random_seed(2)
    shape = (5, 6, 3)
    model = build([keras.layers.Conv2D(3, 3, activation="tanh", dtype="float64"),
                   keras.layers.Flatten(dtype="float64"),
                   keras.layers.Dense(3, activation="softmax", name="out", dtype="float64")], shape, dtype="float64")
    features = keras.Model(model.inputs, model.get_layer("out").input)
    kernel, bias = model.get_layer("out").get_weights()

    def logits(images: np.ndarray) -> np.ndarray:
        return np.asarray(features(images)) @ kernel + bias  # not predict(): it rounds inputs to float32

    image = np.random.default_rng(0).random(shape)
    step = 1e-6
    bumps = np.eye(image.size).reshape(image.size, *shape) * step
    differences = (logits(image + bumps) - logits(image - bumps)) / (2 * step)  # [inputs, classes]
    results = Explainer(model).explain(image, [0, 2], ["saliency"])
    for k in (0, 2):
        expected = differences[:, k].reshape(shape)
        np.testing.assert_allclose(results["saliency", k].per_channel, expected, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(results["saliency", k].raw, np.abs(expected).max(axis=-1), rtol=1e-6, atol=1e-9)


def test_class_with_only_negative_weights_is_empty() -> None:
    model = cam_classifier((10, 10, 3), classes=2)
    kernel, bias = model.get_layer("out").get_weights()
    magnitude = np.abs(kernel) + 0.1
    model.get_layer("out").set_weights([np.stack([magnitude[:, 0], -magnitude[:, 1]], axis=1), bias])
    image = np.random.default_rng(0).random((10, 10, 3)).astype(np.float32)
    explainer = Explainer(model)
    weights = explainer.method("gradcam").weights(explainer.probe(image, [0, 1]), image, np.array([0, 1]))
    assert (weights[0] > 0).all() and (weights[1] < 0).all()
    results = Explainer(model).explain(image, [0, 1], ["gradcam", "gradcam_plus_plus"])
    for method in ("gradcam", "gradcam_plus_plus"):
        assert not results[method, 0].empty and results[method, 0].heatmap.max() == pytest.approx(1.0)
        empty = results[method, 1]
        assert empty.empty
        assert not empty.heatmap.any() and not empty.gray.any()
    assert (results["gradcam", 1].raw <= 0).all()  # the evidence is all negative, and kept in the raw map


def test_guided_backprop_is_the_gradient_through_positive_weights_only() -> None:
    """One ReLU (a layer's activation, or a ReLU6 layer) between conv and a linear head: the guided
    gradient is the plain gradient of the same network with its dense weights clipped at zero."""
    for activation, relu in (("relu", []), (None, [keras.layers.ReLU(max_value=6.0, name="relu6")])):
        keras.utils.set_random_seed(4)
        model = build([keras.layers.Conv2D(5, 3, activation=activation, name="conv"), *relu,
                       keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3, name="out")], (8, 9, 3))
        image = np.random.default_rng(0).uniform(0, 8, (8, 9, 3)).astype(np.float32)
        guided = Explainer(model).explain(image, [0, 1, 2], ["guided_backprop"])
        clipped = keras.models.clone_model(model)
        kernel, bias = model.get_layer("out").get_weights()
        clipped.set_weights([*model.get_weights()[:-2], np.maximum(kernel, 0), bias])
        plain = Explainer(clipped).explain(image, [0, 1, 2], ["saliency"])
        for k in range(3):
            np.testing.assert_allclose(guided["guided_backprop", k].per_channel, plain["saliency", k].per_channel,
                                       rtol=1e-5, atol=1e-7)
        assert model.get_layer("conv").activation is keras.activations.get(activation)  # the original is untouched
        names = [layer.name for layer in model.layers if layer.weights]
        assert [layer.name for layer in guided_copy(model).layers if layer.weights] == names


def test_scorecam_weights_are_score_gains_of_masked_inputs() -> None:
    model = cam_classifier((10, 12, 3))
    kernel, bias = model.get_layer("conv").get_weights()
    kernel[..., 2], bias[2] = 0.0, -1.0  # channel 2 is dead: constant, so its weight is exactly 0
    model.get_layer("conv").set_weights([kernel, bias])
    image = np.random.default_rng(0).random((10, 12, 3)).astype(np.float32)
    explainer = Explainer(model, batch_size=4)
    probed = explainer.probe(image, [0, 2])
    weights = explainer.method("scorecam").weights(probed, image, np.array([0, 2]))
    logits = keras.Model(model.inputs, model.get_layer("out").input)
    out_kernel, out_bias = model.get_layer("out").get_weights()

    def scores(images: np.ndarray) -> np.ndarray:
        return logits.predict(images, verbose=0) @ out_kernel + out_bias

    baseline = scores(np.zeros((1, 10, 12, 3), np.float32))[0]
    for channel in range(6):
        mask = upsampled(probed.activations[None, ..., channel], (10, 12))[0]
        if np.ptp(mask) == 0:
            np.testing.assert_array_equal(weights[:, channel], 0.0)
            continue
        mask = (mask - mask.min()) / np.ptp(mask)
        gain = scores((image * mask[..., None])[None])[0] - baseline
        np.testing.assert_allclose(weights[:, channel], gain[[0, 2]], rtol=1e-4, atol=1e-5)
    assert (weights[:, 2] == 0).all()


def test_smoothgrad_without_noise_is_saliency_and_is_seeded() -> None:
    model = cam_classifier((9, 11, 3))
    image = np.random.default_rng(0).random((9, 11, 3)).astype(np.float32)
    explainer = Explainer(model, batch_size=5)  # 2 classes x 8 samples: several batches
    plain = explainer.explain(image, [2, 0], ["saliency"])
    still = explainer.explain(image, [2, 0], ["smoothgrad"], options=MethodOptions(samples=8, sigma=0.0))
    noisy = [explainer.explain(image, [2, 0], ["smoothgrad"], options=MethodOptions(samples=8, seed=seed)) for seed in (0, 0, 1)]
    for k in (2, 0):
        np.testing.assert_allclose(still["smoothgrad", k].per_channel, plain["saliency", k].per_channel,
                                   rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(noisy[0]["smoothgrad", k].raw, noisy[1]["smoothgrad", k].raw)
        assert not np.allclose(noisy[0]["smoothgrad", k].raw, noisy[2]["smoothgrad", k].raw)


def patch_images(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Noise images; class 1 iff the red channel is raised in a patch in the top-right corner.

    Class 0 has the same patch in another corner, or none; green and blue carry no information.
    """
    images = rng.uniform(0, 0.5, (count, HEIGHT, WIDTH, 3)).astype(np.float32)
    labels = rng.integers(0, 2, count)
    corners = np.where(labels == 1, 0, rng.integers(1, 5, count))  # 4: no patch
    for image, corner in zip(images, corners):
        if corner < 4:
            top, left = CORNERS[corner]
            image[top:top + PATCH, left:left + PATCH, 0] = 1.0
    return images, labels


@pytest.fixture(scope="module")
def red_corner_model() -> keras.Model:
    """Trained for a few seconds; L2 on the first layer fades the weights that green and blue never needed."""
    keras.utils.set_random_seed(0)
    model = build([
        keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1",
                            kernel_regularizer=keras.regularizers.L2(0.01)),
        keras.layers.MaxPooling2D(name="pool"),
        keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2"),
        keras.layers.Flatten(name="flat"),
        keras.layers.Dense(2, activation="softmax", name="out"),
    ], (HEIGHT, WIDTH, 3))
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    images, labels = patch_images(np.random.default_rng(0), 3000)
    model.fit(images, labels, batch_size=64, epochs=6, verbose=0)
    test_images, test_labels = patch_images(np.random.default_rng(1), 300)
    assert model.evaluate(test_images, test_labels, verbose=0)[1] > 0.98
    return model


def red_corner_images() -> np.ndarray:
    images, labels = patch_images(np.random.default_rng(2), 40)
    return images[labels == 1][:3]


def corner_means(heatmap: np.ndarray) -> list[float]:
    """Mean heat in each corner box: the patch's, then its mirrors and its point reflection."""
    return [float(heatmap[top:top + PATCH, left:left + PATCH].mean()) for top, left in CORNERS]


def test_red_corner_lights_up_where_it_is_and_in_red(red_corner_model: keras.Model) -> None:
    explainer = Explainer(red_corner_model)
    assert explainer.probe.layer == "conv2"
    jet = matplotlib.colormaps["jet"]
    for image in red_corner_images():
        results = explainer.explain(image, [1], ["saliency", "gradcam"])
        for method in ("saliency", "gradcam"):
            result = results[method, 1]
            assert result.heatmap.shape == (HEIGHT, WIDTH) and result.overlay.shape == (HEIGHT, WIDTH, 3)
            patch, *elsewhere = corner_means(result.heatmap)
            assert patch > 3 * max(elsewhere), (method, patch, elsewhere)
            row, col = np.unravel_index(result.heatmap.argmax(), result.heatmap.shape)
            assert row < HEIGHT // 2 and col >= WIDTH // 2
            blend = 0.6 * np.round(image * 255) + 0.4 * jet(result.heatmap, bytes=True)[..., :3]
            np.testing.assert_allclose(result.overlay, np.round(blend), atol=1)  # overlay drawn where the map is
        share = results["saliency", 1].channel_share
        assert share[0] > share[1] + share[2], share  # red, the channel that decides, not green or blue


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(spearmanr(a.ravel(), b.ravel())[0])


def test_randomized_top_layers_change_the_maps(red_corner_model: keras.Model) -> None:
    """Adebayo et al. 2018: a map that survives re-initialising the layers that decide explains nothing."""
    model = red_corner_model
    same = randomized_copy(model, top_layers=0, seed=0)
    for original, copy in zip(model.get_weights(), same.get_weights()):
        np.testing.assert_array_equal(original, copy)
    randomized = randomized_copy(model, top_layers=2, seed=0)
    kept, changed = model.get_weights(), randomized.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(kept[:2], changed[:2]))  # conv1: kept
    assert not np.allclose(kept[2], changed[2]) and not np.allclose(kept[4], changed[4])  # conv2, out: new
    again = randomized_copy(model, top_layers=2, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(changed, again.get_weights()))  # seeded
    everything = randomized_copy(model, top_layers=10, seed=0).get_weights()
    assert not any(np.allclose(a, b) for a, b in zip(kept[::2], everything[::2]))  # every kernel new
    trained, random = Explainer(model), Explainer(randomized)
    for image in red_corner_images():
        before = trained.explain(image, [1], ["saliency", "gradcam"])
        after = random.explain(image, [1], ["saliency", "gradcam"])
        for method in ("saliency", "gradcam"):
            assert spearman(before[method, 1].heatmap, before[method, 1].heatmap) == pytest.approx(1.0)
            # An empty map (no positive evidence left) has no ranks, and certainly changed.
            assert after[method, 1].empty or spearman(before[method, 1].heatmap, after[method, 1].heatmap) < 0.5


def test_a_flat_trained_map_gets_no_sanity_verdict() -> None:
    """A blank image's map is one value everywhere: it has no ranking to lose, so it neither passes nor fails."""
    display = np.zeros((4, 4, 3), np.uint8)
    flat, ranked = np.full((4, 4), 0.3), np.arange(16.0).reshape(4, 4)
    maps = {("gradcam", 0): attribution("gradcam", 0, flat, None, display),
            ("gradcam", 2): attribution("gradcam", 0, ranked, None, display),
            ("saliency", 0): attribution("saliency", 0, ranked, None, display),
            ("saliency", 2): attribution("saliency", 0, ranked.T, None, display)}
    check = SanityCheck(0, (0, 2), maps, {("gradcam", 0): None, ("gradcam", 2): None, ("saliency", 0): 1.0,
                                          ("saliency", 2): 0.2})
    assert check.passed("gradcam") is None and check.passed("saliency") is True


@pytest.mark.parametrize("sequential", [False, True])
@pytest.mark.parametrize("shape", [(12, 10, 3), (9, 13, 1)])
def test_every_method_on_any_model_kind_and_image(sequential: bool, shape: tuple[int, int, int]) -> None:
    keras.utils.set_random_seed(5)
    model = build([keras.layers.Rescaling(1 / 255, name="scale"),
                   keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv"),
                   keras.layers.ReLU(6.0, name="relu6"),
                   keras.layers.MaxPooling2D(name="pool"),
                   keras.layers.Conv2D(6, 3, activation="relu", name="last"),
                   keras.layers.Flatten(name="flat"),
                   keras.layers.Dense(4, activation="softmax", name="out")], shape, sequential)
    assert default_target_layer(model) == "last"
    image = np.random.default_rng(0).uniform(0, 255, shape).astype(np.float32)
    before = model.predict(image[None], verbose=0)
    results = Explainer(model, input_range=(0.0, 255.0)).explain(image, [3, 1], options=MethodOptions(samples=4, ig_steps=4))
    assert set(results) == {(method, k) for method in METHODS for k in (3, 1)}
    for (method, k), result in results.items():
        assert (result.method, result.target) == (method, k)
        assert result.raw.shape == result.heatmap.shape == result.gray.shape == shape[:2]
        assert result.overlay.shape == (*shape[:2], 3) and result.overlay.dtype == np.uint8
        assert np.isfinite(result.raw).all() and 0 <= result.heatmap.min() and result.heatmap.max() <= 1
        np.testing.assert_array_equal(result.gray, np.round(result.heatmap * 255).astype(np.uint8))
        assert result.empty == (not result.heatmap.any())
        if result.per_channel is not None:
            assert result.per_channel.shape == shape and result.channel_share.sum() == pytest.approx(1.0)
    np.testing.assert_array_equal(model.predict(image[None], verbose=0), before)  # the model is untouched


def test_default_target_layer_needs_a_spatial_layer() -> None:
    model = build([keras.layers.Flatten(), keras.layers.Dense(2)], (4, 4, 1))
    with pytest.raises(ValueError, match="spatial"):
        default_target_layer(model)


@pytest.mark.parametrize("activation", ["sigmoid", None])
def test_a_single_unit_is_two_classes_its_opposite_and_itself(activation: str | None) -> None:
    """A binary classifier (one sigmoid unit, or one score read through a sigmoid): class 1 is the unit
    with probability p, class 0 its opposite with 1 - p, and the opposite's Grad-CAM map is the unit's
    with its sign flipped (before the ReLU)."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input((9, 9, 3))
    features = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    output = keras.layers.Dense(1, activation=activation)(keras.layers.GlobalAveragePooling2D()(features))
    model = keras.Model(inputs, output)
    image = np.random.default_rng(0).random((9, 9, 3)).astype(np.float32)
    score = float(class_scores(model).predict(image[None], verbose=0)[0, 1])
    unit = 1 / (1 + np.exp(-score))
    indices, found = top_k_classes(model, image, 2)
    assert dict(zip(indices.tolist(), found.tolist())) == {0: pytest.approx(1 - unit), 1: pytest.approx(unit)}
    results = Explainer(model).explain(image, [0, 1], ["gradcam"])
    np.testing.assert_allclose(results["gradcam", 0].raw, -results["gradcam", 1].raw, atol=1e-6)
    assert np.abs(results["gradcam", 1].raw).max() > 1e-4  # not trivially equal


def test_a_softmax_layer_of_its_own_gives_the_networks_probabilities_and_maps_of_its_scores() -> None:
    """Dense + Softmax layer and Dense(softmax) are one network: the same probabilities (softmax once,
    not twice) and the same Grad-CAM."""
    own = cam_classifier((9, 9, 3), classes=5)
    head = own.layers[-1]
    scores = keras.layers.Dense(5, name="scores")(head.input)
    separate = keras.Model(own.inputs, keras.layers.Softmax(name="probs")(scores))
    separate.get_layer("scores").set_weights([w * 20 for w in head.get_weights()])
    head.set_weights(separate.get_layer("scores").get_weights())
    passed_on = keras.layers.Reshape((5,))(keras.layers.Dropout(0.5)(separate.outputs[0]))  # layers after it
    trailing = keras.Model(own.inputs, passed_on)
    image = np.random.default_rng(0).random((9, 9, 3)).astype(np.float32)
    for network in (own, separate, trailing):
        indices, found = top_k_classes(network, image, 5)
        np.testing.assert_allclose(found, network.predict(image[None], verbose=0)[0][indices], rtol=1e-5)
    assert found.max() > 0.5  # confident: a second softmax would have flattened it
    maps = [Explainer(network).explain(image, [0, 1], ["gradcam"]) for network in (own, separate, trailing)]
    for key, result in maps[0].items():
        for other in maps[1:]:
            np.testing.assert_allclose(other[key].raw, result.raw, rtol=1e-4, atol=1e-6)


def test_top_k_classes_are_probabilities() -> None:
    model = cam_classifier((9, 9, 3), classes=5)
    image = np.random.default_rng(0).random((9, 9, 3)).astype(np.float32)
    indices, probabilities = top_k_classes(model, image, 3)
    output = model.predict(image[None], verbose=0)[0]
    np.testing.assert_array_equal(indices, np.argsort(-output)[:3])
    np.testing.assert_allclose(probabilities, output[indices], rtol=1e-5)
    # A network that ends in scores gets them through a softmax.
    logits = class_scores(model)
    indices, probabilities = top_k_classes(logits, image, 5)
    np.testing.assert_allclose(probabilities, output[indices], rtol=1e-5)
    assert probabilities.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("kind", ["black", "blurred"])
def test_integrated_gradients_add_up_to_the_score_gap_from_the_baseline(kind: str) -> None:
    """Completeness (Sundararajan et al. 2017, Proposition 1): the attributions sum to
    score(image) - score(baseline), within 1% at 64 steps, on a network with ReLUs and a softmax."""
    from gallery.renderers.attribution.baselines import baseline

    keras.utils.set_random_seed(3)
    model = build([keras.layers.Conv2D(4, 3, activation="relu"), keras.layers.Conv2D(4, 3, activation="tanh"),
                   keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")], (9, 10, 3))
    image = np.random.default_rng(1).random((9, 10, 3)).astype(np.float32)
    scores = class_scores(model)
    reference = baseline(image, kind, (0.0, 1.0))
    results = Explainer(model).explain(image, [0, 2], ["integrated_gradients"],
                                       options=MethodOptions(ig_steps=64, baseline=kind))
    for k in (0, 2):
        gap = float(scores(image[None])[0, k] - scores(reference[None])[0, k])
        assert abs(gap) > 0.02  # a gap worth adding up to
        found = results["integrated_gradients", k]
        assert found.per_channel.sum() == pytest.approx(gap, rel=0.01)
        np.testing.assert_allclose(found.raw, found.per_channel.sum(axis=-1), rtol=1e-6)  # signed, per pixel


def test_smoothgrad_wraps_integrated_gradients_too() -> None:
    model = cam_classifier((8, 8, 3))
    image = np.random.default_rng(0).random((8, 8, 3)).astype(np.float32)
    explainer = Explainer(model)
    plain = explainer.explain(image, [1], ["integrated_gradients"], options=MethodOptions(ig_steps=8))
    still = explainer.explain(image, [1], ["smoothgrad_integrated_gradients"],
                              options=MethodOptions(ig_steps=8, samples=3, sigma=0.0))
    np.testing.assert_allclose(still["smoothgrad_integrated_gradients", 1].raw, plain["integrated_gradients", 1].raw,
                               rtol=1e-5, atol=1e-7)  # no noise: the mean of three identical copies
    noisy = explainer.explain(image, [1], ["smoothgrad_integrated_gradients"],
                              options=MethodOptions(ig_steps=8, samples=3))
    assert not np.allclose(noisy["smoothgrad_integrated_gradients", 1].raw, plain["integrated_gradients", 1].raw)


def test_xgradcam_and_layercam_on_global_average_pooling() -> None:
    """Behind GAP every position of a channel has the gradient w_c / positions: XGrad-CAM's weights are
    then Grad-CAM's (so its map is CAM's), and LayerCAM is CAM over the positive weights only."""
    model = cam_classifier((15, 11, 3))
    image = np.random.default_rng(0).random((15, 11, 3)).astype(np.float32)
    results = Explainer(model).explain(image, [0, 1, 2], ["gradcam", "xgradcam", "layercam"])
    features = keras.Model(model.inputs, model.get_layer("conv").output).predict(image[None], verbose=0)[0]
    kernel = model.get_layer("out").get_weights()[0]
    for k in range(3):
        np.testing.assert_allclose(results["xgradcam", k].heatmap, results["gradcam", k].heatmap, atol=1e-5)
        positive = normalized(upsampled((features @ np.maximum(kernel[:, k], 0))[None], (15, 11))[0])
        np.testing.assert_allclose(results["layercam", k].heatmap, positive, atol=1e-5)


def test_eigencam_is_the_first_principal_component_of_the_activations() -> None:
    """Activations of rank one, u v^T (u, v >= 0): the map is u scaled by |v|, for every class."""
    from gallery.renderers.attribution.base import Probed

    rng = np.random.default_rng(0)
    u, v = rng.random(6 * 5), rng.random(4)
    activations = np.outer(u, v).reshape(6, 5, 4).astype(np.float32)
    explainer = Explainer(cam_classifier((13, 11, 3)))
    probed = Probed(activations, np.zeros((2, 6, 5, 4), np.float32))
    weights = explainer.method("eigencam").weights(probed, np.zeros((13, 11, 3), np.float32), np.array([0, 2]))
    np.testing.assert_allclose(weights, np.tile(v / np.linalg.norm(v), (2, 1)), rtol=1e-5)  # the sign fixed
    np.testing.assert_allclose(np.einsum("hwc,c->hw", activations, weights[0]), (u * np.linalg.norm(v)).reshape(6, 5),
                               rtol=1e-5)


def test_occlusion_of_single_pixels_on_a_linear_score_is_weight_times_pixel() -> None:
    """score = w . x (no bias): blacking out pixel p (window 1, stride 1) lowers it by w_p x_p, and the
    map of a window covering the whole image is the whole score everywhere."""
    keras.utils.set_random_seed(4)
    model = build([keras.layers.Conv2D(1, 1, use_bias=False, kernel_initializer="ones"),  # the identity, for the CAMs
                   keras.layers.Flatten(), keras.layers.Dense(2, use_bias=False)], (5, 6, 1))
    image = np.random.default_rng(2).random((5, 6, 1)).astype(np.float32)
    kernel = model.layers[-1].get_weights()[0]  # [30, 2]
    single = Explainer(model).explain(image, [0, 1], ["occlusion"],
                                      options=MethodOptions(occlusion_window=1, occlusion_stride=1))
    whole = Explainer(model).explain(image, [1], ["occlusion"], options=MethodOptions(occlusion_window=6))
    for k in (0, 1):
        np.testing.assert_allclose(single["occlusion", k].raw, (kernel[:, k] * image.reshape(-1)).reshape(5, 6),
                                   rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(whole["occlusion", 1].raw, np.full((5, 6), image.reshape(-1) @ kernel[:, 1]),
                               rtol=1e-4)


def test_batched_halves_a_batch_out_of_memory_and_keeps_every_row_in_order() -> None:
    sizes = []

    def small_memory(rows: np.ndarray) -> tf.Tensor:  # a device that holds three rows at a time
        sizes.append(len(rows))
        if len(rows) > 3:
            raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")
        return tf.constant(rows * 2)

    rows = np.arange(10, dtype=np.float32)[:, None]
    assert np.array_equal(batched(small_memory, 8, rows), rows * 2)
    assert sizes == [8, 4, 2, 2, 2, 2, 2]


def test_the_default_batch_is_what_the_memory_budget_holds() -> None:
    inputs = keras.Input((8, 8, 3))
    small = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(
        keras.layers.Conv2D(4, 3)(inputs))))
    assert Explainer(small).batch_size == 64  # the CPU's cap: a tiny network fits many times over
    assert Explainer(small, batch_size=5).batch_size == 5
