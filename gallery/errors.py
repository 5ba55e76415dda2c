"""One error type for everything a user can fix, so the CLI prints one line instead of a traceback."""

from __future__ import annotations


class GalleryError(Exception):
    """A problem with the user's input (config, files, data), reported as one line."""
