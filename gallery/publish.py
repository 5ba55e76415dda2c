"""`gallery publish`: the site folder becomes the whole content of a branch (gh-pages) of a remote.

The commit is made with git plumbing (a temporary index, write-tree, commit-tree, push of the
commit), so the working tree, the index and the checked-out branch of the repository are never
touched: publishing works from a dirty checkout and leaves it exactly as it was. Each publish adds
one commit on top of the branch's previous tip, so the branch keeps the history of the atlas.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gallery import __version__
from gallery.errors import GalleryError
from gallery.output import MARKER


@dataclass(frozen=True)
class Published:
    remote: str
    branch: str
    files: int
    commit: str  # the branch's tip after publishing
    parent: str | None  # its tip before; equal to `commit` when the site had not changed

    def line(self) -> str:
        if self.commit == self.parent:
            return f"{self.remote} {self.branch} already holds this site ({self.commit[:12]}): nothing to publish"
        on_top = f", on top of {self.parent[:12]}" if self.parent else ", a new branch"
        return f"published {self.files} files to {self.remote} {self.branch}: {self.commit[:12]}{on_top}"


def _git(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines() or [f"exit status {result.returncode}"]
        rest = list(args)
        while rest[:1] in (["--git-dir"], ["--work-tree"]):
            rest = rest[2:]
        command = rest[0] if rest else "git"
        raise GalleryError(f"git {command} failed: {' / '.join(line.strip() for line in lines if line.strip())}")
    return result.stdout.strip()


def check_target(remote: str, branch: str, repo: Path) -> None:
    """A remote and a branch name git reads as a repository and a branch, never as an option or a pattern."""
    if not remote or remote.startswith("-") or any(ord(c) < 32 for c in remote):
        raise GalleryError(f"--remote {remote!r}: not a remote name, URL or path")
    valid = subprocess.run(["git", "check-ref-format", "--branch", branch], cwd=repo, capture_output=True,
                           check=False)
    if branch.startswith("-") or valid.returncode != 0 or any(c in branch for c in "*?[\\"):
        raise GalleryError(f"--branch {branch!r}: not a valid branch name")


def _remote_tip(repo: Path, remote: str, ref: str) -> str | None:
    """The branch's current commit on the remote, fetched so a new commit can name it as parent.

    ls-remote matches every ref whose tail is `ref`'s; only the exact ref counts.
    """
    listed = _git("ls-remote", "--", remote, ref, cwd=repo)
    tips = [line.split()[0] for line in listed.splitlines() if line.split()[1:] == [ref]]
    if not tips:
        return None
    tip = tips[0]
    known = subprocess.run(["git", "cat-file", "-e", f"{tip}^{{commit}}"], cwd=repo, capture_output=True, check=False)
    if known.returncode:
        _git("fetch", "--no-tags", "--no-write-fetch-head", "--", remote, ref, cwd=repo)
    return tip


def _default_message(repo: Path) -> str:
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=repo, capture_output=True, text=True,
                          check=False)
    source = f" from {head.stdout.strip()}" if head.returncode == 0 else ""
    return f"Publish the atlas{source} (gallery {__version__})"


def publish(site: Path, remote: str = "origin", branch: str = "gh-pages", message: str | None = None,
            repo: Path = Path()) -> Published:
    """Commit every file under `site` as the tree of `branch` and push it to `remote` (a name, URL or path)."""
    site = site.resolve()
    if not (site / "index.html").is_file():
        raise GalleryError(f"{site}: no index.html; run `gallery build CONFIG` first")
    if not (site / MARKER).is_file():
        raise GalleryError(f"{site}: not a site gallery built (no {MARKER} in it), so it is not published: "
                           "give --site the folder `gallery build` wrote")
    check_target(remote, branch, repo)
    try:
        git_dir = _git("rev-parse", "--absolute-git-dir", cwd=repo)
    except GalleryError:
        raise GalleryError(f"{repo.resolve()}: not inside a git repository; run `gallery publish` in the "
                           "repository whose remote should get the site") from None
    ref = f"refs/heads/{branch}"
    parent = _remote_tip(repo, remote, ref)
    with tempfile.TemporaryDirectory(prefix="gallery-publish-") as temp:
        # A fresh index of the site folder alone: the repository's own index is never read or written.
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(temp) / "index")}
        site_git = ("--git-dir", git_dir, "--work-tree", str(site))
        _git(*site_git, "add", "--all", "--force", ".", cwd=site, env=env)  # --force: ignore rules do not apply
        tree = _git(*site_git, "write-tree", cwd=site, env=env)
    files = len(_git("ls-tree", "-r", "--name-only", tree, cwd=repo).splitlines())
    if parent is not None and _git("rev-parse", f"{parent}^{{tree}}", cwd=repo) == tree:
        return Published(remote, branch, files, parent, parent)
    parents = ("-p", parent) if parent else ()
    commit = _git("commit-tree", tree, *parents, "-m", message or _default_message(repo), cwd=repo)
    _git("push", "--quiet", "--", remote, f"{commit}:{ref}", cwd=repo)
    return Published(remote, branch, files, commit, parent)
