"""Bad input: one line naming file, line and key; exit status 2; nothing already built touched."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import one_line_error

from gallery import config
from gallery.cli import main
from gallery.errors import GalleryError
from gallery.methods import METHODS

BASE = """\
site:
  title: test
models:
  - id: mnist
    source: builtin
    builtin: mnist_cnn
    data: {source: bundled}
settings:
  sweep:
    tv_weight: 1
activation_max:
  - model: mnist
    layer: preds
    filters: [0, 3]
    settings: [default, sweep]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "atlas.yaml"
    path.write_text(text)
    return path


def validate(path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["validate", str(path)])
    return result.exit_code, result.output


def test_valid_config_counts_its_jobs(tmp_path: Path) -> None:
    code, output = validate(write(tmp_path, BASE))
    assert code == 0, output
    assert "4 activation-maximization images on 1 layer, 0 feature-map pages" in output


@pytest.mark.parametrize(("old", "new", "line", "expected"), [
    ("    tv_weight: 1", "    tv_wieght: 1", 10, "settings.sweep.tv_wieght: unknown key 'tv_wieght' (did you mean 'tv_weight'?)"),
    ("    layer: preds", "    layer: pred", 13, "activation_max[0].layer: model 'mnist' has no layer 'pred' (did you mean 'preds'?)"),
    ("filters: [0, 3]", "filters: [0, 10]", 14, "activation_max[0].filters[1]: filter 10 is out of range: layer 'preds' has 10 (0-9)"),
    ("settings: [default, sweep]", "settings: [default, swep]", 15, "activation_max[0].settings[1]: no setting 'swep' (did you mean 'sweep'?)"),
    ("    builtin: mnist_cnn", "    builtin: mnist", 6, "models[0].builtin: Input should be 'mnist_cnn', 'catsdogs_cnn' or 'efficientnet_lite0'"),
    ("  - model: mnist", "  - model: mnsit", 12, "activation_max[0].model: no model 'mnsit' (did you mean 'mnist'?)"),
    ("site:\n  title: test", "site:\n  titel: test", 2, "site.titel: unknown key 'titel' (did you mean 'title'?)"),
    ("    tv_weight: 1", "    tv_weight: 1\n    steps: fast", 11, "settings.sweep.steps: Input should be a valid integer or 'auto'"),
    ("    tv_weight: 1", "    tv_weight: 1\n    max_steps: 300", 9, "settings.sweep: max_steps only applies with steps: auto (give steps: auto, or leave max_steps out)"),
])
def test_errors_name_file_line_and_key(tmp_path: Path, old: str, new: str, line: int, expected: str) -> None:
    path = write(tmp_path, BASE.replace(old, new))
    code, output = validate(path)
    assert code == 2
    assert output.strip() == f"error: {path}:{line}: {expected}"


def test_missing_model_file(tmp_path: Path) -> None:
    text = BASE.replace("    source: builtin\n    builtin: mnist_cnn\n    data: {source: bundled}",
                        "    source: file\n    path: nowhere.keras")
    path = write(tmp_path, text)
    code, output = validate(path)
    assert code == 2
    assert output.strip() == f"error: {path}:6: models[0].path: model file not found: nowhere.keras"


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("filters: [0, 3]", "filters: [0, 3"))
    code, output = validate(path)
    assert code == 2
    assert output.startswith(f"error: {path}:") and "invalid YAML" in output
    assert "Traceback" not in output and output.count("\n") == 1


