"""Shared fixtures: one real build of configs/mnist.yaml (offline digits) that many tests inspect."""

from __future__ import annotations

import json
import os
import random
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import keras
import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

from gallery import build, datasets
from gallery.cli import main
from gallery.models import builtins

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parents[1]


def offline_copy(source: Path, folder: Path, **changes: object) -> Path:
    """configs/*.yaml with every builtin model forced onto the bundled offline digits."""
    data = yaml.safe_load(source.read_text())
    for model in data["models"]:
        if model.get("source") == "builtin":
            model["data"] = {"source": "bundled"}
    for name, image in data.get("images", {}).items():  # the copy lives elsewhere: pin relative image paths
        if not image.startswith("sample:"):
            data["images"][name] = str(source.parent / image)
    data.update(changes)
    target = folder / source.name
    target.write_text(yaml.safe_dump(data, sort_keys=False))
    return target


class MnistAtlas:
    """The MNIST atlas built once per session, with its config, cache and site folders."""

    def __init__(self, root: Path):
        self.root = root
        self.config = offline_copy(REPO / "configs" / "mnist.yaml", root)
        self.cache = root / "cache"
        self.site = root / "site"
        self.first = build.run(self.config, self.site, self.cache)
        self.first_pngs = {p.relative_to(self.site): p.read_bytes() for p in self.site.rglob("*.png")}


@pytest.fixture(scope="session")
def mnist_atlas(tmp_path_factory: pytest.TempPathFactory) -> MnistAtlas:
    return MnistAtlas(tmp_path_factory.mktemp("mnist"))


CHANNELS = 4  # filters rendered on conv2d_1


UNITS = 3  # units rendered on preds


def brightness(index: int) -> int:
    """Filter k's fake picture is one flat gray, brighter with k, so a picture shows where it came from."""
    return 40 + 50 * index


def png(site: Path, relative: str, shape: tuple[int, ...], value: int = 128) -> str:
    path = site / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(shape, value, np.uint8)).save(path)
    return relative


def item(site: Path, layer: str, objective: str, index: int, caption: str, setting: str,
         shape: tuple[int, ...] = (28, 28)) -> dict[str, Any]:
    image = png(site, f"mnist/{layer}/img/{index}-{setting}.png", shape, brightness(index))
    return {"model": "mnist", "layer": layer, "objective": objective, "filter": index, "caption": caption,
            "setting": setting, "page": f"mnist/{layer}/filter-{index}.html", "image": image, "thumbnail": image,
            "parameters": {"steps": 64, "tv_weight": 0.001, "seed": None}, "activation": 2.0 + index,
            "reference": 1.0, "ratio": 2.0 + index, "flags": [],
            "status": "rising" if index == 1 else "converged"}


def model(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "description": "The report's MNIST CNN", "data_source": "bundled digits",
            "test_accuracy": 0.972, "params": 1_199_882, "page": f"{model_id}/index.html",
            "layers": [{"name": "input", "type": "InputLayer", "output_shape": "(None, 28, 28, 1)", "params": 0,
                        "units": None},
                       {"name": "conv2d_1", "type": "Conv2D", "output_shape": "(None, 26, 26, 32)", "params": 320,
                        "units": 32},
                       {"name": "dense_1", "type": "Dense", "output_shape": "(None, 128)", "params": 1_179_776,
                        "units": 128},
                       {"name": "preds", "type": "Dense", "output_shape": "(None, 10)", "params": 1_290, "units": 10}]}


def fake_site(site: Path, base_url: str = "", models: tuple[str, ...] = ("mnist",)) -> Path:
    """conv2d_1: 4 channels under "default" and "diversity" (wide strips); preds: 3 named units;
    one feature view (its first grid wider than a report shows) and one attribution view with an empty cell."""
    items = [item(site, "conv2d_1", "channel", f, str(f), "default") for f in range(CHANNELS)]
    items += [item(site, "conv2d_1", "channel", f, str(f), "diversity", (28, 140)) for f in range(CHANNELS)]
    items += [item(site, "preds", "unit", u, f"{u} digit {u}", "default", (28, 28, 3)) for u in range(UNITS)]
    random.Random(0).shuffle(items)  # a build may list a layer's pictures in any order
    feature_layers = [{"name": name, "channels": 32, "dead": dead, "dead_share": dead / 32,
                       "grid": png(site, f"mnist/features/digit7/{n}.png", shape)}
                      for n, (name, dead, shape) in enumerate([("conv2d_1", 0, (200, 1000, 3)),
                                                               ("conv2d_2", 3, (100, 100, 3)),
                                                               ("dense_1", 8, (40, 100, 3))])]
    attribution = "mnist/attribution/digit7"
    classes = [{"index": index, "caption": f"digit {index}", "probability": probability,
                "cells": {method: {"overlay": png(site, f"{attribution}/{method}-{index}.png", (28, 28, 3)),
                                   "gray": f"{attribution}/{method}-{index}.gray.png",
                                   "raw": f"{attribution}/{method}-{index}.npy",
                                   "empty": (method, index) == ("gradcam", 1)}
                          for method in ("saliency", "gradcam")}}
               for index, probability in [(7, 0.99), (1, 0.004)]]
    atlas = {
        "title": "MNIST atlas", "generator": "gallery 0.1.0", "base_url": base_url,
        "models": [model(model_id) for model_id in models],
        "items": items,
        "views": [{"kind": "features", "model": "mnist", "image": "digit7", "page": "mnist/features/digit7.html",
                   "input": png(site, "mnist/features/digit7/input.png", (28, 28)), "layers": feature_layers},
                  {"kind": "attribution", "model": "mnist", "image": "digit7", "page": "mnist/attribution/digit7.html",
                   "input": png(site, f"{attribution}/input.png", (28, 28)), "target_layer": "conv2d_2",
                   "methods": ["saliency", "gradcam"], "classes": classes}],
        "comparisons": [{"id": "mnist/conv2d_1/compare", "kind": "settings", "title": "conv2d_1 settings",
                         "page": "mnist/conv2d_1/compare.html", "models": ["mnist"],
                         "columns": [{"label": f"Filter {f}", "span": 1} for f in range(CHANNELS)],
                         "rows": [{"label": name, "cells": [{"image": f"mnist/conv2d_1/img/{f}-{name}.png",
                                                             "caption": f"Filter {f}"} for f in range(CHANNELS)]}
                                  for name in ("default", "diversity")]}],
    }
    (site / "atlas.json").write_text(json.dumps(atlas, indent=1), encoding="utf-8")
    return site


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    return fake_site(tmp_path / "site")


