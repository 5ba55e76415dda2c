"""Progress: one bar per build stage (training, rendering, dataset examples, feature maps,
attribution, sanity checks, pages) and the few lines a build says on the way, all on stderr.

tqdm.auto draws a terminal bar or, in Jupyter, one widget where ipywidgets is installed (the
`notebook` extra); without it, tqdm.auto would warn "IProgress not found" on every bar, so text bars
are drawn then. `--quiet` (`quiet(True)`) turns bars and lines off; errors and the summary still show.
No TensorFlow here: the site writer reports its pages through it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from collections.abc import Iterator

if importlib.util.find_spec("ipywidgets") is not None:
    from tqdm.auto import tqdm
else:
    from tqdm import tqdm

_quiet = [False]  # one switch per process, set by the command line


def quiet(enabled: bool) -> None:
    _quiet[0] = enabled


def bar(total: int | None, description: str, unit: str) -> tqdm:
    """A bar with count, rate and ETA (`total` None: a count without ETA); silent when there is
    nothing to do or when quiet. Large totals read 12.3k rather than 12300."""
    return tqdm(total=total, desc=description, unit=unit, unit_scale=(total or 0) >= 10_000, dynamic_ncols=True,
                leave=True, disable=_quiet[0] or total == 0)


@contextlib.contextmanager
def aside() -> Iterator[None]:
    """What a library prints on stdout (Keras's download lines) goes to stderr, or nowhere when quiet:
    a command's stdout holds its result only."""
    with open(os.devnull, "w") if _quiet[0] else contextlib.nullcontext(sys.stderr) as target, \
            contextlib.redirect_stdout(target):
        yield


def say(message: str) -> None:
    """A line about what the build decided (a layer it chose), unless quiet."""
    if not _quiet[0]:
        print(message, file=sys.stderr)
