"""The base of every config record, and the value types every key is made of.

Unknown keys are errors, numbers must be finite, and numbers and flags are read strictly: YAML's
`true` is not a step count and `"200"` is not a number, so a mistake is reported instead of
guessed at. Kept apart from gallery.config so that the modules whose classes are config records
(the comparison kinds in gallery.comparisons) can share it without importing the whole schema.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

SLUG = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"  # a name that is also a file name and a URL path segment
NAME_LENGTH = 64  # a name is part of file names and URLs: short enough for any file system

Int = Annotated[int, Field(strict=True)]  # not a bool, not a string
Number = Annotated[float, Field(strict=True)]  # an int or a float (finite: see Strict), not a bool or a string
Flag = Annotated[bool, Field(strict=True)]  # true or false, not 1 or "yes"
Name = Annotated[str, StringConstraints(pattern=SLUG, max_length=NAME_LENGTH)]
Seed = Annotated[int, Field(strict=True, ge=0, lt=2**31)]  # every random generator takes it


class Strict(BaseModel):
    """Unknown keys are errors (a misspelt key is never silently ignored) and NaN or infinity is no number."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Problem(Exception):
    """A config value that does not fit what the rest of the config renders; `key` is relative to the
    record that raised it, and the plan turns it into a FILE:LINE error."""

    def __init__(self, key: tuple[str | int, ...], message: str):
        super().__init__(message)
        self.key = key
        self.message = message
