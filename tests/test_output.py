"""The site folder gallery owns: what it may replace, the swap, and what a killed build leaves."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gallery import output
from gallery.errors import GalleryError


def site(folder: Path, text: str) -> Path:
    """A site as an older gallery wrote it: a marker without the list of files."""
    folder.mkdir(parents=True)
    (folder / output.MARKER).write_text("Written by gallery 0.1.0: `gallery build` replaces this folder.\n")
    (folder / "index.html").write_text(text)
    return folder


def test_gallery_owns_absent_empty_and_marked_folders_only(tmp_path: Path) -> None:
    assert output.owned(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    assert output.owned(tmp_path / "empty")
    assert output.owned(site(tmp_path / "built", "x"))
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "thesis.tex").write_text("mine")
    assert not output.owned(tmp_path / "project")
    (tmp_path / "file.txt").write_text("mine")
    assert not output.owned(tmp_path / "file.txt")
    os.symlink(tmp_path / "built", tmp_path / "link")
    assert not output.owned(tmp_path / "link")  # a link to a site: replacing it would replace the link


@pytest.mark.parametrize("out, cache, says", [
    (".", "cache", "working directory"), ("..", "cache", "working directory"), ("project", "cache", "did not write"),
    ("file.txt", "cache", "a file"), ("file.txt/site", "cache", "file.txt: a file, not a folder"), ("site", "site/cache", "cache is inside"), ("cache/site", "cache", "inside the cache"),
    ("site", "file.txt", "file.txt: a file, not a cache folder"), ("site", "other", "inside the site .*other"),
    ("site", "other/cache", "inside the site .*other"),
    ("site", "file.txt/cache", "file.txt: a file, not a cache folder"),
])
def test_check_refuses_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, out: str, cache: str,
                                     says: str) -> None:
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "thesis.tex").write_text("mine")
    (tmp_path / "file.txt").write_text("mine")
    (tmp_path / "other").mkdir()  # another atlas's site
    output.mark(tmp_path / "other")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(GalleryError, match=says) as error:
        output.check(Path(out), Path(cache))
    assert "\n" not in str(error.value)
    assert (tmp_path / "project" / "thesis.tex").read_text() == "mine" and (tmp_path / "file.txt").read_text() == "mine"


def test_swap_replaces_the_site_whole_with_user_permissions(tmp_path: Path) -> None:
    out = site(tmp_path / "site", "old")
    new = output.staging(out)
    (new / output.MARKER).write_text("")
    (new / "index.html").write_text("new")
    umask = os.umask(0)
    os.umask(umask)
    assert new.stat().st_mode & 0o777 == 0o777 & ~umask  # not mkdtemp's 0700: a web server can read it
    output.swap_in(new, out)
    assert (out / "index.html").read_text() == "new" and not new.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["site"]


def test_recover_puts_back_a_site_a_kill_left_aside_and_removes_leftovers(tmp_path: Path) -> None:
    dead = 2**22 + 12345  # no process has this id (above the default pid_max)
    site(tmp_path / f".site.old-{dead}", "old")
    site(tmp_path / f".site.new-{dead}-abc", "half-written")
    site(tmp_path / f".site.new-{os.getpid()}-live", "another build's, still running")
    output.recover(tmp_path / "site")
    assert (tmp_path / "site" / "index.html").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".site.new-{os.getpid()}-live", "site"]


def test_the_lock_names_the_build_that_holds_it(tmp_path: Path) -> None:
    out = tmp_path / "site"
    with output.locked(out):
        assert (tmp_path / ".site.lock.pid").read_text() == str(os.getpid())
        with pytest.raises(GalleryError, match=f"another gallery build \\(process {os.getpid()}\\)"):
            with output.locked(out):
                pass
    assert not (tmp_path / ".site.lock.pid").exists()


def built(folder: Path, files: dict[str, str]) -> Path:
    """A site as a build writes it: its files, then the marker listing them."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    output.mark(folder)
    return folder


