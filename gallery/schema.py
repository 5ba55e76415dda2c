"""The base of every config record: unknown keys are errors, and records are frozen values.

Kept apart from gallery.config so that the modules whose classes are config records (the
comparison kinds in gallery.comparisons) can share it without importing the whole schema.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

SLUG = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"  # a name that is also a file name and a URL path segment


class Strict(BaseModel):
    """Unknown keys are errors: a misspelt key must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Problem(Exception):
    """A config value that does not fit what the rest of the config renders; `key` is relative to the
    record that raised it, and the plan turns it into a FILE:LINE error."""

    def __init__(self, key: tuple[str | int, ...], message: str):
        super().__init__(message)
        self.key = key
        self.message = message
