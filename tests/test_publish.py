"""Publishing and previewing: `gallery publish` pushes the site as a branch without touching the
checkout; `gallery serve` serves it like GitHub Pages."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import REPO

from gallery import __version__, serve
from gallery.cli import main

SITE_FILES = {
    ".gallery-site": "",
    ".nojekyll": "",
    "index.html": "<title>atlas</title>",
    "404.html": "<h1>Not found</h1>",
    "atlas.json": '{"items": []}',
    "static/style.css": "body {}",
    "mnist/preds/index.html": "<h1>preds</h1>",
    "mnist/preds/img/3-clear.png": "png bytes",
}


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def write_site(site: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(text)


def checkout_state(repo: Path) -> dict[str, str]:
    """Everything publishing must leave alone: HEAD, branches, status, both diffs, the index file."""
    return {
        "head": git("rev-parse", "HEAD", cwd=repo),
        "branches": git("branch", "--list", cwd=repo),
        "status": git("status", "--porcelain", "--ignored", cwd=repo),
        "unstaged": git("diff", cwd=repo),
        "staged": git("diff", "--cached", cwd=repo),
        "index": (repo / ".git" / "index").read_bytes().hex(),
    }


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout with origin = a local bare repository, a dirty working tree, a staged change and
    an ignored site/ holding a built site; the current directory."""
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Tester")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "tester@example.org")
    git("init", "--quiet", "--bare", "remote.git", cwd=tmp_path)
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    git("init", "--quiet", cwd=checkout)
    (checkout / ".gitignore").write_text("site/\n*.png\n")
    (checkout / "notes.txt").write_text("one\n")
    git("add", ".", cwd=checkout)
    git("commit", "--quiet", "-m", "start", cwd=checkout)
    git("remote", "add", "origin", str(tmp_path / "remote.git"), cwd=checkout)
    (checkout / "notes.txt").write_text("one\ntwo\n")
    (checkout / "staged.txt").write_text("staged\n")
    git("add", "staged.txt", cwd=checkout)
    (checkout / "untracked.txt").write_text("untracked\n")
    write_site(checkout / "site", SITE_FILES)
    monkeypatch.chdir(checkout)
    return checkout


def publish(*args: str) -> str:
    result = CliRunner().invoke(main, ["publish", *args])
    assert result.exit_code == 0, result.output
    return result.output.strip()


def test_publish_pushes_exactly_the_site_and_keeps_history(repo: Path) -> None:
    remote = repo.parent / "remote.git"
    before = checkout_state(repo)
    output = publish()
    assert output.startswith(f"published {len(SITE_FILES)} files (0.0 MB, 0.0 MB new) to origin gh-pages: ")
    assert "a new branch" in output
    tree = git("ls-tree", "-r", "--name-only", "gh-pages", cwd=remote).splitlines()
    assert sorted(tree) == sorted(SITE_FILES)  # ignored names and dotfiles included, nothing else
    assert git("show", "gh-pages:mnist/preds/index.html", cwd=remote) == "<h1>preds</h1>"
    first = git("rev-parse", "gh-pages", cwd=remote)
    assert git("log", "--format=%s", "gh-pages", cwd=remote) == f"Publish the atlas from {before['head'][:12]} (gallery {__version__})"
    assert checkout_state(repo) == before

    (repo / "site" / "atlas.json").unlink()
    write_site(repo / "site", {"mnist/depth.html": "<h1>depth</h1>"})
    assert "on top of" in publish("--message", "second")
    second = git("rev-parse", "gh-pages", cwd=remote)
    assert git("rev-list", "--parents", "-n", "1", second, cwd=remote).split() == [second, first]
    assert git("log", "-1", "--format=%s", second, cwd=remote) == "second"
    expected = sorted({*SITE_FILES, "mnist/depth.html"} - {"atlas.json"})
    assert sorted(git("ls-tree", "-r", "--name-only", second, cwd=remote).splitlines()) == expected
    assert checkout_state(repo) == before

    assert "nothing to publish" in publish()
    assert git("rev-parse", "gh-pages", cwd=remote) == second


