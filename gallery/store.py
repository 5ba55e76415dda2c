"""Content-addressed cache of rendered images and bundles of files, with their metadata.

Keys come from gallery.fingerprints; this module only keeps what is put under a key and gives it
back as a typed record (gallery.results). Every file is written atomically and the JSON document
last, so its presence marks a complete entry: a crash mid-write leaves nothing half-trusted.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image

from gallery import results
from gallery.files import write_bytes, write_json
from gallery.results import RenderMeta, Stored, StoredResult

Meta = TypeVar("Meta")


def png_bytes(image: np.ndarray) -> bytes:
    """PNG without timestamps or other varying chunks: the same pixels give the same bytes. Every
    channel is kept (1 gray, 2 gray and alpha, 3 RGB, 4 RGBA); of more, the first three (see pixels.shown)."""
    pixels = image[..., 0] if image.shape[-1] == 1 else image if image.shape[-1] <= 4 else image[..., :3]
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def _read_json(path: Path) -> object | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # a damaged entry is re-rendered, not trusted


class Store:
    def __init__(self, cache_dir: Path):
        self.root = cache_dir / "renders"

    def _paths(self, key: str) -> tuple[Path, Path]:
        folder = self.root / key[:2]
        return folder / f"{key}.png", folder / f"{key}.json"

    def get(self, key: str) -> StoredResult | None:
        png, meta_path = self._paths(key)
        if not (png.is_file() and meta_path.is_file()):
            return None
        meta = results.load(RenderMeta, _read_json(meta_path))
        return None if meta is None else StoredResult(key, png, meta)

    def put(self, key: str, image: np.ndarray, meta: RenderMeta) -> StoredResult:
        png, meta_path = self._paths(key)
        write_bytes(png, png_bytes(image))
        write_json(meta_path, results.dump(meta))  # written last: its presence marks a complete entry
        return StoredResult(key, png, meta)

    def get_bundle(self, key: str, kind: type[Meta]) -> Stored[Meta] | None:
        meta_path = self.root / key[:2] / key / "meta.json"
        if not meta_path.is_file():
            return None
        meta = results.load(kind, _read_json(meta_path))
        return None if meta is None else Stored(key, meta_path.parent, meta)

    def put_bundle(self, key: str, files: dict[str, bytes], meta: Meta) -> Stored[Meta]:
        folder = self.root / key[:2] / key
        for name, data in files.items():
            write_bytes(folder / name, data)
        write_json(folder / "meta.json", results.dump(meta))  # written last: its presence marks a complete entry
        return Stored(key, folder, meta)

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
