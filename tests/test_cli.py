"""The CLI's small commands, as a user types them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import yaml
from click.testing import CliRunner
from conftest import REPO

from gallery import __version__, output
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
    for path in (cache / "renders" / "ab" / "x.png", cache / "models" / "m.keras", site / "index.html"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    output.mark(site)
    result = CliRunner().invoke(main, ["clean", "--cache", str(cache), "--out", str(site)])
    assert result.exit_code == 0
    assert not (cache / "renders").exists() and not site.exists()
    assert (cache / "models" / "m.keras").exists()
    CliRunner().invoke(main, ["clean", "--cache", str(cache), "--out", str(site), "--models"])
    assert not (cache / "models").exists()


def test_clean_keeps_the_files_a_user_added_to_a_built_site(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "layers").mkdir(parents=True)
    (site / "layers" / "conv.html").write_text("gallery's")
    output.mark(site)
    (site / "CNAME").write_text("canary")
    result = CliRunner().invoke(main, ["clean", "--cache", str(tmp_path / "cache"), "--site", str(site)])
    assert result.exit_code == 0 and "kept 1 file you added to the site: CNAME" in result.output
    assert (site / "CNAME").read_text() == "canary" and not (site / "layers").exists()


def test_clean_finds_the_site_of_a_config_with_an_error_elsewhere(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mysite").mkdir()
    (tmp_path / "mysite" / "index.html").write_text("gallery's")
    output.mark(tmp_path / "mysite")
    config = tmp_path / "atlas.yaml"
    config.write_text("site: {out: mysite}\nmodels:\n  - {id: net, source: file, pth: net.keras}\n")  # being edited
    result = CliRunner().invoke(main, ["clean", "--config", str(config)])
    assert result.exit_code == 0 and "removed mysite/" in result.output and not (tmp_path / "mysite").exists()
    (tmp_path / "mysite").mkdir()
    output.mark(tmp_path / "mysite")
    config.write_text("site:\n  out: mysite\n  titel: x\nmodels: 3\n")  # a typo beside it in site: no matter
    result = CliRunner().invoke(main, ["clean", "--config", str(config)])
    assert result.exit_code == 0 and "removed mysite/" in result.output
    (tmp_path / ".gallery-cache" / "renders").mkdir(parents=True)
    for wrong in ("7", "'  '"):  # the key it needs is wrong: the config's own error, and nothing is deleted
        config.write_text(f"site: {{out: {wrong}}}\nmodels: []\n")
        result = CliRunner().invoke(main, ["clean", "--config", str(config)])
        assert result.exit_code == 2 and "atlas.yaml:1: site.out" in result.output, result.output
    assert (tmp_path / ".gallery-cache" / "renders").is_dir()


def test_a_site_out_that_is_a_file_is_its_config_line_and_the_file_is_kept(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    config = tmp_path / "atlas.yaml"
    config.write_text("site:\n  title: x\n  out: notes.txt\nmodels: []\n")
    for command in (["clean", "--config", str(config)], ["report", "--config", str(config)],
                    ["figure", "--config", str(config), "net", "conv"]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 2 and result.output.strip().splitlines() == [
            f"error: {config}:3: site.out: notes.txt is a file, not a site folder"], (command, result.output)
    result = CliRunner().invoke(main, ["report", "--site", "notes.txt"])
    assert result.exit_code == 2 and "notes.txt: a file, not a site folder" in result.output
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_clean_refuses_a_folder_gallery_did_not_write(tmp_path: Path) -> None:
    project = tmp_path / "thesis"
    (project / "chapters").mkdir(parents=True)
    (project / "chapters" / "one.tex").write_text("canary")
    result = CliRunner().invoke(main, ["clean", "--cache", str(tmp_path / "cache"), "--site", str(project)])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "did not write" in result.output
    assert (project / "chapters" / "one.tex").read_text() == "canary"


def schema() -> dict:
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    return json.loads(result.output)


def test_schema_describes_every_key_and_accepts_the_shipped_configs() -> None:
    found = schema()
    records = [found, *found["$defs"].values()]
    missing = [name for record in records for name, key in record.get("properties", {}).items()
               if "description" not in key]
    assert missing == []
    validator = jsonschema.Draft202012Validator(found)
    for path in sorted((REPO / "configs").glob("*.yaml")):
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
        assert errors == [], (path, errors[0].message if errors else "")
    assert list(validator.iter_errors({"models": [{"id": "m", "source": "file", "path": "x", "weights": None}]}))


def test_readme_reference_and_schema_name_the_same_keys() -> None:
    """The README's config reference lists every key the schema has, and no other."""
    readme = (REPO / "README.md").read_text()
    reference = readme.split("## Config reference")[1].split("```yaml")[1].split("```")[0]
    written = set(re.findall(r"^\s*(?:- )?([a-z_]+):", reference, re.MULTILINE))
    found = schema()
    keys = {name for record in [found, *found["$defs"].values()] for name in record.get("properties", {})}
    sections = readme.split("## Config reference")[1].split("## Site layout")[0]
    mentioned = set(re.findall(r"^\s*(?:- )?(?:# )?([a-z_]+):", sections, re.MULTILINE))
    mentioned |= set(re.findall(r"[{,]\s*([a-z_]+):", sections))  # keys of flow mappings, {random: 8}
    assert keys - mentioned == set(), "keys the README's reference does not show"
    assert written - keys == {"sharp", "mnist"}, "keys the README shows that the schema does not have"  # names
