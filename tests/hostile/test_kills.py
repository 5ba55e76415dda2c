"""Builds killed with SIGKILL at chosen points (while rendering, while writing a cache entry, while
writing pages, inside the swap) and builds run at the same time: a complete site exists after every
kill, the next run finishes with nothing left behind, and its pictures are those of a build never
interrupted."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import pytest
import yaml

from gallery.output import MARKER

# Runs a build in a fresh process that SIGKILLs itself at a chosen point.
DRIVER = r'''
import os, signal, sys, tempfile, time
point, count = sys.argv[1], int(sys.argv[2])
import gallery.files, gallery.output, gallery.site.writer, gallery.store

def die():
    os.kill(os.getpid(), signal.SIGKILL)

def after(owner, name, calls):
    real, made = getattr(owner, name), [0]
    def wrapper(*args, **kwargs):
        result = real(*args, **kwargs)
        made[0] += 1
        if made[0] >= calls:
            die()
        return result
    setattr(owner, name, wrapper)

if point == "render":
    after(gallery.store.Store, "put", count)
elif point == "bundle":
    after(gallery.store.Store, "put_bundle", count)
elif point == "pages":
    after(gallery.site.writer.SiteWriter, "page", count)
elif point == "exchange":
    after(gallery.output, "_exchange", 1)
elif point == "between-renames":
    def swap_in(new, out):
        os.replace(out, out.parent / f".{out.name}.old-{os.getpid()}")
        die()
    gallery.output.swap_in = swap_in
elif point == "mid-write":
    def write_bytes(target, data):
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, _ = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.{os.getpid()}.", suffix=target.suffix)
        os.write(handle, data[:10])
        die()
    gallery.store.write_bytes = write_bytes
elif point == "slow":
    real_put = gallery.store.Store.put
    def put(self, *args):
        time.sleep(count)
        return real_put(self, *args)
    gallery.store.Store.put = put
from gallery.cli import main
main(sys.argv[3:])
'''
SLOW = pytest.mark.slow  # 15 s each: the default run kills inside the swap, `pytest -m slow` at the rest
KILLS = [pytest.param("render", 1, marks=SLOW), pytest.param("render", 3, marks=SLOW), pytest.param("mid-write", 0, marks=SLOW),
         pytest.param("bundle", 1, marks=SLOW), pytest.param("pages", 3, marks=SLOW),
         pytest.param("exchange", 1, marks=SLOW), ("between-renames", 0)]


def atlas(folder: Path, steps: int) -> None:
    (folder / "atlas.yaml").write_text(yaml.safe_dump({
        "models": [{"id": "net", "source": "file", "path": "net.keras"}],
        "settings": {"quick": {"steps": steps}},
        "activation_max": [{"model": "net", "layer": "conv", "filters": [0, 1, 2, 3], "settings": ["quick"]}],
        "images": {"cup": "sample:coffee"},
        "feature_maps": [{"model": "net", "images": ["cup"]}],
        # A later build with more steps also asks for one more method: its attribution bundle renders anew.
        "attribution": [{"model": "net", "images": ["cup"],
                         "methods": ["gradcam", "saliency", *(["gradcam_plus_plus"] if steps > 2 else [])]}],
    }))


def run(folder: Path, point: str = "none", count: int = 0, site: str = "site", wait: bool = True
        ) -> subprocess.CompletedProcess[str] | subprocess.Popen[str]:
    command = [sys.executable, "-c", DRIVER, point, str(count), "build", "atlas.yaml", "--site", site,
               "--cache", "cache"]
    if not wait:
        return subprocess.Popen(command, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=300)


def pictures(site: Path) -> dict[str, bytes]:
    return {p.relative_to(site).as_posix(): p.read_bytes() for p in site.rglob("*.png")}


def leftovers(folder: Path) -> list[str]:
    found = [p.name for p in folder.glob(".site.*") if not p.name.startswith(".site.lock")]
    found += [p.name for p in (folder / "cache").rglob(".*") if p.is_file()]
    return found


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    """A folder with a site built at 2 steps, and the pictures of an uninterrupted build at 3 steps."""
    folder = tmp_path_factory.mktemp("kills") / "base"
    folder.mkdir()
    keras.utils.set_random_seed(0)
    inputs = keras.Input((24, 24, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    keras.Model(inputs, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x))).save(folder / "net.keras")
    reference = folder.parent / "reference"
    shutil.copytree(folder, reference)
    atlas(reference, 3)
    assert run(reference).returncode == 0
    atlas(folder, 2)
    assert run(folder).returncode == 0
    return folder, pictures(reference / "site")


@pytest.mark.parametrize("point, count", KILLS)
def test_a_killed_build_leaves_a_site_and_the_rerun_finishes_clean(built: tuple[Path, dict[str, bytes]],
                                                                     tmp_path: Path, point: str, count: int) -> None:
    base, reference = built
    folder = tmp_path / "work"
    shutil.copytree(base, folder)
    (folder / "canary.txt").write_text("canary")
    before = pictures(folder / "site")
    atlas(folder, 3)
    killed = run(folder, point, count)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    site = folder / "site"
    if point != "between-renames":  # that kill is the one moment without a site: the rerun repairs it
        assert (site / "index.html").is_file() and (site / MARKER).is_file() and (site / "atlas.json").is_file()
        assert pictures(site) in (before, reference)  # the old site whole, or the new one whole
    rerun = run(folder)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert pictures(site) == reference
    assert leftovers(folder) == []
    assert (folder / "canary.txt").read_text() == "canary"


def test_a_second_build_of_the_same_site_stops_with_one_line(built: tuple[Path, dict[str, bytes]],
                                                             tmp_path: Path) -> None:
    folder = tmp_path / "work"
    shutil.copytree(built[0], folder)
    atlas(folder, 3)
    first = run(folder, "slow", 4, wait=False)
    time.sleep(0.5)
    while not (folder / ".site.lock.pid").is_file():
        assert first.poll() is None, first.communicate()
        time.sleep(0.2)
    second = run(folder)
    assert second.returncode == 2
    lines = [line for line in second.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and f"another gallery build (process {first.pid})" in lines[0]
    assert first.wait(timeout=300) == 0
    assert pictures(folder / "site") == built[1]


def test_builds_of_two_sites_share_one_cache(built: tuple[Path, dict[str, bytes]], tmp_path: Path) -> None:
    folder = tmp_path / "work"
    shutil.copytree(built[0], folder)
    atlas(folder, 3)
    shutil.rmtree(folder / "cache" / "renders")
    processes = [run(folder, site=name, wait=False) for name in ("one", "two")]
    assert [process.wait(timeout=300) for process in processes] == [0, 0]
    assert pictures(folder / "one") == pictures(folder / "two") == built[1]
    assert leftovers(folder) == []
