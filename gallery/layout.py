"""Where the templates are and how big a picture is drawn: shared by the site, figures and reports.

Kept apart from site.py, which imports the plan (and through it TensorFlow): `gallery report` and
`gallery figure` read a built site and should start in a second.
"""

from __future__ import annotations

from pathlib import Path


def templates_dir() -> Path:
    """Inside an installed wheel the templates sit in the package; in a checkout, beside it."""
    packaged = Path(__file__).parent / "templates"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "templates"


def display_size(shape: tuple[int, int], target: int, panels: int = 1) -> tuple[int, int]:
    """Small inputs scale up by a whole factor (crisp nearest-neighbour pixels); large ones down.

    `shape` is one panel's; a strip of `panels` side by side (a diversity setting) keeps each panel
    at the size a single image would get.
    """
    height, width = shape
    scale = max(1, target // max(height, width)) if max(height, width) <= target else target / max(height, width)
    return round(width * panels * scale), round(height * scale)
