"""A check's errors: every problem once, each on its own line."""

from __future__ import annotations

import pytest

from gallery.errors import GalleryError, Problems


def test_a_problem_found_twice_is_said_once() -> None:
    """A folder that feature maps and attribution both read is checked twice; its bad file is one line."""
    problems = Problems()
    for message in ("a.yaml:8: images.folder: x.npy: a .npy image of shape [4]", "a.yaml:2: models[0]: missing",
                    "a.yaml:8: images.folder: x.npy: a .npy image of shape [4]"):
        problems.add(GalleryError(message))
    with pytest.raises(GalleryError) as raised:
        problems.raise_any()
    assert str(raised.value).splitlines() == ["a.yaml:8: images.folder: x.npy: a .npy image of shape [4]",
                                              "a.yaml:2: models[0]: missing"]
