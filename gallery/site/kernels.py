"""A first layer's kernel weights as pictures: what it multiplies the input's pixels by.

Each filter's kernel becomes one small tile, one pixel per weight, the input's channels as a person
sees them (gray for one, RGB for three); mid-gray is zero and full white or black the layer's
largest weight, so the tiles of one layer compare. Pages scale the tiles up with crisp pixels.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

from gallery.pixels import shown

GAP = 1  # background pixels between two tiles of a grid
BACKGROUND = 255


def kernel_tiles(kernel: np.ndarray) -> np.ndarray:
    """[rows, columns, channels, filters] weights -> uint8 [filters, rows, columns, 3] pictures."""
    largest = float(np.abs(kernel).max())
    scaled = 0.5 + 0.5 * kernel / largest if largest > 0 else np.full(kernel.shape, 0.5)
    pixels = np.round(255 * scaled).clip(0, 255).astype(np.uint8)
    return shown(np.moveaxis(pixels, -1, 0))


def kernel_grid(tiles: np.ndarray) -> np.ndarray:
    """The tiles in a roughly square grid, filter 0 top left, GAP background pixels between them."""
    count, rows, cols, _ = tiles.shape
    columns = math.ceil(math.sqrt(count))
    lines = math.ceil(count / columns)
    grid = np.full((lines * (rows + GAP) - GAP, columns * (cols + GAP) - GAP, 3), BACKGROUND, np.uint8)
    for index, tile in enumerate(tiles):
        top, left = divmod(index, columns)
        grid[top * (rows + GAP):top * (rows + GAP) + rows, left * (cols + GAP):left * (cols + GAP) + cols] = tile
    return grid


def write_kernels(kernel: np.ndarray, grid_path: Path, tile_folder: Path, filters: tuple[int, ...]) -> tuple[int, int]:
    """The layer's grid as `grid_path`, and each of `filters` alone as `tile_folder`/N.png; returns
    the grid's height and width."""
    tiles = kernel_tiles(kernel)
    grid = kernel_grid(tiles)
    grid_path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(grid_path, format="PNG", optimize=True)
    tile_folder.mkdir(parents=True, exist_ok=True)
    for index in filters:
        Image.fromarray(tiles[index]).save(tile_folder / f"{index}.png", format="PNG", optimize=True)
    return grid.shape[0], grid.shape[1]