def test_failed_build_leaves_previous_site_and_cache(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("previous build")
    cache = tmp_path / "cache" / "renders" / "ab"
    cache.mkdir(parents=True)
    (cache / "ab12.png").write_bytes(b"png")
    path = write(tmp_path, BASE.replace("layer: preds", "layer: conv9"))
    result = CliRunner().invoke(main, ["build", str(path), "--out", str(site), "--cache", str(tmp_path / "cache")])
    assert result.exit_code == 2
    assert (site / "index.html").read_text() == "previous build"
    assert (cache / "ab12.png").read_bytes() == b"png"


def test_defaults_are_keras_vis() -> None:
    default = config.Setting()
    assert (default.activation_weight, default.lp_norm_weight, default.lp_p) == (1.0, 10.0, 6.0)
    assert (default.tv_weight, default.tv_beta, default.steps) == (10.0, 2.0, 200)


def test_load_keeps_user_settings_and_adds_default(tmp_path: Path) -> None:
    loaded = config.load(write(tmp_path, BASE))
    assert list(loaded.config.settings) == ["default", "sweep"]
    assert loaded.config.settings["sweep"].tv_weight == 1
    assert loaded.config.settings["sweep"].lp_norm_weight == 10


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(GalleryError, match="cannot read config"):
        config.load(tmp_path / "absent.yaml")


def test_keras_application_filter_out_of_range(tmp_path: Path) -> None:
    text = """\
models:
  - id: mobile
    source: keras_applications
    name: MobileNetV2
    weights: null
    input_shape: [96, 96, 3]
activation_max:
  - model: mobile
    layer: Conv1
    filters: [40]
"""
    path = write(tmp_path, text)
    code, output = validate(path)
    assert code == 2
    assert output.strip() == (f"error: {path}:10: activation_max[0].filters[0]: "
                              "filter 40 is out of range: layer 'Conv1' has 32 (0-31)")


def test_start_from_errors(tmp_path: Path) -> None:
    base = "models:\n  - {id: net, source: builtin, builtin: mnist_cnn}\nsettings:\n"
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(base + "  second:\n    start_from: frist\n")
    assert one_line_error(unknown).endswith("settings.second.start_from: no setting 'frist' (known: default, second)")
    loop = tmp_path / "loop.yaml"
    loop.write_text(base + "  a: {start_from: b}\n  b: {start_from: a}\n")
    assert "start_from loops: a -> b -> a" in one_line_error(loop)


@pytest.mark.parametrize(("additions", "expected"), [
    ("  sharp: {tv_wieght: 3}\n  soft: {jiter: 2}\n",  # two typos the schema finds
     ["atlas.yaml:11: settings.sharp.tv_wieght: unknown key 'tv_wieght' (did you mean 'tv_weight'?)",
      "atlas.yaml:12: settings.soft.jiter: unknown key 'jiter' (did you mean 'jitter'?)"]),
])
def test_two_typos_give_two_error_lines(tmp_path: Path, additions: str, expected: list[str]) -> None:
    text = BASE.replace("    tv_weight: 1\n", "    tv_weight: 1\n" + additions)
    code, output = validate(write(tmp_path, text))
    assert code == 2
    assert [line.removeprefix(f"error: {tmp_path}/") for line in output.splitlines()] == expected


def test_every_wrong_name_against_the_layers_is_its_own_line(tmp_path: Path) -> None:
    text = BASE.replace("    layer: preds\n", "    layer: conv2d_9\n") + """\
  - model: mnist
    layer: conv2d_1
    filters: [40]
images:
  digit: sample:camera
feature_maps:
  - model: mnist
    images: [digt]
"""
    code, output = validate(write(tmp_path, text))
    assert code == 2
    assert [line.removeprefix(f"error: {tmp_path}/") for line in output.splitlines()] == [
        "atlas.yaml:13: activation_max[0].layer: model 'mnist' has no layer 'conv2d_9' (did you mean 'conv2d_2'?)",
        "atlas.yaml:18: activation_max[1].filters[0]: filter 40 is out of range: layer 'conv2d_1' has 32 (0-31)",
        "atlas.yaml:23: feature_maps[0].images[0]: no image 'digt' (did you mean 'digit'?)",
    ], output


def test_methods_all_is_the_default_list_and_filters_errors_name_no_class(tmp_path: Path) -> None:
    spec = config.AttributionSpec.model_validate({"model": "m", "images": ["x"], "methods": "all"})
    assert spec.methods == config.AttributionSpec.model_validate({"model": "m", "images": ["x"]}).methods
    assert "smoothgrad_integrated_gradients" not in spec.methods and "gradcam" in spec.methods
    path = write(tmp_path, "models: [{id: m, source: file, path: m.keras}]\n"
                           "activation_max: [{model: m, layer: c, filters: some}]\n")
    error = one_line_error(path)
    assert "activation_max[0].filters" in error and "RandomFilters" not in error
    path = write(tmp_path, "models: [{id: m, source: file, path: m.keras}]\n"
                           "images: {x: x.png}\n"
                           "attribution: [{model: m, images: [x], methods: [Grad-CAM++, gradcam++, ig]}]\n")
    known = ", ".join([*METHODS, *(info.label for info in METHODS.values())])
    assert one_line_error(path) == (f"error: {path}:3: attribution[0].methods[2]: no attribution method 'ig' (known: "
                                    f"{known})")
    path.write_text(path.read_text().replace("ig]", "Scor-CAM]"))
    assert one_line_error(path).endswith("methods[2]: no attribution method 'Scor-CAM' (did you mean 'Score-CAM'?)")


def test_a_layer_yaml_reads_as_a_number_is_told_to_be_quoted(tmp_path: Path) -> None:
    path = write(tmp_path, "models: [{id: m, source: file, path: m.keras}]\nactivation_max: [{model: m, layer: 123}]\n")
    assert one_line_error(path) == (f"error: {path}:2: activation_max[0].layer: Input should be a valid string, and "
                                    "YAML reads this value as int 123: put it in quotes to keep it a name")


def test_a_model_without_its_source_is_told_the_sources_and_a_misspelt_key(tmp_path: Path) -> None:
    path = write(tmp_path, "models: [{id: m, sorce: file, path: m.keras}]\n")
    assert one_line_error(path) == (f"error: {path}:1: models[0]: missing key 'source' (one of: builtin, file, "
                                    "keras_applications); unknown key 'sorce' (did you mean 'source'?)")


def test_a_model_file_given_for_a_config_points_to_init(tmp_path: Path) -> None:
    path = tmp_path / "net.keras"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 40)  # a .keras file is a zip
    error = one_line_error(path, "layers")
    assert error == f"error: {path}: a model file, not a config: `gallery init {path}` writes a config from its layers"
