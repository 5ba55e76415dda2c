"""Shared fixtures: one real build of configs/mnist.yaml (offline digits) that many tests inspect."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

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
        from gallery import build

        self.root = root
        self.config = offline_copy(REPO / "configs" / "mnist.yaml", root)
        self.cache = root / "cache"
        self.site = root / "site"
        self.first = build.run(self.config, self.site, self.cache)
        self.first_pngs = {p.relative_to(self.site): p.read_bytes() for p in self.site.rglob("*.png")}


@pytest.fixture(scope="session")
def mnist_atlas(tmp_path_factory: pytest.TempPathFactory) -> MnistAtlas:
    return MnistAtlas(tmp_path_factory.mktemp("mnist"))
