"""gallery.site.kernels: kernel weights as pictures, zero at mid-gray, the layer's largest weight at white."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from gallery.site.kernels import BACKGROUND, GAP, kernel_grid, kernel_tiles, write_kernels


def test_tiles_put_zero_at_mid_gray_and_the_largest_weight_at_the_ends() -> None:
    kernel = np.zeros((3, 3, 1, 2))
    kernel[0, 0, 0, 0], kernel[2, 2, 0, 1], kernel[1, 1, 0, 1] = 0.5, -0.5, 0.25
    tiles = kernel_tiles(kernel)
    assert tiles.shape == (2, 3, 3, 3) and tiles.dtype == np.uint8
    assert (tiles[..., 0] == tiles[..., 1]).all() and (tiles[..., 1] == tiles[..., 2]).all()  # gray
    assert tiles[0, 0, 0, 0] == 255 and tiles[1, 2, 2, 0] == 0 and tiles[1, 1, 1, 0] == round(255 * 0.75)
    assert tiles[0, 1, 1, 0] == 128  # zero


def test_rgb_kernels_keep_their_channels_and_extra_channels_are_dropped() -> None:
    kernel = np.zeros((1, 1, 4, 1))
    kernel[0, 0, :, 0] = [1.0, -1.0, 0.0, 2.0]  # the 4th channel sets the scale but is not shown
    assert kernel_tiles(kernel)[0, 0, 0].tolist() == [191, 64, 128]


def test_an_all_zero_kernel_is_mid_gray_not_nan() -> None:
    assert (kernel_tiles(np.zeros((2, 2, 3, 1))) == 128).all()


def test_grid_is_roughly_square_with_background_gaps(tmp_path: Path) -> None:
    kernel = np.random.default_rng(0).normal(size=(3, 3, 1, 10))
    tiles = kernel_tiles(kernel)
    grid = kernel_grid(tiles)
    assert grid.shape == (3 * 3 + 2 * GAP, 4 * 3 + 3 * GAP, 3)  # 10 tiles: 4 per row, 3 rows
    np.testing.assert_array_equal(grid[4:7, 4:7], tiles[5])  # row 1, column 1
    assert (grid[3] == BACKGROUND).all()  # the gap under row 0
    last_row = grid[2 * (3 + GAP):, 2 * (3 + GAP):]  # tiles 10 and 11 do not exist
    assert last_row.shape == (3, 7, 3) and (last_row == BACKGROUND).all()

    shape = write_kernels(kernel, tmp_path / "kernels.png", tmp_path / "kernels", (7, 2))
    assert shape == grid.shape[:2]
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "kernels.png")), grid)
    assert sorted(p.name for p in (tmp_path / "kernels").iterdir()) == ["2.png", "7.png"]
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "kernels" / "7.png")), tiles[7])
