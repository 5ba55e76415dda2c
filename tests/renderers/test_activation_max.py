"""The engine on tiny models: channels and units raised, in range, seeded, any input; diversity strips; neuron views; retry."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_conv

from gallery.config import Setting
from gallery.renderers import convergence, objectives, param
from gallery.renderers.activation_max import (
    LOSS_NAMES,
    ActivationMaximizer,
    copy_seeds,
    strip_panels,
)
from gallery.renderers.param import Pixel


def tiny_classifier(sequential: bool = False, shape: tuple[int, int, int] = (12, 10, 3)) -> keras.Model:
    keras.utils.set_random_seed(3)
    layers = [keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
              keras.layers.GlobalAveragePooling2D(name="pool"),
              keras.layers.Dense(3, activation="softmax", name="out")]
    if sequential:
        model = keras.Sequential([keras.Input(shape), *layers])
        model(np.zeros((1, *shape), np.float32))
        return model
    inputs = keras.Input(shape)
    x = inputs
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, x)


@pytest.mark.parametrize("sequential", [False, True])
def test_dense_unit_is_raised_and_reported_pre_softmax(sequential: bool) -> None:
    model = tiny_classifier(sequential)
    engine = ActivationMaximizer(model, "out", "unit")
    setting = Setting(steps=60, lp_norm_weight=0, tv_weight=0)
    results = list(engine.render([0, 2], setting, (0.0, 1.0)))
    features = keras.Model(model.inputs, model.get_layer("out").input)
    kernel, bias = model.get_layer("out").get_weights()

    def logits(images: np.ndarray) -> np.ndarray:
        return features.predict(images, verbose=0) @ kernel + bias

    for unit, result in zip([0, 2], results):
        final = logits(result.image[None].astype(np.float32) / 255.0)[0]
        start = logits(Pixel((12, 10, 3), (0.0, 1.0)).start(setting.seed, unit)[None])[0]
        assert result.activation == pytest.approx(final[unit], rel=0.02, abs=0.02)  # uint8 rounding
        assert final[unit] > start[unit] + 0.1
        assert len(result.losses["total"]) == 60 and set(result.losses) == set(LOSS_NAMES)
        # The activation loss is the negated objective (in noise-response units), so it must fall.
        assert result.losses["activation"][-1] < result.losses["activation"][0]


def test_conv_channel_beats_start_and_stays_in_range() -> None:
    model = tiny_classifier()
    engine = ActivationMaximizer(model, "conv", "channel")
    results = list(engine.render([0, 1, 2, 3], Setting(steps=80), (-1.0, 2.0)))
    start = np.stack([Pixel((12, 10, 3), (-1.0, 2.0)).start(0, f) for f in range(4)])
    start_means = keras.Model(model.inputs, model.get_layer("conv").output).predict(start, verbose=0).mean(axis=(1, 2))
    for f, result in enumerate(results):
        assert result.image.shape == (12, 10, 3) and result.image.dtype == np.uint8
        assert result.activation > start_means[f, f]


def test_same_seed_same_pixels_other_seed_other_pixels() -> None:
    engine = ActivationMaximizer(tiny_classifier(), "conv", "channel")
    setting = Setting(steps=30, jitter=2)
    first = [r.image for r in engine.render([1, 2], setting, (0.0, 1.0))]
    again = [r.image for r in engine.render([1, 2], setting, (0.0, 1.0))]
    alone = next(iter(engine.render([2], setting, (0.0, 1.0)))).image
    other = [r.image for r in engine.render([1, 2], Setting(steps=30, jitter=2, seed=5), (0.0, 1.0))]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert np.abs(alone.astype(int) - first[1].astype(int)).max() <= 1  # batch-mates do not matter
    assert any(not np.array_equal(a, b) for a, b in zip(first, other))


def test_grayscale_input_of_any_size() -> None:
    inputs = keras.Input((9, 17, 1))
    outputs = keras.layers.Conv2D(2, 3, activation="relu", name="c")(inputs)
    engine = ActivationMaximizer(keras.Model(inputs, outputs), "c", "channel")
    (result,) = engine.render([1], Setting(steps=10), (0.0, 255.0))
    assert result.image.shape == (9, 17, 1)


RANGE = (0.0, 1.0)


SHAPE = (16, 16, 3)


COPIES = 4


FILTERS = [0, 3]  # two channels whose copies converge to one picture without the penalty


def test_copy_seeds_keep_the_seed_for_one_copy_and_differ_between_copies() -> None:
    np.testing.assert_array_equal(copy_seeds(Setting(seed=7), [3, 5]), [[7, 3], [7, 5]])
    seeds = copy_seeds(Setting(seed=7, diversity=3), [3, 5])
    np.testing.assert_array_equal(seeds, [[21, 3], [22, 3], [23, 3], [21, 5], [22, 5], [23, 5]])
    other_seed = copy_seeds(Setting(seed=8, diversity=3), [3, 5])
    assert not {tuple(s) for s in seeds} & {tuple(s) for s in other_seed}


def test_strip_panels_from_the_aspect_ratio() -> None:
    assert strip_panels(np.zeros((16, 64, 3)), SHAPE) == 4
    assert strip_panels(np.zeros((16, 16, 3)), SHAPE) == 1
    assert strip_panels(np.zeros((10, 10)), SHAPE) == 1  # another size, e.g. a receptive-field window
    assert strip_panels(np.zeros((16, 47, 3)), SHAPE) == 1  # 47 px do not split into 3 equal panels


def tiny_network() -> keras.Model:
    """Conv + ReLU, max pooling, conv: the target conv computes its own channels (objectives.own_units),
    so the Gram matrices are those of the pooled ReLU maps feeding it."""
    keras.utils.set_random_seed(4)
    inputs = keras.Input(SHAPE)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    return keras.Model(inputs, keras.layers.Conv2D(6, 3, padding="same", name="conv2")(x))


@pytest.fixture(scope="module")
def engine() -> ActivationMaximizer:
    return ActivationMaximizer(tiny_network(), "conv2", "channel")


def panels(image: np.ndarray, copies: int = COPIES) -> np.ndarray:
    return np.stack(np.split(image, copies, axis=1))


def gram_similarity(engine: ActivationMaximizer, strip: np.ndarray) -> float:
    """Mean pairwise Gram cosine of a strip's panels, measured where the engine measures it."""
    images = panels(strip).astype(np.float32) / 255.0
    return float(np.mean(objectives.diversity(engine.network("channel").model([images]), COPIES)))


