"""`gallery init`: a commented starter config from a model's real layers.

The first config is the hardest to write: which layers, how many filters, which recipe. This picks
what an atlas of any CNN shows first: a few filters of the last conv layer of each stage (a stage
ends where the spatial size shrinks), the output units, a photo's feature maps and attribution, and
the recipe that gives readable pictures for the input (Lucid's for RGB inputs of 96 px and more,
keras-vis's otherwise).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import yaml

from gallery import config, models
from gallery.architecture import LayerInfo, ModelInfo
from gallery.errors import GalleryError
from gallery.models.builtins import BUILTINS
from gallery.models.sources import APPLICATIONS

CONV_TYPES = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D")
STAGES = 4  # conv layers drawn at most, one per stage
FILTERS = 6  # random filters drawn per conv layer
OUTPUT_UNITS = 10  # output layers with more units get this many random ones
LUCID_FROM_PX = 96


def _spec(target: str, folder: Path) -> dict[str, object]:
    """The model entry for a builtin's name, a model file or a keras.applications name."""
    if target in BUILTINS:
        spec: dict[str, object] = {"id": target.split("_")[0], "source": "builtin", "builtin": target}
        if target == "catsdogs_cnn":
            spec["data"] = {"dir": "$CATSDOGS_DIR"}
        return spec
    path = Path(target)
    if path.suffix.lower() in (".keras", ".h5", ".hdf5"):
        stem = "".join(c if c.isalnum() or c in "_-" else "_" for c in path.stem)[:60].strip("_-") or "model"
        return {"id": stem, "source": "file", "path": os.path.relpath(path.resolve(), folder.resolve())}
    if target in APPLICATIONS:
        return {"id": target.lower(), "source": "keras_applications", "name": target, "weights": "imagenet"}
    raise GalleryError(f"{target}: not a builtin ({', '.join(BUILTINS)}), a .keras or .h5 file, or a "
                       f"keras.applications model (e.g. VGG16, ResNet50, MobileNetV2)")


def scalar(text: str) -> str:
    """`text` as a YAML value: as it is where YAML reads it back as that string, else quoted (a layer
    named true, 123 or null, a name with ": " or " #" in it)."""
    try:
        bare = yaml.safe_load(f"key: {text}  # comment") == {"key": text}
    except yaml.YAMLError:
        bare = False
    return text if bare else json.dumps(text, ensure_ascii=not text.isprintable())  # \x7f, \x85: escaped


def stage_ends(info: ModelInfo) -> list[LayerInfo]:
    """The last conv layer before each shrink of the spatial size, input to output (at most STAGES,
    spread over the network)."""
    convs = [layer for layer in info.layers if layer.type in CONV_TYPES and layer.rank == 4 and layer.units]
    ends = [layer for layer, after in zip(convs, [*convs[1:], None])
            if after is None or after.output_shape[1:3] != layer.output_shape[1:3]]
    if len(ends) > STAGES:
        ends = [ends[round(i)] for i in np.linspace(0, len(ends) - 1, STAGES)]
    return ends


def starter(target: str, out: Path) -> str:
    """The text of a starter config for `target`, to be written at `out`; it validates as it is."""
    spec = _spec(target, out.parent)
    loaded = config.LoadedConfig(out, config.Config.model_validate({"models": [spec]}), {})
    info = models.architecture(loaded.config.models[0], loaded)
    height, width, channels = info.input_shape
    lucid = channels == 3 and min(height, width) >= LUCID_FROM_PX
    setting = "lucid" if lucid else "default"
    model_id = str(spec["id"])
    lines = [
        f"# A starter atlas of {target}, written by `gallery init` from the model's layers.",
        "# Check it: gallery validate THIS_FILE; build it: gallery build THIS_FILE (then open site/index.html).",
        "# Every key: gallery schema, or the README's config reference.",
        "site:",
        f"  title: {model_id} atlas",
        "",
        "models:",
        f"  - id: {model_id}",
        f"    source: {spec['source']}",
    ]
    for key in ("builtin", "path", "name"):
        if key in spec:
            lines.append(f"    {key}: {scalar(str(spec[key]))}")
    if spec["source"] == "keras_applications":
        lines.append("    weights: imagenet       # downloaded once; null: random weights, offline")
    if "data" in spec:
        lines.append("    data: {dir: $CATSDOGS_DIR}  # train/ validation/ test/ with cats/ dogs/")
    if spec["source"] != "builtin":
        lines += ["    # labels: [cat, dog]     # a name per output unit (a single unit: its opposite class, then",
                  "                             #   its own), or a file with one per line",
                  "    # data: {dir: images}    # reference images: dataset examples and activation ratios",
                  "    # preprocess: {mode: torch}   # how pixels 0-255 become the input, if not [0, 1]"]
    lines += ["", "settings:"]
    if lucid:
        lines += ["  lucid:", "    preset: lucid        # Fourier/decorrelated, Adam, random pad/jitter/scale/rotate",
                  "    note: Lucid's recipe"]
    else:
        lines += ["  # `default` is keras-vis's recipe; add your own settings here, e.g.",
                  "  clear: {tv_weight: 100, lp_norm_weight: 5, lp_p: 1, jitter: 2, note: \"strong TV, L1, jitter\"}"]
    lines += ["", "activation_max:"]
    for layer in stage_ends(info):
        lines += [f"  - model: {model_id}",
                  f"    layer: {scalar(layer.name)}        # {layer.type}, {layer.shape_text}",
                  f"    filters: {{random: {min(FILTERS, layer.units or FILTERS)}}}", f"    settings: [{setting}]"]
    output = info.output
    if output.units:
        filters = "all" if output.units <= OUTPUT_UNITS else f"{{random: {OUTPUT_UNITS}}}"
        units = f"{output.units} unit{'s' * (output.units != 1)}"
        lines += [f"  - model: {model_id}", f"    layer: {scalar(output.name)}        # the output, {units}",
                  f"    filters: {filters}", f"    settings: [{setting}]"]
    if info.attribution_layer is not None and channels in (1, 3):
        sample = "sample:chelsea" if channels == 3 else "sample:camera"
        lines += ["", "images:", f"  photo: {sample}            # or a path, relative to this file", "",
                  "feature_maps:", f"  - model: {model_id}", "    images: [photo]", "",
                  "attribution:", f"  - model: {model_id}", "    images: [photo]", "    classes: {top: 3}"]
    return "\n".join(lines) + "\n"
