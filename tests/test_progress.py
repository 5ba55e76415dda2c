"""What a build says while it works: a bar per stage, the rendering bar in image-steps naming its
layer, nothing at all with --quiet, and no rendering bar when everything is cached."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import MnistAtlas, offline_copy

from gallery.cli import main

STEPS = 6


@pytest.fixture
def small_atlas(mnist_atlas: MnistAtlas, tmp_path: Path) -> tuple[Path, Path]:
    """One model (trained weights copied from the session's build), two layers, a view of each kind."""
    config = offline_copy(mnist_atlas.config, tmp_path, settings={"quick": {"steps": STEPS}},
                          activation_max=[{"model": "mnist", "layer": "conv2d_1", "filters": [0, 1, 2],
                                           "settings": ["quick"]},
                                          {"model": "mnist", "layer": "preds", "filters": [4], "settings": ["quick"]}],
                          feature_maps=[{"model": "mnist", "images": ["digit7"], "layers": ["conv2d_1"]}],
                          attribution=[{"model": "mnist", "images": ["digit7"], "classes": [7]}],
                          compare=[], site={"title": "small"})
    data = yaml.safe_load(config.read_text())
    data["models"] = data["models"][:1]
    config.write_text(yaml.safe_dump(data))
    cache = tmp_path / "cache"
    shutil.copytree(mnist_atlas.cache / "models", cache / "models")
    return config, cache


def test_every_stage_has_a_bar_and_rendering_counts_image_steps(small_atlas: tuple[Path, Path],
                                                                tmp_path: Path) -> None:
    config, cache = small_atlas
    args = ["build", str(config), "--site", str(tmp_path / "site"), "--cache", str(cache)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in re.split(r"[\r\n]", result.stderr) if line.strip()]
    finals = {line.split(":")[0]: line for line in lines if "100%" in line}
    assert {"rendering mnist/preds", "dataset examples", "feature maps", "attribution", "sanity checks"} <= set(
        finals), lines
    assert f"| {4 * STEPS}/{4 * STEPS} [" in finals["rendering mnist/preds"]  # 4 pictures of 6 steps, not 4 images
    assert any(line.startswith("rendering mnist/conv2d_1:") for line in lines)  # the layer at work is named
    assert re.search(r"pages: \d+page", result.stderr)
    assert "rendered 7, cached 0" in result.stdout  # 4 pictures, a feature, an attribution and a sanity view

    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and "rendering" not in again.stderr and "cached 7" in again.stdout


def test_quiet_prints_the_summary_only(small_atlas: tuple[Path, Path], tmp_path: Path) -> None:
    config, cache = small_atlas
    result = CliRunner().invoke(main, ["-q", "build", str(config), "--site", str(tmp_path / "site"),
                                       "--cache", str(cache)])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert result.stdout.startswith("rendered 7, cached 0")
