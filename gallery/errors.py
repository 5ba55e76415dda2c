"""One error type for everything a user can fix, so the CLI prints one line instead of a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class GalleryError(Exception):
    """A problem with the user's input (config, files, data), reported as one line (several
    problems found by one check: one line each)."""


class Problems:
    """A check's errors gathered, so a user with two typos sees both at once, not one per run."""

    def __init__(self) -> None:
        self.errors: list[GalleryError] = []

    def add(self, error: GalleryError) -> None:
        """`error`, unless the same line is there already (a folder two sections read is checked twice)."""
        if all(str(error) != str(known) for known in self.errors):
            self.errors.append(error)

    def raise_any(self) -> None:
        if self.errors:
            raise GalleryError("\n".join(str(error) for error in self.errors))


def suggest(name: str, known: Iterable[str], otherwise: str = "") -> str:
    """` (did you mean 'X'?)` for the closest known name, else `otherwise`: the one did-you-mean of every message."""
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1)
    return f" (did you mean '{close[0]}'?)" if close else otherwise


def unknown(kind: str, name: str, known: Iterable[str]) -> str:
    """`no KIND 'NAME'` with the closest known name, or the known names when none is close."""
    known = list(known)
    return f"no {kind} '{name}'" + suggest(name, known, f" (known: {', '.join(map(str, known)) or 'none'})")
