"""Content-addressed cache of rendered images and their metadata.

A result's key hashes everything that determines its pixels: the model's weights, the layer, the
filter, the setting's parameters and the engine version. Names that do not change pixels (a
setting's name or note) stay out of the key, so renaming a setting re-renders nothing, and
changing one setting re-renders only that setting's images.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from gallery.files import write_bytes, write_json
from gallery.renderers import ENGINE_VERSION

if TYPE_CHECKING:  # at run time these would import TensorFlow, which `gallery clean` does not need
    from gallery.plan import RenderJob
    from gallery.renderers.activation_max import Rendered


@dataclass(frozen=True)
class Bundle:
    """A stored set of files for one page (feature maps or attribution of one image), with its metadata."""

    key: str
    folder: Path
    meta: dict[str, Any]


@dataclass(frozen=True)
class StoredResult:
    key: str
    png: Path
    meta: dict[str, Any]


def png_bytes(image: np.ndarray) -> bytes:
    """PNG without timestamps or other varying chunks: the same pixels give the same bytes."""
    pixels = image[..., 0] if image.shape[-1] == 1 else image
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


class Store:
    def __init__(self, cache_dir: Path):
        self.root = cache_dir / "renders"

    def key(self, job: RenderJob, weights_hash: str, input_range: tuple[float, float], start: str | None = None) -> str:
        """`start`: the key of the result this render starts from, so a changed first pass re-renders the second."""
        identity = {
            "engine": ENGINE_VERSION,
            "weights": weights_hash,
            "layer": job.layer,
            "filter": job.filter,
            "objective": job.objective,
            "linearized": job.linearized,
            "setting": job.setting.model_dump(exclude={"note", "input_range", "start_from"}),
            "input_range": list(input_range),
            "start": start,
        }
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]

    def _paths(self, key: str) -> tuple[Path, Path]:
        folder = self.root / key[:2]
        return folder / f"{key}.png", folder / f"{key}.json"

    def get(self, key: str) -> StoredResult | None:
        png, meta = self._paths(key)
        if not (png.is_file() and meta.is_file()):
            return None
        try:
            return StoredResult(key, png, json.loads(meta.read_text()))
        except json.JSONDecodeError:
            return None  # a damaged entry is re-rendered, not trusted

    def put(self, key: str, rendered: Rendered) -> StoredResult:
        png, meta_path = self._paths(key)
        height, width = rendered.image.shape[:2]
        meta = {"activation": rendered.activation, "losses": rendered.losses, "seconds": rendered.seconds,
                "status": rendered.status, "retried_because": rendered.retried_because,
                "width": int(width), "height": int(height)}
        write_bytes(png, png_bytes(rendered.image))
        write_json(meta_path, meta)  # written last: its presence marks a complete entry
        return StoredResult(key, png, meta)

    def bundle_key(self, identity: dict[str, Any]) -> str:
        """Key for a bundle: `identity` holds the weights hash, the image's content hash, the parameters
        and the renderer's version."""
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]

    def get_bundle(self, key: str) -> Bundle | None:
        meta = self.root / key[:2] / key / "meta.json"
        if not meta.is_file():
            return None
        try:
            return Bundle(key, meta.parent, json.loads(meta.read_text()))
        except json.JSONDecodeError:
            return None  # a damaged entry is re-rendered, not trusted

    def put_bundle(self, key: str, files: dict[str, bytes], meta: dict[str, Any]) -> Bundle:
        folder = self.root / key[:2] / key
        for name, data in files.items():
            write_bytes(folder / name, data)
        write_json(folder / "meta.json", meta)  # written last: its presence marks a complete entry
        return Bundle(key, folder, meta)

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
