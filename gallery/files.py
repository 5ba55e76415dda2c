"""Atomic file writes: a crash or Ctrl-C mid-build must never leave a half-written file behind."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target` (same suffix); rename it over `target` on success."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=target.suffix)
    os.close(handle)
    temp_path = Path(temp)
    try:
        yield temp_path
        os.replace(temp_path, target)
    finally:
        temp_path.unlink(missing_ok=True)


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
