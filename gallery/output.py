"""The site folder is gallery's own: it writes one only where it may, and never leaves none behind.

- A site folder may be replaced only when it is absent, empty, or holds the marker file gallery
  writes into every site (`.gallery-site`). Anything else (a project, a thesis, the working
  directory) is refused with one line, and so are a cache or a config inside the site folder.
- One build per site folder at a time: a lock file beside it (the filelock package); a second build
  stops at once with one line naming the first one's process.
- The new site is written into a staging folder beside the old one, then swapped in with one atomic
  exchange (Linux's renameat2 RENAME_EXCHANGE), so a reader or a kill never meets a moment without a
  complete site. Where the exchange is not available the old site is renamed aside first, and a
  kill between the two renames is repaired by the next run, which puts the old site back.
- Every staging folder and temporary file carries its process id; the next run removes those of
  processes that are gone (a live one may be another build sharing the cache).
- The marker lists every file the build wrote. A file a user added to a built site since (a CNAME,
  notes, a model file) is not in that list: each build carries it into the new site (a hard link,
  or a copy across file systems) and `gallery clean` leaves it, so no build deletes what gallery did
  not write. A marker without the list counts every file as gallery's where gallery wrote it (a site
  of an older gallery), and is refused otherwise (an empty one a user made).

renameat2 is called through ctypes: no maintained package exposes it, and os.replace cannot swap.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import filelock

from gallery import __version__
from gallery.errors import GalleryError
from gallery.files import process_alive, umask

MARKER = ".gallery-site"
FILES_LINE = "files written by gallery:"  # the marker's line before its list of written files
OLDER_HEADER = "Written by gallery "  # how every marker starts, also those of sites before the list
HEADER = (f"Written by gallery {__version__}: `gallery build` replaces this folder and keeps any file you add "
          "(the files listed below are gallery's).")
RENAME_EXCHANGE = 2  # linux/fs.h
AT_FDCWD = -100


@dataclass(frozen=True)
class Naming:
    """How the user names the site and cache folders, so an error says what to change: `gallery build`'s
    options, or the Python API's arguments. Each is a format of the folder's name."""

    site: str
    cache: str


OPTIONS = Naming("--site {}", "--cache {}")
ARGUMENTS = Naming("out='{}'", "cache='{}'")


def owned(folder: Path) -> bool:
    """gallery may replace `folder`: it does not exist, is empty, or is a site gallery wrote."""
    if not folder.exists():
        return True
    return folder.is_dir() and not folder.is_symlink() and ((folder / MARKER).is_file() or not any(folder.iterdir()))


class SiteRefused(GalleryError):
    """The site folder itself is not one gallery may replace (the config's site.out names it, or --site)."""


def check(out: Path, cache: Path, config: Path | None = None, doing: str = "replaced",
          naming: Naming = OPTIONS) -> Path:
    """The site folder, resolved, if gallery may write it (`doing`: what would be done to it); else a
    one-line error saying why and how, in the `naming` the user gave the folders in."""
    new_site, new_cache = naming.site.format("site"), naming.cache.format(".gallery-cache")
    try:
        out, cache = out.resolve(), cache.resolve()
    except (RuntimeError, OSError) as exc:  # a symlink loop
        raise GalleryError(f"{out}: cannot use this folder ({exc})") from None
    where = Path.cwd().resolve()
    if out == where or out in where.parents:
        raise SiteRefused(f"{out}: the site folder would be the working directory (or a folder above it), so it "
                          f"is not {doing}: give a new folder, e.g. {new_site}")
    if out.exists() and not out.is_dir():
        raise SiteRefused(f"{out}: a file, not a site folder: give a new folder, e.g. {new_site}")
    above = next(folder for folder in out.parents if folder.exists())
    if not above.is_dir():
        raise SiteRefused(f"{above}: a file, not a folder, so no site folder can be made in it: give a new "
                          f"folder, e.g. {new_site}")
    if not owned(out):
        raise SiteRefused(f"{out}: this folder holds files gallery did not write (no {MARKER} in it), so it is "
                          f"not {doing}: give a new or empty folder, e.g. {new_site}")
    if cache == out or out in cache.parents:
        raise GalleryError(f"{cache}: the cache is inside the site folder {out}, which every build replaces: "
                           f"keep it outside (e.g. {new_cache})")
    if cache in out.parents:
        raise GalleryError(f"{out}: the site folder is inside the cache {cache}: keep them apart")
    existing = next(folder for folder in (cache, *cache.parents) if folder.exists())
    if not existing.is_dir():
        raise GalleryError(f"{existing}: a file, not a cache folder: give a folder (e.g. {new_cache})")
    site = next((folder for folder in (cache, *cache.parents) if (folder / MARKER).is_file()), None)
    if site is not None:  # another site's: its next build would carry the cache as files the user added
        raise GalleryError(f"{cache}: the cache would be inside the site {site}, which its builds replace: keep it "
                           f"outside every site (e.g. {new_cache})")
    if config is not None and out in config.resolve().parents:
        raise GalleryError(f"{config}: the config is inside the site folder {out}, which every build replaces: "
                           f"move it out, or build into another site folder (e.g. {new_site})")
    if (out / MARKER).is_file():
        added(out, naming)  # a marker gallery did not write: refused before anything is built
    return out


@contextlib.contextmanager
def locked(out: Path, naming: Naming = OPTIONS) -> Iterator[None]:
    """Hold the site folder's lock for a build; a second build stops with one line naming the holder."""
    out.parent.mkdir(parents=True, exist_ok=True)
    lock_path = out.parent / f".{out.name}.lock"
    holder = lock_path.with_name(f"{lock_path.name}.pid")
    lock = filelock.FileLock(lock_path, timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        owner = holder.read_text().strip() if holder.is_file() else "unknown"
        raise GalleryError(f"{out}: another gallery build (process {owner}) is writing this site: wait for it, "
                           f"or build into another site folder (e.g. {naming.site.format('site')})") from None
    try:
        holder.write_text(str(os.getpid()))
        recover(out)
        yield
    finally:
        holder.unlink(missing_ok=True)
        lock.release()


def _leftovers(out: Path) -> list[Path]:
    """Staging and retired folders of `out` whose process is gone: `.NAME.new-PID-*`, `.NAME.old-PID-*`."""
    found = []
    for kind in ("new", "old"):
        for path in out.parent.glob(f".{out.name}.{kind}-*"):
            pid = path.name.removeprefix(f".{out.name}.{kind}-").split("-")[0]
            if pid.isdigit() and not process_alive(int(pid)):
                found.append(path)
    return found


def recover(out: Path) -> None:
    """Undo what a killed build left: put a retired site back where a kill left no site, then remove
    the staging and retired folders of processes that are gone."""
    leftovers = _leftovers(out)
    retired = sorted((p for p in leftovers if ".old-" in p.name and (p / MARKER).is_file()),
                     key=lambda p: p.stat().st_mtime)
    if not out.exists() and retired:
        os.replace(retired[-1], out)
        leftovers.remove(retired[-1])
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)


def staging(out: Path) -> Path:
    """A new, empty folder beside `out` with the permissions of a folder the user makes (not mkdtemp's 0700)."""
    folder = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-{os.getpid()}-", dir=out.parent))
    folder.chmod(0o777 & ~umask())
    return folder


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one atomic step; False where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    if renameat2(AT_FDCWD, os.fsencode(first), AT_FDCWD, os.fsencode(second), RENAME_EXCHANGE) == 0:
        return True
    if ctypes.get_errno() in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), str(second))