def test_a_rebuild_keeps_the_files_a_user_added_to_the_site(tmp_path: Path) -> None:
    out = built(tmp_path / "site", {"index.html": "old", "layers/conv.html": "old"})
    (out / "CNAME").write_text("atlas.example.org")
    (out / "notes").mkdir()
    (out / "notes" / "mine.txt").write_text("canary")
    os.symlink("CNAME", out / "alias")
    (out / "drafts").mkdir()  # an empty folder of the user's, and a named pipe
    os.mkfifo(out / "notes" / "pipe")
    mine = [Path("CNAME"), Path("alias"), Path("drafts"), Path("notes/mine.txt"), Path("notes/pipe")]
    assert output.added(out) == mine
    new = built(output.staging(out), {"index.html": "new"})
    output.swap_in(new, out)
    assert (out / "index.html").read_text() == "new" and not (out / "layers").exists()  # gallery's old page: gone
    assert (out / "CNAME").read_text() == "atlas.example.org" and (out / "notes" / "mine.txt").read_text() == "canary"
    assert os.readlink(out / "alias") == "CNAME" and (out / "drafts").is_dir() and (out / "notes" / "pipe").is_fifo()
    assert output.added(out) == mine  # still the user's
    output.swap_in(built(output.staging(out), {"index.html": "new", "drafts/index.html": "new"}), out)  # no clash
    assert (out / "drafts" / "index.html").read_text() == "new"


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "two-renames"])
def test_a_file_added_to_the_site_while_it_is_swapped_survives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               exchange: bool) -> None:
    out = built(tmp_path / "site", {"index.html": "old"})
    (out / "CNAME").write_text("atlas.example.org")
    real = output._exchange

    def racing(first: Path, second: Path) -> bool:
        (out / "notes").mkdir()  # written after the carry, before the swap
        (out / "notes" / "late.txt").write_text("canary")
        return real(first, second) if exchange else False

    monkeypatch.setattr(output, "_exchange", racing)
    output.swap_in(built(output.staging(out), {"index.html": "new"}), out)
    assert (out / "index.html").read_text() == "new" and (out / "notes" / "late.txt").read_text() == "canary"
    assert output.added(out) == [Path("CNAME"), Path("notes/late.txt")]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["site"]


def test_an_old_site_that_cannot_be_deleted_is_left_for_the_next_build_not_a_failure(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = built(tmp_path / "site", {"index.html": "old"})

    def refused(path: Path, ignore_errors: bool = False) -> None:  # a read-only folder of the user's in it
        if not ignore_errors:
            raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(output.shutil, "rmtree", refused)
    output.swap_in(built(output.staging(out), {"index.html": "new"}), out)
    assert (out / "index.html").read_text() == "new"
    [leftover] = [path for path in tmp_path.iterdir() if path.name != "site"]
    assert (leftover / "index.html").read_text() == "old"
    monkeypatch.undo()
    monkeypatch.setattr(output, "process_alive", lambda pid: False)  # the build that left it is gone
    output.recover(out)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["site"]


def test_a_user_file_where_the_new_build_writes_stops_the_swap_with_the_old_site_whole(tmp_path: Path) -> None:
    out = built(tmp_path / "site", {"index.html": "old"})
    (out / "about.html").write_text("mine")
    new = built(output.staging(out), {"index.html": "new", "about.html": "gallery's"})
    with pytest.raises(GalleryError, match="about.html: a file you added") as error:
        output.swap_in(new, out)
    assert "\n" not in str(error.value)
    assert (out / "index.html").read_text() == "old" and (out / "about.html").read_text() == "mine"
    (out / "about.html").unlink()
    (out / "sitemap.xml").mkdir()  # a folder of the user's where the new build writes a file
    (out / "sitemap.xml" / "notes.txt").write_text("mine")
    newer = built(output.staging(out), {"index.html": "new", "sitemap.xml": "gallery's"})
    with pytest.raises(GalleryError, match="notes.txt: a file you added"):
        output.swap_in(newer, out)
    assert (out / "sitemap.xml" / "notes.txt").read_text() == "mine"


def test_a_site_of_an_older_gallery_counts_every_file_as_its_own_and_a_users_marker_is_refused(
        tmp_path: Path) -> None:
    out = site(tmp_path / "site", "old")  # a marker with no list of files
    assert output.added(out) == []
    (out / output.MARKER).write_text("")  # `touch .gallery-site` over a built site with a user's CNAME
    (out / "CNAME").write_text("canary")
    with pytest.raises(GalleryError, match="not a marker gallery wrote") as error:
        output.check(out, tmp_path / "cache")
    assert "\n" not in str(error.value) and (out / "CNAME").read_text() == "canary"


def test_remove_written_leaves_the_users_files_and_a_marker_that_keeps_them(tmp_path: Path) -> None:
    out = built(tmp_path / "site", {"index.html": "x", "static/site.css": "x"})
    (out / "static" / "mine.css").write_text("canary")
    assert output.remove_written(out) == [Path("static/mine.css")]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [output.MARKER, "static",
                                                                             "static/mine.css"]
    assert output.owned(out) and output.added(out) == [Path("static/mine.css")]
    plain = built(tmp_path / "plain", {"index.html": "x"})
    assert output.remove_written(plain) == [] and not plain.exists()