def test_publish_builds_on_a_branch_pushed_from_elsewhere(repo: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A second clone has none of the branch's objects: publish fetches the tip to use it as parent."""
    target = tmp_path / "pages.git"
    git("init", "--quiet", "--bare", str(target), cwd=tmp_path)
    publish("--remote", str(target), "--branch", "pages")
    first = git("rev-parse", "pages", cwd=target)
    other = tmp_path / "other"
    git("clone", "--quiet", "--no-local", str(repo), str(other), cwd=tmp_path)
    write_site(other / "site", {**SITE_FILES, "index.html": "<title>rebuilt</title>"})
    monkeypatch.chdir(other)
    with pytest.raises(subprocess.CalledProcessError):
        git("cat-file", "-e", first, cwd=other)
    publish("--remote", str(target), "--branch", "pages")
    second = git("rev-parse", "pages", cwd=target)
    assert git("rev-parse", f"{second}^", cwd=target) == first
    assert git("show", "pages:index.html", cwd=target) == "<title>rebuilt</title>"


def test_publish_explains_what_is_missing(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(main, ["publish", "--out", "nowhere"])
    assert result.exit_code == 2 and "no index.html; run `gallery build CONFIG` first" in result.output
    outside = tmp_path / "outside"
    outside.mkdir()
    monkeypatch.chdir(outside)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    result = CliRunner().invoke(main, ["publish", "--out", str(repo / "site")])
    assert result.exit_code == 2 and "not inside a git repository" in result.output


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_publish_checks_the_exact_branch_and_refuses_options(repo: Path) -> None:
    """A branch whose name is the tail of another ref is its own branch; a remote that looks like an
    option never reaches git as one; git's whole complaint is one line."""
    remote = repo.parent / "remote.git"
    first = publish("--branch", "mirror/refs/heads/pages2")
    assert "a new branch" in first
    assert "a new branch" in publish("--branch", "pages2")  # not "already holds this site"
    assert git("ls-tree", "-r", "--name-only", "pages2", cwd=remote).splitlines() == sorted(SITE_FILES)
    for args, says in ((["--remote", "--upload-pack=touch pwned"], "--remote"), (["--branch", "*"], "--branch"),
                       (["--remote", "/nowhere/at/all.git"], "git ls-remote failed")):
        result = CliRunner().invoke(main, ["publish", *args])
        assert result.exit_code == 2 and result.output.count("\n") == 1 and says in result.output, result.output
    assert not (repo / "pwned").exists()


def test_no_history_leaves_one_commit_and_cname_names_the_domain(repo: Path) -> None:
    remote = repo.parent / "remote.git"
    publish()
    write_site(repo / "site", {"mnist/depth.html": "<h1>depth</h1>"})
    publish()
    assert len(git("rev-list", "gh-pages", cwd=remote).splitlines()) == 2
    line = publish("--no-history", "--cname", "atlas.example.org")
    assert "as the branch's only commit" in line and "https://atlas.example.org/" in line
    assert re.search(r"published \d+ files \([\d.]+ MB, [\d.]+ MB new\)", line)
    assert len(git("rev-list", "gh-pages", cwd=remote).splitlines()) == 1  # the history is gone
    assert git("show", "gh-pages:CNAME", cwd=remote) == "atlas.example.org"
    assert "already holds this site" in publish("--no-history", "--cname", "atlas.example.org")
    write_site(repo / "site", {"mnist/depth.html": "<h1>depth, again</h1>"})
    assert "https://atlas.example.org/" in publish()  # a plain publish keeps the domain set before
    assert git("show", "gh-pages:CNAME", cwd=remote) == "atlas.example.org"
    result = CliRunner().invoke(main, ["publish", "--cname", "not a domain"])
    assert result.exit_code == 2 and "--cname" in result.output


def test_a_cname_file_the_user_put_in_the_site_names_the_pages_address(repo: Path) -> None:
    write_site(repo / "site", {"CNAME": "atlas.example.net\n"})
    assert "GitHub Pages serves it at https://atlas.example.net/" in publish()
    assert git("show", "gh-pages:CNAME", cwd=repo.parent / "remote.git") == "atlas.example.net"
    for junk in ("https://atlas.example.net/path", "two words", "<script>"):  # GitHub serves no domain for these
        write_site(repo / "site", {"CNAME": junk})
        assert "GitHub Pages serves it" not in publish()


@pytest.mark.parametrize("remote, url", [
    ("git@github.com:me/atlas.git", "https://me.github.io/atlas/"), ("https://github.com/me/atlas", "https://me.github.io/atlas/"),
    ("https://github.com/me/Me.github.io.git", "https://me.github.io/"), ("/srv/git/atlas.git", None),
])
def test_pages_url_of_a_remote(remote: str, url: str | None) -> None:
    from gallery.publish import pages_url

    assert pages_url(remote, None) == url


def test_serve_answers_missing_pages_with_404_html(tmp_path: Path) -> None:
    write_site(tmp_path, SITE_FILES)
    with serve.server(tmp_path, 0) as httpd:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        try:
            assert fetch(serve.url(httpd) + "mnist/preds/index.html") == (200, "<h1>preds</h1>")
            assert fetch(serve.url(httpd) + "mnist/gone.html") == (404, "<h1>Not found</h1>")
        finally:
            httpd.shutdown()


def test_serve_command_prints_its_url(tmp_path: Path) -> None:
    write_site(tmp_path, SITE_FILES)
    command = [sys.executable, "-c", "from gallery.cli import main; main()", "serve", "--out", str(tmp_path), "--port", "0"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as process:
        try:
            line = process.stdout.readline().strip()
            assert line.startswith(f"serving {tmp_path}/ at http://127.0.0.1:") and line.endswith("(Ctrl-C to stop)")
            assert fetch(line.split()[3]) == (200, "<title>atlas</title>")
        finally:
            process.terminate()


def test_pages_workflow_builds_the_mnist_atlas_and_deploys_what_it_built() -> None:
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "pages.yml").read_text())
    build, deploy = workflow["jobs"]["build"]["steps"], workflow["jobs"]["deploy"]["steps"]
    uses = [step["uses"].split("@")[0] for step in build + deploy if "uses" in step]
    assert uses == ["actions/checkout", "actions/setup-python", "actions/cache", "actions/upload-pages-artifact",
                    "actions/deploy-pages"]
    command = next(step["run"] for step in build if "gallery build" in step.get("run", ""))
    assert command.split()[2:] == ["configs/mnist.yaml", "--site", "site"]
    cache = next(step["with"] for step in build if step.get("uses", "").startswith("actions/cache"))
    assert cache["path"] == ".gallery-cache" and "configs/mnist.yaml" in cache["key"] and "pyproject.toml" in cache["key"]
    assert (REPO / "configs" / "mnist.yaml").is_file()
    assert next(step["with"]["path"] for step in build if "upload-pages-artifact" in step.get("uses", "")) == "site"
    assert workflow["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}


def test_watch_rebuilds_once_per_save_of_the_config(tmp_path: Path) -> None:
    config = tmp_path / "atlas.yaml"
    config.write_text("first")
    seen: list[str] = []
    stop = threading.Event()
    thread = threading.Thread(target=serve.watch, args=(config, lambda: seen.append(config.read_text()), stop, 0.01))
    thread.start()

    def save(text: str) -> None:
        before = len(seen)
        mtime = config.stat().st_mtime_ns
        config.write_text(text)
        os.utime(config, ns=(mtime + 10**9, mtime + 10**9))  # a new mtime even on a coarse clock
        deadline = time.monotonic() + 10
        while len(seen) == before and time.monotonic() < deadline:
            time.sleep(0.01)

    try:
        time.sleep(0.1)
        assert seen == []  # nothing saved, nothing rebuilt
        save("second")
        save("third")
        time.sleep(0.1)
        assert seen == ["second", "third"]
    finally:
        stop.set()
        thread.join()