def test_copies_come_back_as_one_strip_of_different_panels(engine: ActivationMaximizer) -> None:
    setting = Setting(steps=60, diversity=COPIES)
    results = list(engine.render(FILTERS, setting, RANGE))
    for result in results:
        assert result.image.shape == (16, 16 * COPIES, 3) and result.image.dtype == np.uint8
        pieces = panels(result.image).astype(int)
        differences = [np.abs(pieces[i] - pieces[j]).mean() for i in range(COPIES) for j in range(i + 1, COPIES)]
        assert min(differences) > 10, differences  # in 0-255 levels
        assert set(result.losses) == set(LOSS_NAMES) and all(len(v) == 60 for v in result.losses.values())
        assert min(result.losses["diversity"]) > 0
        # The total is the sum of the named terms, each the mean over the copies.
        terms = np.sum([result.losses[name] for name in LOSS_NAMES if name != "total"], axis=0)
        np.testing.assert_allclose(result.losses["total"], terms, rtol=1e-4, atol=1e-5)
    # The reported activation is the copies' mean: measure each panel of the strip.
    images = np.concatenate([panels(r.image) for r in results]).astype(np.float32) / 255.0
    maps = keras.Model(engine.model.inputs, engine.model.outputs[1])([images]).numpy()
    per_copy = maps.mean(axis=(1, 2))[np.arange(len(maps)), np.repeat(FILTERS, COPIES)]
    np.testing.assert_allclose([r.activation for r in results], per_copy.reshape(-1, COPIES).mean(axis=1),
                               rtol=0.02, atol=0.02)  # uint8 rounding


def test_the_penalty_lowers_similarity_and_keeps_the_activation(engine: ActivationMaximizer) -> None:
    """The default weight against weight 0, same seeds: the Gram matrices move apart (measured: cosine
    1.0 -> 0.3), while each filter keeps most of its gain over the start (measured: 94% and 80%),
    more than a noise standard deviation."""
    free = list(engine.render(FILTERS, Setting(steps=60, diversity=COPIES, diversity_weight=0), RANGE))
    pushed = list(engine.render(FILTERS, Setting(steps=60, diversity=COPIES), RANGE))
    assert all(not any(r.losses["diversity"]) for r in free)
    pixel = Pixel(SHAPE, RANGE)
    starts = np.stack([pixel.start(seed, f) for seed, f in copy_seeds(Setting(diversity=COPIES), FILTERS)])
    start_maps = keras.Model(engine.model.inputs, engine.model.outputs[1])([starts]).numpy().mean(axis=(1, 2))
    start = start_maps[np.arange(len(starts)), np.repeat(FILTERS, COPIES)].reshape(-1, COPIES).mean(axis=1)
    noise = engine.unit_scale(RANGE)[FILTERS]
    for f, before, spread, a, b in zip(FILTERS, start, noise, free, pushed):
        assert gram_similarity(engine, b.image) < gram_similarity(engine, a.image) - 0.5, f
        assert b.activation - before > max(spread, 0.7 * (a.activation - before)), (f, a.activation, b.activation)


