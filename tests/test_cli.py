"""The CLI's small commands, as a user types them."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from conftest import REPO

from gallery import __version__
from gallery.cli import main


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"gallery, version {__version__}"


def test_layers_lists_what_a_config_needs() -> None:
    result = CliRunner().invoke(main, ["layers", str(REPO / "configs" / "mnist.yaml")])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.output.splitlines()[2:]}
    assert rows["conv2d_1"][1:] == ["Conv2D", "(None,", "26,", "26,", "32)", "320", "32"]
    assert rows["preds"][1] == "Dense" and rows["preds"][-1] == "10"


def test_clean_removes_renders_and_site_but_keeps_weights(tmp_path: Path) -> None:
    cache, site = tmp_path / "cache", tmp_path / "site"
    for path in (cache / "renders" / "ab" / "x.png", cache / "models" / "m.keras", site / "index.html",
                 site / ".gallery-site"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    result = CliRunner().invoke(main, ["clean", "--cache", str(cache), "--out", str(site)])
    assert result.exit_code == 0
    assert not (cache / "renders").exists() and not site.exists()
    assert (cache / "models" / "m.keras").exists()
    CliRunner().invoke(main, ["clean", "--cache", str(cache), "--out", str(site), "--models"])
    assert not (cache / "models").exists()


def test_clean_refuses_a_folder_gallery_did_not_write(tmp_path: Path) -> None:
    project = tmp_path / "thesis"
    (project / "chapters").mkdir(parents=True)
    (project / "chapters" / "one.tex").write_text("canary")
    result = CliRunner().invoke(main, ["clean", "--cache", str(tmp_path / "cache"), "--site", str(project)])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "did not write" in result.output
    assert (project / "chapters" / "one.tex").read_text() == "canary"
