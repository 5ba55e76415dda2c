"""Atomic file writes: a crash or Ctrl-C mid-build must never leave a half-written file behind.

Each temporary file is named `.STEM.PID.RANDOM.SUFFIX` beside its target, so a later run can tell
the leftovers of a killed process (`remove_leftovers`) from the files another live build is writing.
A file outside the site (a figure, a report) is replaced only where gallery wrote it: it carries
gallery's name where its format keeps a writer's name (`ours`).
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gallery.errors import GalleryError

LEFTOVER = re.compile(r"^\.[^/]*?\.(\d+)\.[A-Za-z0-9_]+\..+$")  # .STEM.PID.RANDOM.SUFFIX


def umask() -> int:
    """The process's file-creation mask (reading it means setting it: it is set back at once)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


VERSIONED = rb"gallery \d+\.\d+\.\d+"  # gallery's name as its outputs record it: "gallery 0.1.0"


def ours(path: Path, mark: bytes) -> None:
    """Refuse to replace `path` unless it is absent or gallery wrote it: `mark` (a regular expression of
    bytes: gallery's name where the format records a writer, PNG Software, SVG creator, HTML
    generator) is in its first 64 KB."""
    if path.is_symlink() or path.exists() and (not path.is_file() or not re.search(mark, path.read_bytes()[:65536])):
        raise GalleryError(f"{path}: a file gallery did not write, so it is not replaced: give -o another name")


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target` (same suffix); rename it over `target` on success."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.{os.getpid()}.", suffix=target.suffix)
    os.close(handle)
    temp_path = Path(temp)
    temp_path.chmod(0o666 & ~umask())  # what a file the user makes gets, not mkstemp's 0600
    try:
        yield temp_path
        os.replace(temp_path, target)
    finally:
        temp_path.unlink(missing_ok=True)


def remove_leftovers(folder: Path) -> int:
    """Delete the temporary files under `folder` of processes that are gone; returns how many."""
    removed = 0
    for path in folder.rglob(".*") if folder.is_dir() else ():
        match = LEFTOVER.match(path.name)
        if match and path.is_file() and not process_alive(int(match.group(1))):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


Output = str | os.PathLike[str] | None  # where a command writes; a str ending in / names a folder


def output_path(out: Output, default: str) -> Path:
    """Where a command's file goes: `out`, or the `default` name inside it where it is a folder or ends
    in / (made when the file is written, so a command that fails first leaves no folder behind), or the
    `default` name here where there is no `out`."""
    if out is None:
        return Path(default)
    folder = isinstance(out, str) and out.endswith(("/", os.sep)) or Path(out).is_dir()
    return Path(out) / default if folder else Path(out)


def write_bytes(target: Path, data: bytes) -> None:
    with atomic_path(target) as temp:
        temp.write_bytes(data)


def finite(value: Any) -> Any:
    """`value` with every NaN or infinity replaced by None: JSON has no such numbers, and a strict
    parser rejects the bare `NaN` that Python's json module writes."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value


def json_text(value: Any, sort_keys: bool = True) -> str:
    """Strict JSON (non-finite numbers as null), indented for people who read it."""
    return json.dumps(finite(value), indent=1, sort_keys=sort_keys, allow_nan=False)


def write_json(target: Path, value: Any) -> None:
    write_bytes(target, json_text(value).encode())