def test_one_copy_has_no_diversity_term(engine: ActivationMaximizer) -> None:
    plain = next(iter(engine.render([1], Setting(steps=30), RANGE)))
    weighted = next(iter(engine.render([1], Setting(steps=30, diversity_weight=5), RANGE)))
    assert plain.image.shape == SHAPE and not any(plain.losses["diversity"])
    np.testing.assert_array_equal(plain.image, weighted.image)  # the weight of a missing term changes nothing


def test_a_strip_start_is_split_into_its_copies_and_an_image_starts_them_all(engine: ActivationMaximizer) -> None:
    """One step keeps the start (the returned image is the lowest-total step's input: the first)."""
    one_step = Setting(steps=1, diversity=COPIES)
    strip = np.random.default_rng(2).integers(0, 256, (16, 16 * COPIES, 3), dtype=np.uint8)
    image = strip[:, :16]
    again, tiled = engine.render([1, 2], one_step, RANGE, starts=[strip, image])
    np.testing.assert_array_equal(again.image, strip)
    np.testing.assert_array_equal(tiled.image, np.tile(image, (1, COPIES, 1)))
    # One copy per filter from a strip: its first panel.
    (first,) = engine.render([1], Setting(steps=1), RANGE, starts=[strip])
    np.testing.assert_array_equal(first.image, image)


def test_retry_re_renders_a_whole_strip(engine: ActivationMaximizer) -> None:
    strong_tv = Setting(steps=20, tv_weight=100, diversity=2, retry="auto")
    results = list(engine.render(FILTERS, strong_tv, RANGE))
    assert any(r.retried_because for r in results)
    for result in results:
        assert result.image.shape == (16, 32, 3)
        expected = 40 if result.retried_because else 20  # both stages' steps
        assert all(len(values) == expected for values in result.losses.values())


def test_batches_hold_whole_groups_of_copies(engine: ActivationMaximizer) -> None:
    view = engine.network("channel")
    assert 1 <= engine.batch_size(view, COPIES) <= engine.batch_size(view) // COPIES
    assert engine.batch_size(view, 10**9) == 1


def start_objective(model: keras.Model, layer: str, setting: Setting, filters: list[int],
                    input_range: tuple[float, float]) -> np.ndarray:
    """Each filter's channel mean on the image its optimization starts from."""
    maker = param.PARAMS[setting.param](tuple(model.inputs[0].shape[1:]), input_range)
    images = maker.images(tf.constant(np.stack([maker.start(setting.seed, f) for f in filters])))
    features = keras.Model(model.inputs, model.get_layer(layer).output)(images).numpy()
    return features.mean(axis=(1, 2))[np.arange(len(filters)), filters]


@pytest.mark.parametrize("update", [
    {"optimizer": "adam"},
    {"param": "fourier", "optimizer": "adam", "tv_weight": 0, "lp_norm_weight": 0},
    {"param": "fourier"},
    {"pad": 2, "jitter": 2, "scale": (0.9, 1.1), "rotate": 10},
])
def test_engine_raises_channels_under_each_option(update: dict) -> None:
    model = tiny_conv()
    setting = Setting(steps=60, **update)
    results = list(ActivationMaximizer(model, "conv2", "channel").render([0, 1, 2], setting, (0.0, 1.0)))
    start = start_objective(model, "conv2", setting, [0, 1, 2], (0.0, 1.0))
    for result, before in zip(results, start):
        assert result.image.shape == (16, 16, 3)
        assert result.activation > before + 0.05, (update, result.activation, before)


def test_negate_lowers_the_objective() -> None:
    model = tiny_conv()
    engine = ActivationMaximizer(model, "conv2", "channel")
    raised = list(engine.render([0, 1], Setting(steps=40), (0.0, 1.0)))
    lowered = list(engine.render([0, 1], Setting(steps=40, negate=True), (0.0, 1.0)))
    start = start_objective(model, "conv2", Setting(), [0, 1], (0.0, 1.0))
    for up, down, before in zip(raised, lowered, start):
        assert down.activation < before - 0.05 < up.activation


