"""A hostile corpus: configs, values, model files, images, output folders and commands that a careless
or malicious user gives. Each case asserts the exit status, exactly one line of output, no traceback,
and that a canary file beside the site folder (and every file the user had) survives unchanged.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import re
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

from gallery.cli import main

CANARY = "do not lose me"
STEPS = {"quick": {"steps": 2}}


def tiny_model(path: Path, shape: tuple[int | None, ...] = (16, 16, 3), names: tuple[str, str] = ("conv", "out"),
               **kwargs: object) -> Path:
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape)
    x = keras.layers.Conv2D(4, 3, activation="relu", name=names[0])(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    keras.Model(inputs, keras.layers.Dense(3, name=names[1])(x)).save(path)
    return path


def config(**sections: object) -> dict[str, object]:
    """A small valid config around `net.keras`, with `sections` replacing its own."""
    base: dict[str, object] = {
        "site": {"title": "hostile"},
        "models": [{"id": "net", "source": "file", "path": "net.keras"}],
        "settings": STEPS,
        "activation_max": [{"model": "net", "layer": "conv", "filters": [0, 1], "settings": ["quick"]}],
    }
    base.update(sections)
    return base


@dataclass
class Case:
    """Files to write (text or bytes, or a callable writing into the folder), a command, what it must give."""

    id: str
    files: dict[str, object] = field(default_factory=dict)
    args: tuple[str, ...] = ("validate", "atlas.yaml")
    code: int = 2
    says: str = ""  # a part of the one line
    prepare: Callable[[Path], None] | None = None


def yaml_text(data: object) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def nested(depth: int, mapping: bool) -> str:
    opening, closing = ("{a: ", "}") if mapping else ("[", "]")
    return "models: " + opening * depth + "1" + closing * depth + "\n"


def alias_bomb() -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\nmodels: *a9\n"


def bad_zip_bomb(folder: Path) -> None:
    """A .keras archive whose two entries claim nearly 4 GiB each (sizes patched in the central directory)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("config.json", b"{}")
        archive.writestr("model.weights.h5", b"0")
    data = bytearray(buffer.getvalue())
    offset = 0
    while (offset := data.find(b"PK\x01\x02", offset)) >= 0:  # central directory headers
        struct.pack_into("<I", data, offset + 24, 0xFFFFFFF0)  # uncompressed size
        offset += 4
    (folder / "net.keras").write_bytes(bytes(data))


class Marker:
    """Unpickling this would create `ran.txt`: a hostile model file must never run code."""

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (Path.write_text, (Path("ran.txt"), "code ran"))


def lambda_model(folder: Path) -> None:
    """A .keras model whose Lambda layer would write `ran.txt` if its code ran."""
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Lambda(lambda t: (Path("ran.txt").write_text("code ran"), t)[1])(inputs)
    x = keras.layers.Conv2D(4, 3, name="conv")(x)
    keras.Model(inputs, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x))).save(folder / "net.keras")


@keras.saving.register_keras_serializable(package="hostile")
class Doubling(keras.layers.Layer):
    def call(self, inputs: object) -> object:
        return inputs * 2


def custom_layer_model(folder: Path) -> None:
    """Saved with a registered custom layer; gallery loads without it registered (a fresh process)."""
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(Doubling()(inputs))
    keras.Model(inputs, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x))).save(folder / "net.keras")
    keras.saving.get_custom_objects().pop("hostile>Doubling")  # as in a process that never defined it


def two_inputs(folder: Path) -> None:
    a, b = keras.Input((8, 8, 3)), keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(2, 3, name="conv")(keras.layers.Add()([a, b]))
    keras.Model([a, b], keras.layers.Flatten()(x)).save(folder / "net.keras")


def two_outputs(folder: Path) -> None:
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(2, 3, name="conv")(inputs)
    keras.Model(inputs, [keras.layers.Flatten()(x), keras.layers.GlobalAveragePooling2D()(x)]).save(folder / "net.keras")


def dense_only(folder: Path) -> None:
    inputs = keras.Input((10,))
    keras.Model(inputs, keras.layers.Dense(3, name="conv")(inputs)).save(folder / "net.keras")


def conv1d(folder: Path) -> None:
    inputs = keras.Input((20, 3))
    keras.Model(inputs, keras.layers.Conv1D(4, 3, name="conv")(inputs)).save(folder / "net.keras")