def _files(site: Path) -> list[str]:
    """Every file in `site` but its marker (links and named pipes too) and every empty folder (a user's
    `drafts/` is theirs as much as a file), as sorted relative paths."""
    return sorted(relative for path in site.rglob("*")
                  if not path.is_dir() or path.is_symlink() or not any(path.iterdir())
                  if (relative := path.relative_to(site).as_posix()) != MARKER)


def mark(site: Path) -> None:
    """Write the marker into `site`: its header, then every file now in it (relative paths)."""
    (site / MARKER).write_text("\n".join([HEADER, FILES_LINE, *_files(site)]) + "\n", encoding="utf-8")


def added(site: Path, naming: Naming = OPTIONS) -> list[Path]:
    """The files in a site that gallery did not write (not in its marker's list), relative to it."""
    if not (site / MARKER).is_file():
        return []  # an empty folder, which gallery may take: nothing in it
    lines = (site / MARKER).read_text(encoding="utf-8", errors="replace").splitlines()
    if FILES_LINE not in lines:
        if lines and lines[0].startswith(OLDER_HEADER):
            return []  # a site of an older gallery: it wrote every file in it
        raise SiteRefused(f"{site / MARKER}: not a marker gallery wrote (it lists no files), so gallery cannot tell "
                          f"the files you added from its own: move yours out of {site}, or give a new folder "
                          f"(e.g. {naming.site.format('site')})")
    written = set(lines[lines.index(FILES_LINE) + 1:])
    return sorted(Path(relative) for relative in _files(site) if relative not in written)


def _carry(old: Path, new: Path, late: bool = False) -> None:
    """The files a user added to the old site, into the new one; one line where the new site has its own
    file at the same path (nothing is swapped then). `late`: after the swap, those added to the old
    site while it was swapped out, beside the ones already carried."""
    for relative in added(old):
        source, target = old / relative, new / relative
        clash = GalleryError(f"{old / relative}: a file you added to the site, where this build writes its own: "
                             "move it out of the site folder and build again")
        if source.is_dir() and not source.is_symlink() and (target.is_dir() or not target.exists()):
            target.mkdir(parents=True, exist_ok=True)  # a folder of yours, empty when it was listed
            continue
        if target.exists() or target.is_symlink():
            if late:
                continue  # carried before the swap
            raise clash
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):  # a folder of yours where the build writes a file
            if late:
                continue
            raise clash from None
        if source.is_symlink():
            os.symlink(os.readlink(source), target)
            continue
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)


def remove_written(site: Path) -> list[Path]:
    """Delete what gallery wrote in `site`, and the site itself where nothing else is in it; returns the
    files a user added, which stay (with a marker listing no file, so the next build keeps them too)."""
    kept = added(site)
    if not kept:
        shutil.rmtree(site)
        return kept
    keep = {site / relative for relative in kept}
    for path in sorted(site.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path in keep or any(parent in keep for parent in path.parents):
            continue
        if path.is_dir() and not path.is_symlink():
            with contextlib.suppress(OSError):
                path.rmdir()  # only where empty: a folder holding a kept file stays
        else:
            path.unlink()
    (site / MARKER).write_text(f"{HEADER}\n{FILES_LINE}\n", encoding="utf-8")
    return kept


def swap_in(new: Path, out: Path) -> None:
    """Put the complete site `new` where `out` is, atomically where the system allows, with the files a
    user added to the old one (also those added while the swap ran); remove the old one."""
    if not out.exists():
        os.replace(new, out)
        return
    _carry(out, new)
    if _exchange(new, out):
        retired = new  # now the old site
    else:
        retired = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, retired)
        os.replace(new, out)
    _carry(retired, out, late=True)
    # The new site is in place: a file of the old one that cannot be deleted (a read-only folder) is left
    # for the next build to try again (`recover`), not reported as a failed build.
    shutil.rmtree(retired, ignore_errors=True)
