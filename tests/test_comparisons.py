"""Comparison pages: the `compare` section, the automatic ones, and their config errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import MnistAtlas

from gallery import build
from gallery.errors import GalleryError
from gallery.methods import DEFAULT_METHODS, METHODS

TV_SWEEP = ["tv_10", "tv_100", "tv_300", "tv_1000", "tv_3000"]


def table(page: Path) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """A comparison page's column headings, and per row its heading and the images it shows."""
    text = re.search(r'<table class="comparison.*?</table>', page.read_text(), re.DOTALL).group(0)  # not the settings
    head = re.search(r"<thead><tr><th>\w+</th>(.*?)</tr></thead>", text, re.DOTALL).group(1)
    columns = re.findall(r"<th[^>]*>([^<]+)</th>", head)
    rows = re.findall(r'<tr><th scope="row">(.*?)</th>(.*?)</tr>', text, re.DOTALL)
    return columns, [(re.sub(r"<[^>]+>", "", label), re.findall(r'<img src="\.\./([^"]+)"', cells))
                     for label, cells in rows]


def test_settings_comparison_is_the_reports_tv_sweep(mnist_atlas: MnistAtlas) -> None:
    columns, rows = table(mnist_atlas.site / "compare" / "tv-sweep.html")
    assert columns == TV_SWEEP
    assert [label for label, _ in rows] == [f"digit {d}" for d in range(10)]
    for digit, (_, pictures) in enumerate(rows):
        assert pictures == [f"mnist/preds/img/{digit}-{name}.png" for name in TV_SWEEP]


def test_models_comparison_shows_the_same_units_after_1_and_12_epochs(mnist_atlas: MnistAtlas) -> None:
    columns, rows = table(mnist_atlas.site / "compare" / "training.html")
    assert re.fullmatch(r"mnist_1epoch \([\d.]+% test accuracy\)", columns[0])
    assert re.fullmatch(r"mnist \([\d.]+% test accuracy\)", columns[1])
    assert len(rows) == 10
    for digit, (_, pictures) in enumerate(rows):
        assert pictures == [f"mnist_1epoch/preds/img/{digit}-clear.png", f"mnist/preds/img/{digit}-clear.png"]


def test_depth_comparison_has_a_row_per_layer(mnist_atlas: MnistAtlas) -> None:
    _, rows = table(mnist_atlas.site / "compare" / "depth-mnist.html")
    assert [label for label, _ in rows] == ["conv2d_1", "conv2d_2", "preds"]
    for layer, pictures in rows:
        assert pictures == [f"mnist/{layer}/img/{f}-default.png" for f in range(8)]


def test_attribution_comparison_puts_methods_side_by_side(mnist_atlas: MnistAtlas) -> None:
    columns, rows = table(mnist_atlas.site / "compare" / "attribution-training.html")
    assert columns == [METHODS[m].label for m in DEFAULT_METHODS]  # Grad-CAM++, not gradcam_plus_plus
    assert [label.split(":")[0] for label, _ in rows] == ["mnist_1epoch", "mnist"]
    text = (mnist_atlas.site / "compare" / "attribution-training.html").read_text()
    for model, (_, pictures) in zip(["mnist_1epoch", "mnist"], rows):
        empty = text.split(f'attribution/digit7.html">{model}:')[1].split("</tr>")[0].count("no positive evidence")
        assert len(pictures) + empty == len(DEFAULT_METHODS)
        assert all(p.startswith(f"{model}/attribution/digit7/") and (mnist_atlas.site / p).is_file() for p in pictures)


def test_index_links_every_comparison(mnist_atlas: MnistAtlas) -> None:
    index = (mnist_atlas.site / "index.html").read_text()
    for name in ("tv-sweep", "training", "depth-mnist", "attribution-training"):
        assert f'href="compare/{name}.html"' in index


BASE = """\
models:
  - id: early
    source: builtin
    builtin: mnist_cnn
  - id: late
    source: builtin
    builtin: mnist_cnn
settings:
  clear: {tv_weight: 100}
images:
  seven: sample:coffee
activation_max:
  - model: early
    layer: preds
    settings: [clear]
  - model: late
    layer: preds
    settings: [default, clear]
attribution:
  - model: early
    images: [seven]
  - model: late
    images: [seven]
"""


def test_obvious_comparisons_come_without_asking(tmp_path: Path) -> None:
    path = tmp_path / "two.yaml"
    path.write_text(BASE)
    _, plan = build.check(path)
    models, attribution = plan.comparisons
    assert (models.kind, models.slug, models.models, models.settings) == ("models", "models-preds", ("early", "late"),
                                                                          ("clear",))
    assert models.filters == tuple(range(10))
    assert (attribution.kind, attribution.slug, attribution.image) == ("attribution", "attribution-seven", "seven")


@pytest.mark.parametrize("compare, expected", [
    ("  - {kind: models, models: [early, late]}", ":25: compare[0]: a 'models' comparison needs layer"),
    ("  - {kind: models, models: [early, late], layer: pred, setting: clear}",
     ":25: compare[0].layer: model 'early' renders no layer 'pred': add it to activation_max"),
    ("  - {kind: models, models: [early, late], layer: preds}",
     ":25: compare[0].setting: early/preds is not rendered under setting 'default' (rendered: clear)"),
    ("  - {kind: settings, model: erly, layer: preds}", ":25: compare[0].model: no model 'erly' (did you mean 'early'?)"),
    ("  - {kind: settings, model: late, layer: preds, settings: [default, clear, tv]}",
     ":25: compare[0].settings[2]: late/preds is not rendered under setting 'tv'"),
    ("  - {kind: attribution, models: [early], image: cat}",
     ":25: compare[0].image: model 'early' has no attribution of image 'cat'"),
    ("  - {kind: depth, model: late, setting: clear}\n  - {kind: depth, model: late}",
     ":26: compare[1]: two comparisons are named 'depth-late': give one an `id`"),
    ("  - {kind: depth, model: late, filters: [1]}", ":25: compare[0].filters: unknown key 'filters'"),
    ("  - {kind: depth, model: late, layer_count: 2}", ":25: compare[0].layer_count: unknown key 'layer_count'"),
])
def test_compare_errors_name_file_line_and_key(tmp_path: Path, compare: str, expected: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(f"{BASE}compare:\n{compare}\n")
    with pytest.raises(GalleryError) as error:
        build.check(path)
    assert str(error.value).startswith(f"{path}{expected}")