def symlink_loop(name: str) -> Callable[[Path], None]:
    def make(folder: Path) -> None:
        (folder / name).unlink(missing_ok=True)
        os.symlink(folder / f"{name}.b", folder / name)
        os.symlink(folder / name, folder / f"{name}.b")
    return make


def png_bytes(size: tuple[int, int] = (8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((*size, 3), np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def huge_header_png() -> bytes:
    """A PNG whose header claims 30000 x 30000 pixels (the data is not there)."""
    data = bytearray(png_bytes())
    struct.pack_into(">II", data, 16, 30000, 30000)  # IHDR width, height (the CRC is left wrong)
    return bytes(data)


def with_image(source: str) -> dict[str, object]:
    return config(images={"pic": source}, feature_maps=[{"model": "net", "images": ["pic"]}])


def setting(**keys: object) -> str:
    return yaml_text(config(settings={"quick": {"steps": 2, **keys}}))


VALID = yaml_text(config())
CASES = [
    # --- config text ---------------------------------------------------------------------------
    Case("binary", {"atlas.yaml": bytes(range(256)) * 4}, says="binary or compressed"),
    Case("latin-1", {"atlas.yaml": VALID.replace("hostile", "h\xe9").encode("latin-1")}, says="not UTF-8"),
    Case("utf-16", {"atlas.yaml": VALID.encode("utf-16")}, says="UTF-16"),
    Case("gzip", {"atlas.yaml": gzip.compress(VALID.encode())}, says="binary or compressed"),
    Case("zip", {"atlas.yaml": b"PK\x03\x04" + b"\x00" * 40}, says="binary or compressed"),
    Case("empty", {"atlas.yaml": ""}, says="must be a mapping"),
    Case("comments-only", {"atlas.yaml": "# nothing\n"}, says="must be a mapping"),
    Case("top-level-list", {"atlas.yaml": "- models\n"}, says="must be a mapping"),
    Case("top-level-scalar", {"atlas.yaml": "hello\n"}, says="must be a mapping"),
    Case("deep-lists", {"atlas.yaml": nested(5000, mapping=False)}, says="levels deep"),
    Case("deep-mappings", {"atlas.yaml": nested(5000, mapping=True)}, says="levels deep"),
    Case("alias-bomb", {"atlas.yaml": alias_bomb()}, says="expand to more than"),
    Case("duplicate-section", {"atlas.yaml": VALID + "activation_max: []\n"}, says="duplicate key 'activation_max'"),
    Case("duplicate-key", {"atlas.yaml": VALID.replace("steps: 2", "steps: 2\n    steps: 3")},
         says="duplicate key 'steps'"),
    Case("unclosed", {"atlas.yaml": "models: [1, 2\n"}, says="invalid YAML"),
    Case("tab-indent", {"atlas.yaml": "models:\n\t- id: x\n"}, says="invalid YAML"),
    Case("surrogate", {"atlas.yaml": VALID.replace("title: hostile", 'title: "\\ud800"')}, says="surrogate"),
    Case("too-big", {"atlas.yaml": "# " + "x" * (5 << 20)}, says="larger than"),
    Case("complex-key", {"atlas.yaml": "? [a, b]\n: c\nmodels: []\n"}, says="atlas.yaml:"),
    Case("config-is-folder", {"atlas.yaml/x": ""}, says="cannot read config"),
    Case("config-missing", {}, args=("validate", "nowhere.yaml"), says="cannot read config"),
    Case("config-symlink-loop", prepare=symlink_loop("atlas.yaml"), says="cannot read config"),
    Case("null-models", {"atlas.yaml": "models: null\n"}, says="models"),
    Case("unknown-top-key", {"atlas.yaml": VALID + "modles: []\n"}, says="unknown key 'modles'"),
    # --- values --------------------------------------------------------------------------------
    Case("steps-true", {"atlas.yaml": setting(steps=True)}, says="settings.quick.steps"),
    Case("steps-string", {"atlas.yaml": setting(steps="200")}, says="settings.quick.steps"),
    Case("steps-int64", {"atlas.yaml": setting(steps=2**40)}, says="settings.quick.steps"),
    Case("steps-zero", {"atlas.yaml": setting(steps=0)}, says="settings.quick.steps"),
    Case("seed-negative", {"atlas.yaml": setting(seed=-1)}, says="settings.quick.seed"),
    Case("seed-2**63", {"atlas.yaml": setting(seed=2**63)}, says="settings.quick.seed"),
    Case("jitter-inf", {"atlas.yaml": setting(jitter=float("inf"))}, says="finite"),
    Case("scale-inf", {"atlas.yaml": setting(scale=[1, float("inf")])}, says="finite"),
    Case("scale-reversed", {"atlas.yaml": setting(scale=[2, 1])}, says="scale must be"),
    Case("pad-huge", {"atlas.yaml": setting(pad=100_000)}, says="settings.quick.pad"),
    Case("pad-over-input", {"atlas.yaml": setting(pad=20)}, says="more than half the 16 px input"),
    Case("weight-nan", {"atlas.yaml": setting(activation_weight=float("nan"))}, says="finite"),
    Case("rate-inf", {"atlas.yaml": setting(learning_rate=float("inf"))}, says="finite"),
    Case("lp-huge", {"atlas.yaml": setting(lp_p=1000)}, says="lp_p"),
    Case("diversity-huge", {"atlas.yaml": setting(diversity=1000)}, says="diversity"),
    Case("retry-yes", {"atlas.yaml": setting(retry="yes")}, says="retry"),
    Case("negate-string", {"atlas.yaml": setting(negate="yes")}, says="negate"),
    Case("rotate-huge", {"atlas.yaml": setting(rotate=1e9)}, says="rotate"),
    Case("setting-range-nan", {"atlas.yaml": setting(input_range=[0, float("nan")])}, says="finite"),
    Case("model-range-reversed", {"atlas.yaml": yaml_text(config(models=[{"id": "net", "source": "file",
                                                                          "path": "net.keras",
                                                                          "input_range": [1, 0]}]))},
         says="low < high"),
    Case("filters-empty", {"atlas.yaml": yaml_text(config(activation_max=[{"model": "net", "layer": "conv",
                                                                          "filters": []}]))}, says="filters"),
    Case("filters-negative", {"atlas.yaml": yaml_text(config(activation_max=[{"model": "net", "layer": "conv",
                                                                             "filters": [-1]}]))}, says="filters"),
    Case("filters-float", {"atlas.yaml": yaml_text(config(activation_max=[{"model": "net", "layer": "conv",
                                                                          "filters": [1.5]}]))}, says="filters"),
    Case("filters-out-of-range", {"atlas.yaml": yaml_text(config(activation_max=[{"model": "net", "layer": "conv",
                                                                                 "filters": [9]}]))},
         says="out of range"),
    Case("settings-empty", {"atlas.yaml": yaml_text(config(activation_max=[{"model": "net", "layer": "conv",
                                                                           "settings": []}]))}, says="settings"),
    Case("setting-name-long", {"atlas.yaml": yaml_text(config(settings={"s" * 250: {"steps": 2}}))},
         says="settings"),
    Case("model-id-long", {"atlas.yaml": yaml_text(config(models=[{"id": "m" * 300, "source": "file",
                                                                   "path": "net.keras"}]))}, says="models[0].id"),
    Case("model-id-dotdot", {"atlas.yaml": yaml_text(config(models=[{"id": "..", "source": "file",
                                                                     "path": "net.keras"}]))}, says="models[0].id"),
    Case("model-id-slash", {"atlas.yaml": yaml_text(config(models=[{"id": "a/b", "source": "file",
                                                                    "path": "net.keras"}]))}, says="models[0].id"),
    Case("duplicate-model-id", {"atlas.yaml": yaml_text(config(models=[{"id": "net", "source": "file",
                                                                        "path": "net.keras"}] * 2))},
         says="duplicate model id"),
    Case("unknown-source", {"atlas.yaml": yaml_text(config(models=[{"id": "net", "source": "filez",
                                                                    "path": "net.keras"}]))},
         says="unknown source 'filez'"),
    Case("missing-source", {"atlas.yaml": yaml_text(config(models=[{"id": "net", "path": "net.keras"}]))},
         says="missing key 'source'"),
    Case("other-source-key", {"atlas.yaml": yaml_text(config(models=[{"id": "net", "source": "file",
                                                                      "path": "net.keras", "weights": None}]))},
         says="unknown key 'weights'"),
    Case("unknown-builtin", {"atlas.yaml": yaml_text(config(models=[{"id": "net", "source": "builtin",
                                                                     "builtin": "resnet"}]))}, says="builtin"),
    Case("application-dunder", {"atlas.yaml": yaml_text(config(models=[{"id": "net", "source": "keras_applications",
                                                                        "name": "__class__", "weights": None}]))},
         says="has no model '__class__'"),
    Case("application-module", {"atlas.yaml": yaml_text(config(models=[{"id": "net", "source": "keras_applications",
                                                                        "name": "vgg16", "weights": None}]))},
         says="has no model 'vgg16'"),
    Case("base-url-javascript", {"atlas.yaml": yaml_text(config(site={"base_url": "javascript:alert(1)"}))},
         says="http"),
    Case("site-out-empty", {"atlas.yaml": yaml_text(config(site={"out": ""}))}, says="site.out"),
    Case("colormap-unknown", {"atlas.yaml": yaml_text(with_image("sample:coffee") | {"feature_maps": [
        {"model": "net", "images": ["pic"], "colormap": "nope"}]})}, says="colormap"),
    Case("per-row-zero", {"atlas.yaml": yaml_text(with_image("sample:coffee") | {"feature_maps": [
        {"model": "net", "images": ["pic"], "per_row": 0}]})}, says="per_row"),
    Case("alpha-two", {"atlas.yaml": yaml_text(with_image("sample:coffee") | {"attribution": [
        {"model": "net", "images": ["pic"], "alpha": 2}]})}, says="alpha"),
    Case("class-out-of-range", {"atlas.yaml": yaml_text(with_image("sample:coffee") | {"attribution": [
        {"model": "net", "images": ["pic"], "classes": [99]}]})}, says="out of range"),
    Case("start-from-loop", {"atlas.yaml": yaml_text(config(settings={"a": {"start_from": "b"},
                                                                      "b": {"start_from": "a"}}))},
         says="start_from loops"),
    Case("compare-unknown-kind", {"atlas.yaml": yaml_text(config(compare=[{"kind": "sideways"}]))},
         says="unknown kind 'sideways'"),
    Case("compare-needs", {"atlas.yaml": yaml_text(config(compare=[{"kind": "settings"}]))},
         says="needs model and layer"),
    Case("unknown-layer", {"atlas.yaml": yaml_text(config(activation_max=[{"model": "net", "layer": "conv2"}]))},
         says="did you mean 'conv'"),
    # --- model files ---------------------------------------------------------------------------
    Case("model-text", {"net.keras": "just text"}, says="not a Keras model file"),
    Case("model-empty", {"net.keras": b""}, says="empty file"),
    Case("model-truncated", prepare=lambda folder: (folder / "net.keras").write_bytes(
        tiny_model(folder / "whole.keras").read_bytes()[:3000]), says="not a Keras model file"),
    Case("model-pickle", {"net.keras": pickle.dumps(Marker())}, says="not a Keras model file"),
    Case("model-h5-text", {"atlas.yaml": yaml_text(config(models=[{"id": "net", "source": "file",
                                                                   "path": "net.h5"}])), "net.h5": "text"},
         says="HDF5"),
    Case("model-pt", {"atlas.yaml": yaml_text(config(models=[{"id": "net", "source": "file", "path": "net.pt"}])),
                      "net.pt": b"\x80\x02"}, says="gallery reads .keras and .h5"),
    Case("model-zip-bomb", prepare=bad_zip_bomb, says="refused before unpacking"),
    Case("model-lambda", prepare=lambda_model, says="safe"),
    Case("model-custom-layer", prepare=custom_layer_model, says="Doubling"),
    Case("model-two-inputs", prepare=two_inputs, says="2 inputs"),
    Case("model-two-outputs", prepare=two_outputs, says="2 outputs"),
    Case("model-dense-only", prepare=dense_only, says="not vectors or sequences"),
    Case("model-conv1d", prepare=conv1d, says="not vectors or sequences"),
    Case("model-dynamic", prepare=lambda folder: tiny_model(folder / "net.keras", (None, None, 3)),
         says="input_shape"),
    Case("model-symlink-loop", prepare=symlink_loop("net.keras"), says="cannot read model file"),
    Case("model-folder", {"net.keras/x": ""}, says="a folder, not a model file"),
    Case("model-missing", {"atlas.yaml": yaml_text(config(models=[{"id": "net", "source": "file",
                                                                   "path": "gone.keras"}]))},
         says="model file not found"),
    # --- images --------------------------------------------------------------------------------
    Case("image-text", {"atlas.yaml": yaml_text(with_image("pic.png")), "pic.png": "not an image"},
         says="cannot read image"),
    Case("image-truncated", {"atlas.yaml": yaml_text(with_image("pic.png")), "pic.png": png_bytes()[:40]},
         says="cannot read image"),
    Case("image-huge-header", {"atlas.yaml": yaml_text(with_image("pic.png")), "pic.png": huge_header_png()},
         says="pic.png"),
    Case("image-folder", {"atlas.yaml": yaml_text(with_image("pic")), "pic/x": ""}, says="pic"),
    Case("image-missing", {"atlas.yaml": yaml_text(with_image("gone.png"))}, says="image file not found"),
    Case("image-symlink-loop", {"atlas.yaml": yaml_text(with_image("pic.png"))}, prepare=symlink_loop("pic.png"),
         says="pic.png"),
    Case("image-unknown-sample", {"atlas.yaml": yaml_text(with_image("sample:cat"))}, says="unknown sample"),
    # --- output folders ------------------------------------------------------------------------
    Case("out-dot", args=("build", "atlas.yaml", "--out", "."), says="working directory"),
    Case("out-parent", args=("build", "atlas.yaml", "--out", ".."), says="working directory"),
    Case("out-project", {"docs/thesis.tex": CANARY}, args=("build", "atlas.yaml", "--out", "docs"),
         says="did not write"),
    Case("out-file", {"my_thesis.txt": CANARY}, args=("build", "atlas.yaml", "--out", "my_thesis.txt"),
         says="a file, not a site folder"),
    Case("site-out-dot", {"atlas.yaml": yaml_text(config(site={"out": "."}))}, args=("build", "atlas.yaml"),
         says="atlas.yaml:2: site.out: "),
    Case("site-out-dot-validate", {"atlas.yaml": yaml_text(config(site={"out": "."}))},
         args=("validate", "atlas.yaml"), says="atlas.yaml:2: site.out: "),
    Case("cache-inside-site", args=("build", "atlas.yaml", "--out", "site", "--cache", "site/cache"),
         says="cache is inside the site folder"),
    Case("site-inside-cache", args=("build", "atlas.yaml", "--out", "cache/site", "--cache", "cache"),
         says="inside the cache"),
    Case("config-inside-site", {"site/.gallery-site": "",
                                "site/atlas.yaml": VALID.replace("path: net.keras", "path: ../net.keras")},
         args=("build", "site/atlas.yaml", "--out", "site"), says="config is inside the site folder"),
    Case("clean-project", {"docs/thesis.tex": CANARY}, args=("clean", "--site", "docs"), says="so it is not deleted"),
    Case("build-empty-folder", {"site/.keep-me-not": None}, args=("build", "atlas.yaml", "--out", "site"), code=0,
         says="rendered 2"),
    Case("build-strange-layer-names", prepare=lambda folder: tiny_model(folder / "net.keras",
                                                                        names=("index.html", "..")),
         files={"atlas.yaml": yaml_text(config(activation_max=[
             {"model": "net", "layer": "index.html", "filters": [0], "settings": ["quick"]},
             {"model": "net", "layer": "..", "filters": [1], "settings": ["quick"]}]))},
         args=("build", "atlas.yaml", "--out", "site"), code=0, says="rendered 2"),
    # --- commands on a built site --------------------------------------------------------------
    Case("figure-dpi", args=("figure", "net", "conv", "--dpi", "200000"), says="--dpi"),
    Case("figure-columns-zero", args=("figure", "net", "conv", "--columns", "0"), says="--columns"),
    Case("report-list-atlas", {"site/atlas.json": "[]"}, args=("report", "--site", "site"),
         says="not an atlas.json that gallery wrote"),
    Case("report-broken-atlas", {"site/atlas.json": '{"models": [{"id": 3}], "items": [], "views": []}'},
         args=("report", "--site", "site"), says="not an atlas.json that gallery wrote"),
    Case("report-escaping-path", {"site/atlas.json": (
        '{"title": "t", "generator": "g", "base_url": "", "views": [], "comparisons": [], "models": [{"id": "m", '
        '"description": "", "data_source": null, "test_accuracy": null, "params": 1, "page": "m/index.html", '
        '"layers": [{"name": "c", "type": "Conv2D", "output_shape": "(None, 1)", "params": 1, "units": 1}]}], '
        '"items": [{"model": "m", "layer": "c", "setting": "s", "filter": 0, "objective": "channel", "caption": "0", '
        '"image": "../secret.png", "thumbnail": "../secret.png", "ratio": null, "status": "converged", '
        '"parameters": {}}]}'), "secret.png": png_bytes()}, args=("report", "--site", "site"),
         says="outside the site folder"),
    Case("report-no-site", args=("report", "--site", "nowhere"), says="run `gallery build` first"),
    Case("publish-option-remote", {"site/.gallery-site": "", "site/index.html": "x"},
         args=("publish", "--site", "site", "--remote", "--upload-pack=touch pwned"), says="--remote"),
    Case("publish-star-branch", {"site/.gallery-site": "", "site/index.html": "x"},
         args=("publish", "--site", "site", "--branch", "*"), says="--branch"),
    Case("publish-project", {"docs/index.html": CANARY}, args=("publish", "--site", "docs"), says="not a site"),
    Case("serve-no-site", args=("serve", "--site", "nowhere", "--port", "0"), says="no index.html"),
    Case("unknown-command", args=("biuld", "atlas.yaml"), says="No such command"),
]


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return tiny_model(tmp_path_factory.mktemp("model") / "net.keras").read_bytes()


def test_the_corpus_is_large() -> None:
    assert len(CASES) >= 80 and len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_input_is_one_line_per_problem_and_loses_nothing(case: Case, model_bytes: bytes, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "net.keras").write_bytes(model_bytes)
    (folder / "atlas.yaml").write_text(VALID)
    (folder / "canary.txt").write_text(CANARY)
    if case.prepare is not None:
        case.prepare(folder)
    for name, content in case.files.items():
        path = folder / name
        for above in [path, *path.parents]:
            if above != folder and (above.is_file() or above.is_symlink()):
                above.unlink()  # a file where the case wants a folder (or another file)
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            continue
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    before = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file() and not p.is_symlink()}
    monkeypatch.chdir(folder)
    result = CliRunner().invoke(main, list(case.args), catch_exceptions=False)
    lines = [line for line in result.output.splitlines() if line.strip()]
    if case.code:  # one line per problem, each on its own: a config with two problems has two lines
        assert lines and all(line.startswith("error: ") for line in lines), result.output
    assert result.exit_code == case.code, result.output
    assert any(case.says in line for line in lines), result.output
    assert "Traceback" not in result.output
    after = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file() and not p.is_symlink()}
    assert {name: after.get(name) for name in before} == before  # nothing the user had is changed or gone
    assert not (folder / "ran.txt").exists() and not (folder / "pwned").exists()


def test_a_network_with_nan_weights_renders_failed_pictures_and_strict_json(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """NaN weights: every picture is `failed` (flagged, never converged), no page prints "nan", and
    atlas.json parses with a parser that rejects NaN; a map without numbers has no verdict, and a
    rebuild from the cache (where NaN is stored as null) writes the same site."""
    import json

    path = tiny_model(tmp_path / "net.keras")
    network = keras.models.load_model(path)
    network.set_weights([np.full_like(w, np.nan) for w in network.get_weights()])
    network.save(path)
    (tmp_path / "photos").mkdir()
    for name in ("a", "b"):
        Image.new("RGB", (16, 16), (200, 30, 90)).save(tmp_path / "photos" / f"{name}.png")
    (tmp_path / "atlas.yaml").write_text(yaml_text(with_image("sample:coffee") | {
        "images": {"pic": "sample:coffee", "photos": {"dir": "photos"}},
        "attribution": [{"model": "net", "images": ["pic", "photos"], "methods": ["gradcam", "saliency"]}]}))
    monkeypatch.chdir(tmp_path)
    for _ in range(2):  # the second build reads every view back from the cache
        result = CliRunner().invoke(main, ["build", "atlas.yaml", "--site", "site"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert "2 flagged" in [line for line in result.output.splitlines() if line.strip()][-1]
        summary = (tmp_path / "site" / "net" / "attribution" / "photos" / "index.html").read_text()
        assert "0 of 0" in summary and "of 2" not in summary  # no numbers: not counted as beating random

    def no_constants(name: str) -> None:
        raise ValueError(f"not JSON: {name}")

    atlas = json.loads((tmp_path / "site" / "atlas.json").read_text(), parse_constant=no_constants)
    assert {item["status"] for item in atlas["items"]} == {"failed"}
    assert all(item["activation"] is None and item["flags"] == ["failed"] for item in atlas["items"])
    for page in (tmp_path / "site").rglob("*.html"):
        assert not re.search(r"(?<![A-Za-z])(nan|inf)(?![A-Za-z])", page.read_text()), page  # "NaN" is prose
