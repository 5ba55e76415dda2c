"""`gallery publish`: the site folder becomes the whole content of a branch (gh-pages) of a remote.

The commit is made with git plumbing (a temporary index, write-tree, commit-tree, push of the
commit), so the working tree, the index and the checked-out branch of the repository are never
touched: publishing works from a dirty checkout and leaves it exactly as it was. Each publish adds
one commit on top of the branch's previous tip, so the branch keeps the history of the atlas.
"""

from __future__ import annotations

import os
import re
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
    size: int = 0  # bytes of every file of the site
    new: int = 0  # bytes of the files the branch did not hold already (what the push sends, before compression)
    url: str | None = None  # where GitHub Pages will serve it, when the remote is on GitHub or a CNAME is set
    history: bool = True  # False: the branch is this one commit

    def line(self) -> str:
        where = f"; GitHub Pages serves it at {self.url}" if self.url else ""
        if self.commit == self.parent:
            return (f"{self.remote} {self.branch} already holds this site ({self.commit[:12]}): nothing to publish"
                    + where)
        if not self.history:
            how = ", as the branch's only commit"
        else:
            how = f", on top of {self.parent[:12]}" if self.parent else ", a new branch"
        return (f"published {self.files} files ({_megabytes(self.size)}, {_megabytes(self.new)} new) to {self.remote} "
                f"{self.branch}: {self.commit[:12]}{how}{where}")


def _megabytes(count: int) -> str:
    return f"{count / 1e6:.1f} MB"


DOMAIN = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+")


def pages_url(remote_url: str, cname: str | None) -> str | None:
    """The address GitHub Pages serves a branch of `remote_url` at: https://CNAME/, or
    https://OWNER.github.io/REPO/ (https://OWNER.github.io/ for the OWNER.github.io repository)."""
    if cname:
        return f"https://{cname}/"
    found = re.search(r"github\.com[:/]([^/]+)/([^/]+?)(?:\.git)?/?$", remote_url)
    if not found:
        return None
    owner, repository = found.groups()
    if repository.lower() == f"{owner.lower()}.github.io":
        return f"https://{owner}.github.io/"
    return f"https://{owner}.github.io/{repository}/"


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
            repo: Path = Path(), cname: str | None = None, history: bool = True) -> Published:
    """Commit every file under `site` as the tree of `branch` and push it to `remote` (a name, URL or path).

    `cname`: a custom domain, written as the branch's CNAME file. `history` False: the new commit has
    no parent and replaces the branch (a force push), so the branch never grows with old pictures.
    """
    if cname is not None and not DOMAIN.fullmatch(cname):
        raise GalleryError(f"--cname {cname!r}: not a domain name (e.g. atlas.example.org)")
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
        if cname is None and parent is not None and not (site / "CNAME").exists():
            cname = _published_cname(repo, parent)  # a custom domain set before stays set
        if cname is not None:  # the custom domain, beside the site's files but not among them
            blob = subprocess.run(["git", "--git-dir", git_dir, "hash-object", "-w", "--stdin"], input=cname + "\n",
                                  capture_output=True, text=True, check=True).stdout.strip()
            _git(*site_git, "update-index", "--add", "--cacheinfo", f"100644,{blob},CNAME", cwd=site, env=env)
        tree = _git(*site_git, "write-tree", cwd=site, env=env)
    listed = [line.split() for line in _git("ls-tree", "-r", "-l", tree, cwd=repo).splitlines()]
    size = sum(int(entry[3]) for entry in listed)
    known = set()
    if parent is not None:
        known = {line.split()[2] for line in _git("ls-tree", "-r", parent, cwd=repo).splitlines()}
    new = sum(int(entry[3]) for entry in listed if entry[2] not in known)
    url = pages_url(_remote_url(repo, remote), cname or _site_cname(site))
    if parent is not None and _git("rev-parse", f"{parent}^{{tree}}", cwd=repo) == tree and (
            history or not _git("rev-list", "--max-count=1", "--skip=1", parent, cwd=repo)):
        return Published(remote, branch, len(listed), parent, parent, size, 0, url, history)
    parents = ("-p", parent) if parent and history else ()
    commit = _git("commit-tree", tree, *parents, "-m", message or _default_message(repo), cwd=repo)
    force = () if history else ("--force",)
    _git("push", "--quiet", *force, "--", remote, f"{commit}:{ref}", cwd=repo)
    return Published(remote, branch, len(listed), commit, parent, size, new, url, history)


def _site_cname(site: Path) -> str | None:
    """The custom domain of a CNAME file the user put in the site folder, where it names one (GitHub
    Pages ignores any other content, so no address is claimed for it)."""
    try:
        words = (site / "CNAME").read_text(encoding="utf-8", errors="replace").split()
    except OSError:
        return None
    return words[0] if len(words) == 1 and DOMAIN.fullmatch(words[0]) else None


def _published_cname(repo: Path, commit: str) -> str | None:
    """The custom domain in the branch's CNAME file at `commit`, if it has one."""
    try:
        return _git("show", f"{commit}:CNAME", cwd=repo).strip() or None
    except GalleryError:
        return None


def _remote_url(repo: Path, remote: str) -> str:
    """A remote's URL (the remote itself when it is a URL or a path)."""
    found = subprocess.run(["git", "remote", "get-url", "--", remote], cwd=repo, capture_output=True, text=True,
                           check=False)
    return found.stdout.strip() if found.returncode == 0 else remote