class Page(HTMLParser):
    """Every start tag with its attributes, and the text of the whole page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all(self, tag: str, **equal: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in equal.items())]


def write_config(folder: Path, model_lines: str, layer: str, filters: str = "[0]") -> Path:
    path = folder / "atlas.yaml"
    path.write_text(f"""\
models:
  - id: net
{model_lines}
settings:
  default: {{steps: 3}}
activation_max:
  - model: net
    layer: {layer}
    filters: {filters}
""")
    return path


def one_line_error(path: Path, command: str = "validate") -> str:
    result = CliRunner().invoke(main, [command, str(path)])
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    return result.output.strip()


def make_image_folder(root: Path, per_class: int = 6, corrupt: bool = False) -> Path:
    rng = np.random.default_rng(0)
    for split in datasets.SPLITS:
        for label, name in enumerate(builtins.CATSDOGS_CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)
                pixels[..., label * 2] = 255  # cats red, dogs blue: learnable
                Image.fromarray(pixels).save(folder / f"{name}.{i}.jpg")
    if corrupt:
        (root / "train" / "cats" / "cat.broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
        good = (root / "train" / "dogs" / "dogs.0.jpg").read_bytes()
        (root / "train" / "dogs" / "dog.truncated.jpg").write_bytes(good[: len(good) // 2])
    return root


def tiny_conv(activation: str | None = None) -> keras.Model:
    keras.utils.set_random_seed(4)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Conv2D(6, 3, padding="same", activation=activation, name="conv2")(x)
    outputs = keras.layers.Dense(3, name="out")(keras.layers.Flatten()(x))
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def vgg16() -> keras.Model:
    keras.utils.set_random_seed(5)
    return keras.applications.VGG16(weights=None, include_top=False, input_shape=(64, 64, 3))


class Elements(HTMLParser):
    """Every start tag of a page with its attributes, in document order."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def all(self, tag: str, *present: str, **equal: str) -> list[dict[str, str | None]]:
        """Tags named `tag` that have every attribute in `present` and the values in `equal`."""
        return [a for t, a in self.tags
                if t == tag and all(k in a for k in present) and all(a.get(k) == v for k, v in equal.items())]


def elements(page: Path) -> Elements:
    return Elements(page.read_text(encoding="utf-8"))


def file_model_atlas(folder: Path, channels: int, size: int, steps: int = 2) -> Path:
    """A one-conv-layer model saved to a file, every channel rendered in a few steps; returns the site."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((size, size, 3))
    outputs = keras.layers.Conv2D(channels, 3, activation="relu", name="conv")(inputs)
    keras.Model(inputs, outputs).save(folder / "conv.keras")
    config = folder / "atlas.yaml"
    config.write_text(yaml.safe_dump({
        "site": {"title": "file model"},
        "models": [{"id": "net", "source": "file", "path": "conv.keras"}],
        "settings": {"quick": {"steps": steps}},
        "activation_max": [{"model": "net", "layer": "conv", "settings": ["quick"]}],
    }))
    build.run(config, folder / "site", folder / "cache")
    return folder / "site"


class PageParser(HTMLParser):
    """A page's links (a, link, img) and its images' attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.images: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in ("a", "link") and values.get("href"):
            self.links.append(values["href"] or "")
        if tag == "img":
            self.images.append(values)
            self.links.append(values.get("src") or "")


def broken_links(site: Path) -> list[str]:
    """Every link of every page that is not relative or leads nowhere, and every image without alt
    text or a size: what a reader of the site would meet as broken."""
    problems = []
    for page in site.rglob("*.html"):
        parser = PageParser()
        text = page.read_text(encoding="utf-8")
        parser.feed(text)
        for link in parser.links:
            url = urlparse(link)
            if url.scheme or url.netloc or link.startswith("/"):
                problems.append(f"{page}: non-relative {link}")
            elif not url.path:  # a place on this page: it must be there
                if f'id="{url.fragment}"' not in text:
                    problems.append(f"{page}: no element {link}")
            elif not (page.parent / unquote(url.path)).resolve().is_file():
                problems.append(f"{page}: broken link {link}")
        problems += [f"{page}: {image}" for image in parser.images
                     if not (image.get("alt") and image.get("width") and image.get("height"))]
    return problems