def test_neuron_renders_at_the_receptive_field_and_raises_the_unit(vgg16: keras.Model) -> None:
    engine = ActivationMaximizer(vgg16, "block2_conv1", "channel")
    results = list(engine.render([0, 1, 2], Setting(steps=30, objective="neuron"), (0.0, 255.0)))
    view = engine.network("neuron")
    pixel = param.Pixel(view.shape, (0.0, 255.0))
    maps = engine.select(view.model(tf.constant(np.stack([pixel.start(0, f) for f in range(3)]))), tf.range(3))
    starts = tf.nn.relu(view.reduce(maps)).numpy()
    for f, result in enumerate(results):
        assert result.image.shape == (10, 10, 3)
        assert result.activation > starts[f] + 1.0


def test_neuron_uses_the_centre_unit_of_the_full_input_when_its_field_covers_it(vgg16: keras.Model) -> None:
    engine = ActivationMaximizer(vgg16, "block4_conv3", "channel")  # field 92 > 64
    view = engine.network("neuron")
    assert view.shape == (64, 64, 3) and view.model is engine.below
    maps = tf.random.normal([2, 8, 8])
    np.testing.assert_array_equal(view.reduce(maps).numpy(), maps.numpy()[:, 4, 4])


def test_steps_auto_stops_each_image_where_it_levels_off_and_matches_a_fixed_run_until_then() -> None:
    engine = ActivationMaximizer(tiny_classifier(), "conv", "channel")
    fixed = list(engine.render([0, 1, 2, 3], Setting(steps=400), (0.0, 1.0)))
    auto = list(engine.render([0, 1, 2, 3], Setting(steps="auto", max_steps=400), (0.0, 1.0)))
    assert all(result.steps == 400 for result in fixed)
    assert all(result.steps < 400 and result.steps % 10 == 0 for result in auto)
    for early, full in zip(auto, fixed):
        assert len(early.losses["total"]) == early.steps  # the curves end where the image stopped
        # Until an image stops, it takes the very steps of the fixed run; after, it is frozen.
        assert early.losses["total"] == full.losses["total"][:early.steps]
        assert early.status == full.status == "converged"
        assert early.activation >= 0.95 * full.activation
        assert convergence.levelled(-np.asarray(early.losses["activation"])[:, None]).all()


def test_steps_auto_runs_to_max_steps_while_an_image_still_rises() -> None:
    engine = ActivationMaximizer(tiny_classifier(), "conv", "channel")
    slow = Setting(steps="auto", max_steps=60, learning_rate=0.0005, tv_weight=0, lp_norm_weight=0)
    (result,) = engine.render([0], slow, (0.0, 1.0))
    assert result.steps == 60 and result.status == "rising"


def test_a_batch_out_of_device_memory_is_halved_and_the_size_that_fit_is_kept(monkeypatch) -> None:
    engine = ActivationMaximizer(tiny_classifier(), "conv", "channel")
    setting = Setting(steps=5)
    expected = [result.image for result in engine.render([0, 1, 2, 3], setting, (0.0, 1.0))]
    run, sizes = engine._run, []

    def small_memory(net, param, filters, *args):  # a device that holds two images at a time
        sizes.append(len(filters))
        if len(filters) > 2:
            raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")
        return run(net, param, filters, *args)

    monkeypatch.setattr(engine, "_run", small_memory)
    images = [result.image for result in engine.render([0, 1, 2, 3], setting, (0.0, 1.0))]
    assert sizes == [4, 2, 2] and engine.fitting_images == {"channel": 2} and engine.chunk_size(setting) == 2
    assert engine.chunk_size(setting.model_copy(update={"diversity": 2})) == 1  # counted in images
    assert all(np.array_equal(a, b) for a, b in zip(images, expected))


def test_steps_auto_stops_a_filters_copies_together(engine: ActivationMaximizer) -> None:
    setting = Setting(steps="auto", max_steps=300, diversity=3, jitter=1)
    results = list(engine.render([0, 1], setting, (0.0, 1.0)))
    for result in results:
        assert result.image.shape[1] == 3 * result.image.shape[0]  # one strip of three copies
        assert 50 <= result.steps < 300 and len(result.losses["total"]) == result.steps
