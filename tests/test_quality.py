"""The engine's Lucid-style parts against what they promise: parameterizations, transforms, update
rules, receptive fields, the convergence verdict and the automatic retry."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from gallery.config import Setting
from gallery.renderers import convergence, param, receptive_field, transforms
from gallery.renderers.activation_max import ActivationMaximizer
from gallery.renderers.objectives import truncated
from gallery.renderers.optimizers import OPTIMIZERS

# --- parameterizations -----------------------------------------------------------------------

def radial_slope(image: np.ndarray) -> float:
    """Slope of log amplitude against log frequency, averaged over rings of the 2-D spectrum."""
    amplitude = np.abs(np.fft.fft2(image - image.mean()))
    rows, cols = np.meshgrid(np.fft.fftfreq(image.shape[0]), np.fft.fftfreq(image.shape[1]), indexing="ij")
    radius = np.sqrt(rows**2 + cols**2)
    rings = np.linspace(2 / image.shape[0], 0.45, 12)
    centres = (rings[:-1] + rings[1:]) / 2
    means = [amplitude[(radius >= lo) & (radius < hi)].mean() for lo, hi in zip(rings[:-1], rings[1:])]
    return float(np.polyfit(np.log(centres), np.log(means), 1)[0])


def test_fourier_start_has_a_1_over_f_spectrum_and_any_params_stay_in_range() -> None:
    fourier = param.Fourier((64, 64, 3), (-1.0, 2.0))
    starts = tf.constant(np.stack([fourier.start(0, f) for f in range(4)]))
    images = fourier.images(starts).numpy()
    assert images.shape == (4, 64, 64, 3)
    assert abs(images.mean() - 0.5) < 0.05  # the sigmoid's middle: the range's middle
    slopes = [radial_slope(images[i, :, :, c]) for i in range(4) for c in range(3)]
    assert all(-1.3 < s < -0.7 for s in slopes), slopes  # amplitude ~ 1/f
    # White noise (slope about 0) is what the pixel parameterization starts from, for contrast.
    assert abs(radial_slope(param.Pixel((64, 64, 1), (0.0, 1.0)).start(0, 0)[..., 0])) < 0.3
    wild = fourier.images(tf.random.normal([2, *fourier.param_shape], stddev=100.0)).numpy()
    assert wild.min() >= -1.0 and wild.max() <= 2.0 and wild.std() > 0.5


@pytest.mark.parametrize("channels", [3, 1])
def test_fourier_round_trip_from_images(channels: int) -> None:
    fourier = param.Fourier((20, 15, channels), (0.0, 255.0))
    images = tf.constant(np.random.default_rng(0).uniform(5, 250, (2, 20, 15, channels)), tf.float32)
    np.testing.assert_allclose(fourier.images(fourier.from_images(images)).numpy(), images.numpy(), atol=0.02)


def test_colour_decorrelation_round_trip_and_mixing() -> None:
    colours = tf.constant(np.random.default_rng(1).normal(size=(2, 4, 4, 3)), tf.float32)
    np.testing.assert_allclose(param.correlate(param.decorrelate(colours)).numpy(), colours.numpy(), atol=1e-5)
    # One decorrelated channel moves all three colours: the first is ImageNet's luminance direction.
    luminance = param.decorrelate(tf.constant([[[[1.0, 0.0, 0.0]]]])).numpy().ravel()
    assert np.all(luminance > 0) and np.ptp(luminance) < 0.05
    assert np.linalg.norm(param.COLOR_MIXING, axis=0).max() == pytest.approx(1)


# --- transforms ------------------------------------------------------------------------------

def ramp(size: int = 5) -> tf.Tensor:
    return tf.constant(np.arange(size * size, dtype=np.float32).reshape(1, size, size, 1))


def test_rotation_by_90_degrees_is_rot90_and_0_is_identity() -> None:
    image = ramp()
    quarter = transforms.rotate(image, tf.constant([np.pi / 2])).numpy()[0, ..., 0]
    np.testing.assert_allclose(quarter, np.rot90(image.numpy()[0, ..., 0]), atol=1e-4)  # counter-clockwise
    np.testing.assert_allclose(transforms.rotate(image, tf.constant([0.0])).numpy(), image.numpy(), atol=1e-5)


def test_scale_zooms_about_the_centre() -> None:
    image = ramp()
    np.testing.assert_allclose(transforms.scale(image, tf.constant([1.0])).numpy(), image.numpy(), atol=1e-5)
    doubled = transforms.scale(image, tf.constant([2.0])).numpy()[0, ..., 0]
    assert doubled[2, 2] == pytest.approx(12.0)  # the centre stays
    # Output (row 0, col 0) reads the input half-way to the centre: (1, 1), value 6.
    assert doubled[0, 0] == pytest.approx(6.0) and doubled[0, 1] == pytest.approx(6.5)


def test_pad_then_crop_is_identity_and_pad_brings_in_the_fill_value() -> None:
    images = tf.constant(np.random.default_rng(2).random((2, 6, 7, 3)), tf.float32)
    padded = transforms.pad(images, 3, 0.5)
    assert padded.shape == (2, 12, 13, 3) and np.all(padded.numpy()[:, :3] == 0.5)
    np.testing.assert_array_equal(transforms.crop(padded, 6, 7).numpy(), images.numpy())
    # With a border as wide as the largest shift, a shifted image meets the border, not its own far edge.
    seeds = tf.constant([[1, 2], [3, 4]], tf.int64)
    shifted = transforms.robustness(3, 0.5, 3, None, 0.0, (6, 7))(images, seeds).numpy()
    wrapped = transforms.jitter(images, 3, seeds).numpy()
    for i in range(2):
        shift = tf.random.stateless_uniform([2], seeds[i], -3, 4, dtype=tf.int32).numpy()
        expected = np.roll(np.pad(images[i].numpy(), [(3, 3), (3, 3), (0, 0)], constant_values=0.5), shift, (0, 1))
        np.testing.assert_array_equal(shifted[i], expected[3:9, 3:10])
        if shift.any():
            assert not np.array_equal(shifted[i], wrapped[i])


def test_random_amounts_are_per_image_and_transforms_compose_in_order() -> None:
    seeds = tf.constant([[5, 6], [7, 8], [9, 10]], tf.int64)
    draws = transforms.uniform(seeds, 0.9, 1.1, salt=1).numpy()
    assert transforms.uniform(seeds[1:2], 0.9, 1.1, salt=1).numpy()[0] == draws[1]
    assert np.all((draws >= 0.9) & (draws < 1.1)) and len(set(draws)) == 3
    assert not np.array_equal(transforms.uniform(seeds, 0.9, 1.1, salt=2).numpy(), draws)
    image = tf.tile(ramp(9), [3, 1, 1, 1])
    rotated = transforms.robustness(0, 0.0, 0, None, 10.0, (9, 9))(image, seeds).numpy()
    angles = transforms.uniform(seeds, -np.radians(10), np.radians(10), salt=2)
    np.testing.assert_allclose(rotated, transforms.rotate(image, angles).numpy(), atol=1e-5)


# --- update rules ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["ascent", "adam"])
def test_both_update_rules_climb_a_simple_objective(name: str) -> None:
    target = tf.constant(np.random.default_rng(3).uniform(-1, 1, (2, 8, 8, 3)), tf.float32)
    optimizer = OPTIMIZERS[name](0.05)
    params = tf.zeros_like(target)
    state = optimizer.init(params)

    def loss(x: tf.Tensor) -> tf.Tensor:
        return tf.reduce_sum(tf.square(x - target))

    start = float(loss(params))
    for step in range(100):
        with tf.GradientTape() as tape:
            tape.watch(params)
            value = loss(params)
        delta, state = optimizer.update(tape.gradient(value, params), state, tf.constant(step))
        params = params - delta
    assert float(loss(params)) < 0.02 * start


def tiny_conv(activation: str | None = None) -> keras.Model:
    keras.utils.set_random_seed(4)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Conv2D(6, 3, padding="same", activation=activation, name="conv2")(x)
    outputs = keras.layers.Dense(3, name="out")(keras.layers.Flatten()(x))
    return keras.Model(inputs, outputs)


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


# --- receptive fields ------------------------------------------------------------------------

VGG_FIELDS = {"block1_conv1": 3, "block1_conv2": 5, "block1_pool": 6, "block2_conv1": 10,
              "block2_conv2": 14, "block2_pool": 16, "block3_conv1": 24, "block3_conv3": 40}


@pytest.fixture(scope="module")
def vgg16() -> keras.Model:
    keras.utils.set_random_seed(5)
    return keras.applications.VGG16(weights=None, include_top=False, input_shape=(64, 64, 3))


def test_receptive_field_sizes_of_vgg16(vgg16: keras.Model) -> None:
    for layer, size in VGG_FIELDS.items():
        assert receptive_field.Graph(vgg16, vgg16.get_layer(layer).output).size() == (size, size), layer
    cut = truncated(vgg16, "block2_conv1")
    assert receptive_field.window(cut, cut.outputs[0]) == receptive_field.Window((10, 10), (2, 2))
    # block3's units sit at input offsets 4u - 18: 2 leading pixels are outside the field.
    cut = truncated(vgg16, "block3_conv3")
    assert receptive_field.window(cut, cut.outputs[0]) == receptive_field.Window((42, 42), (5, 5))


def test_layers_that_see_everything_have_no_window() -> None:
    model = tiny_conv()
    graph = receptive_field.Graph(model, model.get_layer("out").output)
    assert not graph.local and graph.size() is None
    assert receptive_field.window(model, model.get_layer("out").output) is None
    assert receptive_field.Graph(model, model.get_layer("conv2").output).size() == (8, 8)  # 3 + 1 + 2*2


def residual(size: int) -> keras.Model:
    """Two branches with different padding, strides 2 'same' (which pads by input parity) and a merge."""
    keras.utils.set_random_seed(6)
    inputs = keras.Input((size, size, 2))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="stem")(inputs)
    main = keras.layers.Conv2D(4, 3, strides=2, padding="same", name="main")(x)
    short = keras.layers.Conv2D(4, 1, strides=2, padding="same", name="short")(x)
    y = keras.layers.Add(name="add")([main, short])
    y = keras.layers.DepthwiseConv2D(3, dilation_rate=2, padding="same", name="depthwise")(y)
    return keras.Model(inputs, keras.layers.ReLU(name="relu")(y))


@pytest.mark.parametrize("model_name, layer", [("vgg16", "block3_conv3"), ("residual", "depthwise")])
def test_the_window_unit_computes_the_full_input_centre_unit(model_name: str, layer: str,
                                                             request: pytest.FixtureRequest) -> None:
    network = request.getfixturevalue("vgg16") if model_name == "vgg16" else residual(32)
    cut = truncated(network, layer)
    graph = receptive_field.Graph(cut, cut.outputs[0])
    window = receptive_field.window(cut, cut.outputs[0])
    height, width, channels = cut.inputs[0].shape[1:]
    assert window is not None and window.shape[0] < height and window.shape[1] < width
    rng = np.random.default_rng(7)
    full = rng.random((1, height, width, channels)).astype(np.float32) * 255
    values = cut(full)[0].numpy()
    row, col = values.shape[1] // 2, values.shape[2] // 2
    (top, bottom), (left, right) = graph.reads(row, height, 0), graph.reads(col, width, 1)
    assert top >= 0 and left >= 0 and bottom < height and right < width
    (s_top, s_bottom), (s_left, s_right) = (graph.reads(window.unit[a], window.shape[a], a) for a in (0, 1))
    assert (s_bottom - s_top, s_right - s_left) == (bottom - top, right - left)
    small = rng.random((1, *window.shape, channels)).astype(np.float32) * 255  # outside the field: anything
    small[0, s_top:s_bottom + 1, s_left:s_right + 1] = full[0, top:bottom + 1, left:right + 1]
    engine = ActivationMaximizer(network, layer, "channel")
    view = engine.view("neuron")
    assert view.shape == (*window.shape, channels)
    filters = [0, 3, values.shape[-1] - 1]  # computed channel by channel (objectives.own_units)
    maps = engine.select(view.model(np.repeat(small, 3, axis=0)), tf.constant(filters))
    np.testing.assert_allclose(view.reduce(maps).numpy(), values[0, row, col, filters], rtol=1e-4, atol=1e-3)


def test_neuron_renders_at_the_receptive_field_and_raises_the_unit(vgg16: keras.Model) -> None:
    engine = ActivationMaximizer(vgg16, "block2_conv1", "channel")
    results = list(engine.render([0, 1, 2], Setting(steps=30, objective="neuron"), (0.0, 255.0)))
    view = engine.view("neuron")
    pixel = param.Pixel(view.shape, (0.0, 255.0))
    maps = engine.select(view.model(tf.constant(np.stack([pixel.start(0, f) for f in range(3)]))), tf.range(3))
    starts = tf.nn.relu(view.reduce(maps)).numpy()
    for f, result in enumerate(results):
        assert result.image.shape == (10, 10, 3)
        assert result.activation > starts[f] + 1.0


def test_neuron_uses_the_centre_unit_of_the_full_input_when_its_field_covers_it(vgg16: keras.Model) -> None:
    engine = ActivationMaximizer(vgg16, "block4_conv3", "channel")  # field 92 > 64
    view = engine.view("neuron")
    assert view.shape == (64, 64, 3) and view.model is engine.below
    maps = tf.random.normal([2, 8, 8])
    np.testing.assert_array_equal(view.reduce(maps).numpy(), maps.numpy()[:, 4, 4])


def test_references_for_neuron_and_negated_settings() -> None:
    model = tiny_conv()
    engine = ActivationMaximizer(model, "conv2", "channel")
    images = np.random.default_rng(9).random((5, 16, 16, 3)).astype(np.float32)
    features = keras.Model(model.inputs, model.get_layer("conv2").output)(images).numpy()
    np.testing.assert_allclose(engine.reference(images), features.mean(axis=(1, 2)).max(axis=0), rtol=1e-5)
    np.testing.assert_allclose(engine.reference(images, "neuron"), features.max(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(engine.reference(images, negate=True), features.mean(axis=(1, 2)).min(axis=0), rtol=1e-5)


# --- convergence -----------------------------------------------------------------------------

def curves(objective: np.ndarray, penalty: np.ndarray | None = None) -> dict[str, list[float]]:
    """Engine-style losses for an objective curve (to be raised) and a penalty curve."""
    penalty = np.zeros_like(objective) if penalty is None else penalty
    return {"activation": list(-objective), "lp_norm": list(penalty / 2), "tv": list(penalty / 2),
            "total": list(-objective + penalty)}


def test_convergence_verdicts_on_constructed_curves() -> None:
    steps = np.arange(200)
    rng = np.random.default_rng(8)
    levelled = 10 * (1 - np.exp(-steps / 20))
    assert convergence.classify(curves(levelled), 1.0) == "converged"
    assert convergence.classify(curves(levelled + rng.normal(0, 1.0, 200)), 1.0) == "converged"  # jittery plateau
    assert convergence.classify(curves(0.05 * steps), 1.0) == "rising"
    assert convergence.classify(curves(levelled + np.where(steps > 180, 2.0, 0.0)), 1.0) == "rising"  # late jump
    assert convergence.classify(curves(levelled[:2]), 1.0) == "rising"  # too short to tell
    # The objective fell while the penalty fell faster: the total improved, the unit did not.
    assert convergence.classify(curves(-0.01 * steps, 5 * np.exp(-steps / 10)), 1.0) == "regularizer-dominated"
    # A small gain bought with a larger penalty: the regularizers shaped the picture.
    small_gain = curves(0.5 * (1 - np.exp(-steps / 20)), np.full(200, 2.0))
    assert convergence.classify(small_gain, 1.0) == "regularizer-dominated"
    # The climbed (leaky) objective rose, but the real activation did not: a unit that never switched on.
    assert convergence.classify(curves(levelled), 0.0) == "regularizer-dominated"
    # A second stage that starts high and gives a little back is judged from the first stage's start.
    seeded = 10 - 0.5 * (1 - np.exp(-steps / 20))
    assert convergence.classify(curves(seeded, np.full(200, 1.0)), 1.0) == "regularizer-dominated"
    assert convergence.classify(curves(seeded, np.full(200, 1.0)), 1.0, start=0.0) == "converged"


def test_retry_auto_marks_and_fixes_unconverged_results() -> None:
    """Strong TV (100) and 30 steps: two ReLU channels still climbing, one never switched on."""
    engine = ActivationMaximizer(tiny_conv("relu"), "conv2", "channel")
    strong_tv = Setting(steps=30, tv_weight=100)
    firsts = list(engine.render([0, 1, 5], strong_tv, (0.0, 1.0)))
    assert [r.status for r in firsts] == ["regularizer-dominated", "rising", "rising"]
    assert firsts[0].activation == 0.0  # the flagged channel's picture does not drive it at all
    retried = list(engine.render([0, 1, 5], strong_tv.model_copy(update={"retry": "auto"}), (0.0, 1.0)))
    assert [r.retried_because for r in retried] == [r.status for r in firsts]
    assert [r.status for r in retried] == ["regularizer-dominated", "converged", "converged"]  # 0 stays flagged
    assert all(len(values) == 60 for r in retried for values in r.losses.values())  # both stages' steps
    # Converged results are returned as they are.
    (settled,) = engine.render([1], Setting(steps=100, retry="auto"), (0.0, 1.0))
    (plain,) = engine.render([1], Setting(steps=100), (0.0, 1.0))
    assert settled.status == "converged" and settled.retried_because is None
    np.testing.assert_array_equal(settled.image, plain.image)
