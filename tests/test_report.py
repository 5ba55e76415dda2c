"""`gallery report` on a small fake site and on a real one: one self-contained file, every image inlined."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import pytest
from conftest import Page, fake_site
from PIL import Image

from gallery.errors import GalleryError
from gallery.report import FEATURE_GRID_PX, write_report


def test_report_is_one_file_with_every_image_inlined(site: Path, tmp_path: Path) -> None:
    out = write_report(site, out=tmp_path / "mail" / "report.html")

    html = out.read_text(encoding="utf-8")
    page = Page(html)
    images = page.all("img")
    # 4 + 3 pictures, a feature input and 2 of its 3 grids, an attribution input and 3 of 4 overlays.
    assert len(images) == 4 + 3 + 1 + 2 + 1 + 3
    for attributes in images:
        header, payload = (attributes["src"] or "").split(",", 1)
        assert header == "data:image/png;base64"
        with Image.open(io.BytesIO(base64.b64decode(payload, validate=True))) as picture:
            picture.verify()
            assert picture.format == "PNG"
            assert max(picture.size) <= FEATURE_GRID_PX  # the 1000 px grid shrunk
        assert attributes["alt"]
    grids = [(a["width"], a["height"]) for a in images if a["alt"] and "feature maps" in a["alt"]]
    assert grids == [("720", "144"), ("700", "280")]  # shown at most 720 px wide, small ones scaled up whole
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"""\b(?:src|href)=(?!["']?data:)""", html)  # nothing loaded or linked from beside it
    assert not page.all("script") and not page.all("link")

    text = " ".join(" ".join(page.text).split())
    assert "test accuracy 97.20%" in text
    assert "parameters 1,199,882" in text
    layer_rows = [a["id"] for a in page.all("section") if a.get("class") == "layer"]
    assert layer_rows == ["layer-conv2d_1", "layer-preds"]
    assert "conv2d_1 Conv2D · setting default · 4 of 4 pictures" in text
    assert "Filter 0 2.0×" in text and "Filter 1 3.0× rising" in text and "Unit 2: digit 2 4.0×" in text
    assert "conv2d_2 32 9% (3)" in text  # every feature layer's dead share in the table
    assert text.count("no positive evidence") == 1
    assert "Made with gallery 0.1.0." in text


def test_report_replaces_its_own_file_only(site: Path, tmp_path: Path) -> None:
    out = write_report(site, out=tmp_path / "report.html")
    assert write_report(site, out=out) == out  # its own: written again
    (tmp_path / "mine.png").write_bytes(b"\x89PNG my photo")
    with pytest.raises(GalleryError, match="mine.png: a file gallery did not write"):
        write_report(site, out=tmp_path / "mine.png")
    assert (tmp_path / "mine.png").read_bytes() == b"\x89PNG my photo"


def test_report_into_a_folder_takes_its_default_name_there(site: Path, tmp_path: Path) -> None:
    assert write_report(site, out=tmp_path) == tmp_path / "mnist-report.html"
    assert (tmp_path / "mnist-report.html").read_text().startswith("<!doctype html>")


def test_report_command_into_a_new_folder_given_with_a_slash(site: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from gallery.cli import main

    result = CliRunner().invoke(main, ["report", "--site", str(site), "-o", f"{tmp_path / 'handin'}/"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "handin" / "mnist-report.html").is_file()
    result = CliRunner().invoke(main, ["report", "--site", str(tmp_path / "nosite"), "-o", f"{tmp_path / 'other'}/"])
    assert result.exit_code == 2 and "nosite" in result.output, result.output
    assert not (tmp_path / "other").exists()  # a command that fails leaves no folder behind


def test_a_path_the_file_system_refuses_is_one_line_not_a_bug(site: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from gallery.cli import main

    (tmp_path / "img.png").write_bytes(b"mine")
    result = CliRunner().invoke(main, ["report", "--site", str(site), "-o", str(tmp_path / "img.png" / "r.html")])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert "img.png" in result.output and "bug" not in result.output
    assert (tmp_path / "img.png").read_bytes() == b"mine"


def test_an_interrupted_report_leaves_the_previous_one_whole(site: Path, tmp_path: Path, monkeypatch) -> None:
    out = write_report(site, out=tmp_path / "reports" / "report.html")
    before = out.read_bytes()

    def killed(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("gallery.files.os.replace", killed)  # stopped after writing, before renaming
    with pytest.raises(KeyboardInterrupt):
        write_report(site, out=out, per_layer=1)
    assert out.read_bytes() == before and [p.name for p in out.parent.iterdir()] == ["report.html"]


def test_report_shows_per_layer_pictures_and_links_the_online_atlas(tmp_path: Path) -> None:
    site = fake_site(tmp_path / "site", base_url="https://example.org/atlas/")
    out = write_report(site, "mnist", tmp_path / "report.html", per_layer=2)

    page = Page(out.read_text(encoding="utf-8"))
    assert page.all("a") == [{"href": "https://example.org/atlas/"}]  # a link to follow, never a request
    text = " ".join(" ".join(page.text).split())
    assert "conv2d_1 Conv2D · setting default · 2 of 4 pictures" in text
    assert "Filter 2" not in text


def test_report_needs_a_model_name_when_the_site_has_several(tmp_path: Path) -> None:
    site = fake_site(tmp_path / "site", models=("mnist", "mnist_small"))
    with pytest.raises(GalleryError, match="2 models, name one of: mnist, mnist_small"):
        write_report(site)
    with pytest.raises(GalleryError, match=re.escape("no model 'cifar' (known: mnist, mnist_small)")):
        write_report(site, "cifar")


def test_report_shows_each_layer_under_the_setting_asked_for_where_it_has_it(site: Path, tmp_path: Path) -> None:
    out = write_report(site, out=tmp_path / "report.html", setting="diversity")
    text = " ".join(" ".join(Page(out.read_text(encoding="utf-8")).text).split())
    assert "conv2d_1 Conv2D · setting diversity · 4 of 4 pictures" in text
    assert "preds Dense · setting default · 3 of 3 pictures" in text  # preds has no "diversity"
    with pytest.raises(GalleryError, match=re.escape("no setting 'diversty' (did you mean 'diversity'?)")):
        write_report(site, out=tmp_path / "other.html", setting="diversty")
